// The order lists and search with a million orders on SQLite: how long one page takes with each
// filter, and the search through the trigram index. Part of `npm run bench` (--only=orders).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { createDatabase } from '../src/db/index.js'
import { migrateToLatest } from '../src/db/migrate.js'
import type { OrderStatus } from '../src/db/schema.js'
import { createOrderRepository } from '../src/orders/repository.js'

const ORDERS = 1_000_000
const CUSTOMERS = 1_000
const ITEMS = ['Laptop', 'Phone', 'Solar lamp', 'Kettle', 'Bicycle', 'Textbooks', 'Maize flour', 'Water pump']
const STATUSES: OrderStatus[] = ['PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED']

function seed(path: string): void {
  const raw = new SQLite(path)
  const customer = raw.prepare(
    'insert into customers (name, code, phone_number, email, created_at, updated_at) values (?, ?, ?, null, ?, ?)',
  )
  const order = raw.prepare(
    `insert into orders (customer_id, item, amount_minor, origin_country, destination_country, weight_grams,
       tracking_sequence, tracking_number, status, order_time, updated_at)
     values (?, ?, ?, null, null, null, ?, ?, ?, ?, ?)`,
  )
  const start = Date.parse('2025-01-01T00:00:00Z')
  raw.transaction(() => {
    for (let c = 1; c <= CUSTOMERS; c++) {
      const at = '2025-01-01T00:00:00.000Z'
      customer.run(
        `Customer ${c}`,
        `CUST${String(c).padStart(4, '0')}`,
        `+2547220${String(c).padStart(5, '0')}`,
        at,
        at,
      )
    }
    for (let i = 1; i <= ORDERS; i++) {
      const at = new Date(start + i * 30_000).toISOString() // one order every 30 s, about a year
      order.run(
        1 + (i % CUSTOMERS),
        `${ITEMS[i % ITEMS.length]} #${i}`,
        100 + (i % 10_000),
        i,
        `TN${String(i).padStart(14, '0')}`,
        STATUSES[i % 5],
        at,
        at,
      )
    }
  })()
  raw.close()
}

export async function benchOrders(): Promise<Array<{ name: string; ms: number; count: number }>> {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-bench-orders-'))
  const path = join(dir, 'orders.db')
  const handle = createDatabase({
    target: { kind: 'sqlite', path },
    poolSize: 1,
    connectTimeoutMs: 1_000,
    queryTimeoutMs: 10_000,
  })
  try {
    await migrateToLatest(handle.db)
    seed(path)
    const orders = createOrderRepository(handle.db)
    const page = { page: 2, pageSize: 20, offset: 20 }
    const cases: Array<[string, () => Promise<{ count: number }>]> = [
      ['list, newest first', () => orders.list({}, page, '-order_time')],
      ['list, status=SHIPPED', () => orders.list({ status: 'SHIPPED' }, page, '-order_time')],
      [
        'list, one day',
        () =>
          orders.list(
            { from: '2025-06-01T00:00:00.000Z', until: '2025-06-01T23:59:59.999Z' },
            page,
            '-order_time',
          ),
      ],
      [
        'list, status and a month',
        () =>
          orders.list(
            { status: 'PENDING', from: '2025-03-01T00:00:00.000Z', until: '2025-03-31T23:59:59.999Z' },
            page,
            '-order_time',
          ),
      ],
      ['list, one customer', () => orders.list({ customerCode: 'CUST0042' }, page, '-order_time')],
      [
        'list, tracking_number',
        () => orders.list({ trackingNumber: 'TN00000000500000' }, page, '-order_time'),
      ],
      ['search, item substring "kettle #12345"', () => orders.search('kettle #12345', page, '-order_time')],
      ['search, customer name "customer 42"', () => orders.search('customer 42', page, '-order_time')],
    ]
    const results = []
    for (const [name, run] of cases) {
      await run()
      const times: number[] = []
      let count = 0
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        count = (await run()).count
        times.push(performance.now() - started)
      }
      times.sort((a, b) => a - b)
      results.push({ name, ms: times[2] as number, count })
    }
    return results
  } finally {
    await handle.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
