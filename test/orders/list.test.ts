import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { build, dialect, issueUrl, openDatabase, type TestApp } from '../helpers/build.js'
import { createOrder, order, withCustomer } from '../helpers/orders.js'

async function list(app: TestApp, query: string) {
  const res = await app.inject({ url: `/api/orders/?${query}` })
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

/** Three customers' orders on known days (order_time set directly, as if placed then). */
async function seed(t: TestContext, app: TestApp) {
  await withCustomer(app)
  await withCustomer(app, { name: 'Blue Crane Traders', code: 'CUST002', phone_number: '+256772000000' })
  const db = openDatabase(t, app.databaseUrl)
  const placed: Array<{ id: number; tracking_number: string }> = []
  const days = ['2026-11-01T08:00:00.000Z', '2026-11-02T23:59:59.999Z', '2026-11-03T00:00:00.000Z']
  for (const [i, day] of days.entries()) {
    const created = await createOrder(app, {
      ...order,
      customer_code: i === 2 ? 'CUST002' : 'CUST001',
      item: `Item ${i}`,
    })
    await db.updateTable('orders').set({ order_time: day }).where('id', '=', created.id).execute()
    placed.push(created)
  }
  return placed
}

test('date range is inclusive by day; status and customer filters; newest first', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const [a, b, c] = await seed(t, app)
  const ids = (page: { results: Array<{ id: number }> }) => page.results.map((o) => o.id)
  assert.deepEqual(ids(await list(app, '')), [c?.id, b?.id, a?.id])
  assert.deepEqual(
    ids(await list(app, 'start_date=2026-11-02&end_date=2026-11-02')),
    [b?.id],
    'the whole day, to its last ms',
  )
  assert.deepEqual(ids(await list(app, 'start_date=2026-11-02')), [c?.id, b?.id])
  assert.deepEqual(ids(await list(app, 'end_date=2026-11-01')), [a?.id])
  assert.deepEqual(ids(await list(app, 'customer_code=CUST002')), [c?.id])
  await app.inject({ method: 'PATCH', url: `/api/orders/${a?.id}/`, payload: { status: 'CONFIRMED' } })
  assert.deepEqual(ids(await list(app, 'status=CONFIRMED')), [a?.id])
  assert.deepEqual(ids(await list(app, `tracking_number=${b?.tracking_number.toLowerCase()}`)), [b?.id])
  assert.equal((await list(app, 'tracking_number=NOPE')).count, 0)
  assert.equal((await list(app, 'end_date=9999-12-31')).count, 3, 'the last representable day')
  assert.equal((await list(app, 'start_date=0001-01-01&end_date=2026-11-02')).count, 2)
})

test('a bad date or filter is a 400 that shows the expected format', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  for (const query of ['start_date=22-11-2026', 'end_date=2026-02-30', 'start_date=2026-11-22T00:00:00Z']) {
    const res = await app.inject({ url: `/api/orders/?${query}` })
    assert.equal(res.statusCode, 400, query)
    const [field] = query.split('=')
    assert.deepEqual(res.json().details, {
      [field as string]: ['must be a date in the format YYYY-MM-DD, e.g. 2026-11-22'],
    })
  }
  const reversed = await app.inject({ url: '/api/orders/?start_date=2026-11-05&end_date=2026-11-01' })
  assert.equal(reversed.statusCode, 400)
  assert.deepEqual(Object.keys(reversed.json().details), ['end_date'])
  assert.equal((await app.inject({ url: '/api/orders/?status=LOST' })).statusCode, 400)
  assert.equal((await app.inject({ url: '/api/orders/?page=0' })).statusCode, 400)
})

test('pagination: count, next and previous keep the filters', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  for (let i = 0; i < 5; i++) await createOrder(app)
  const first = await list(app, 'status=PENDING&page_size=2')
  assert.equal(first.count, 5)
  assert.equal(first.results.length, 2)
  assert.equal(first.previous, null)
  assert.match(first.next, /status=PENDING/)
  assert.match(first.next, /page=2/)
  const last = (await app.inject({ url: '/api/orders/?status=PENDING&page_size=2&page=3' })).json()
  assert.equal(last.results.length, 1)
  assert.equal(last.next, null)
  const all = new Set([...first.results, ...last.results].map((o: { id: number }) => o.id))
  assert.equal(all.size, 3)
})

test('search: item, customer name and code, tracking number; wildcards taken literally', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const [a, , c] = await seed(t, app)
  const search = async (q: string) =>
    (
      (await app.inject({ url: `/api/orders/search/?q=${encodeURIComponent(q)}` })).json().results as Array<{
        id: number
      }>
    )
      .map((o) => o.id)
      .sort((x, y) => x - y)
  assert.deepEqual(await search('item 0'), [a?.id])
  assert.deepEqual(await search('crane'), [c?.id])
  assert.deepEqual(await search('cust002'), [c?.id])
  assert.deepEqual(await search(a?.tracking_number.toLowerCase() as string), [a?.id])
  assert.deepEqual(await search('%'), [])
  assert.deepEqual(await search('_tem'), [])
  const blank = await app.inject({ url: '/api/orders/search/?q=%20%20' })
  assert.equal(blank.statusCode, 400)
  assert.deepEqual(blank.json().details, { q: ['must not be blank'] })
  const missing = await app.inject({ url: '/api/orders/search/' })
  assert.equal(missing.statusCode, 400)
  assert.deepEqual(Object.keys(missing.json().details), ['q'])
})

test('order numbers and API numbers come from one sequence: never equal', async (t) => {
  const app = await build(t, { TRACKING_BLOCK_MIN: '5', TRACKING_BLOCK_MAX: '5' }, { as: 'operator' })
  await withCustomer(app)
  const results = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      i % 2 === 0
        ? app.inject({ method: 'POST', url: '/api/orders/', payload: order })
        : app.inject({ url: issueUrl() }),
    ),
  )
  const numbers = results.map((r) => r.json().tracking_number as string)
  assert.ok(results.every((r) => r.statusCode < 300))
  assert.equal(new Set(numbers).size, numbers.length)
})

test('the filters use indexes (query plan)', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const db = openDatabase(t, app.databaseUrl)
  const { sql } = await import('kysely')
  const queries: Record<string, string> = {
    orders_order_time: `select id from orders where order_time >= '2026-01-01' order by order_time desc, id desc limit 20`,
    orders_status_order_time: `select id from orders where status = 'PENDING' and order_time >= '2026-01-01' order by order_time desc, id desc limit 20`,
    orders_customer_order_time: `select id from orders where customer_id = 1 order by order_time desc, id desc limit 20`,
    orders_tracking_number_key: `select id from orders where tracking_number = 'ABC'`,
  }
  for (const [index, query] of Object.entries(queries)) {
    let plan: string
    if (dialect === 'sqlite') {
      const { rows } = await sql.raw<{ detail: string }>(`explain query plan ${query}`).execute(db)
      plan = rows.map((r) => r.detail).join('\n')
      const expected =
        index === 'orders_tracking_number_key'
          ? /USING (COVERING )?INDEX sqlite_autoindex_orders_\d/
          : new RegExp(`USING (COVERING )?INDEX ${index}`)
      assert.match(plan, expected, `${query}\n${plan}`)
    } else {
      // An empty table is cheapest to scan: forbid that, so the plan shows whether an index applies.
      plan = await db.transaction().execute(async (trx) => {
        await sql`set local enable_seqscan = off`.execute(trx)
        const { rows } = await sql.raw<{ 'QUERY PLAN': string }>(`explain ${query}`).execute(trx)
        return rows.map((r) => r['QUERY PLAN']).join('\n')
      })
      assert.match(plan, /Index (Only )?Scan/, `${query}\n${plan}`)
      assert.doesNotMatch(plan, /Sort\b/, `no sort step: the index gives the order\n${plan}`)
    }
  }
})
