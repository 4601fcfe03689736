import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { CompiledQuery, type Kysely, type KyselyPlugin, sql } from 'kysely'
import type { Tables } from '../../src/db/index.js'
import { createOrderRepository, type OrderFilter } from '../../src/orders/repository.js'
import { DEFAULT_ORDER_ORDERING } from '../../src/orders/schemas.js'
import { checkCharacter } from '../../src/tracking/check-character.js'
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
  // Text that passes the tracking-number check by chance (a part number here) and is no order's
  // number is searched for as text.
  const partNumber = `ZZZZZZZZZZZZZZZ${checkCharacter('ZZZZZZZZZZZZZZZ')}`
  const part = await createOrder(app, { ...order, item: `Spare part ${partNumber}` })
  assert.deepEqual(await search(partNumber), [part.id])
  assert.deepEqual(await search(partNumber.toLowerCase()), [part.id])
  const blank = await app.inject({ url: '/api/orders/search/?q=%20%20' })
  assert.equal(blank.statusCode, 400)
  assert.deepEqual(blank.json().details, { q: ['must not be blank'] })
  const missing = await app.inject({ url: '/api/orders/search/' })
  assert.equal(missing.statusCode, 400)
  assert.deepEqual(Object.keys(missing.json().details), ['q'])
})

test('ordering: each field both ways; status in lifecycle order; text without regard to case', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app, { name: 'Zeta Freight', code: 'CUST001', phone_number: '+254722000000' })
  await withCustomer(app, { name: 'acme Air', code: 'CUST002', phone_number: '+256772000000' })
  const db = openDatabase(t, app.databaseUrl)
  const rows = [
    { customer_code: 'CUST001', item: 'banana', amount: '20.00', day: '2026-11-03', path: [] },
    {
      customer_code: 'CUST002',
      item: 'Cherry',
      amount: '5.50',
      day: '2026-11-01',
      path: ['CONFIRMED', 'SHIPPED'],
    },
    { customer_code: 'CUST001', item: 'apple', amount: '100', day: '2026-11-02', path: ['CANCELLED'] },
    {
      customer_code: 'CUST002',
      item: 'cherry',
      amount: '20',
      day: '2026-11-02',
      path: ['CONFIRMED', 'SHIPPED', 'DELIVERED'],
    },
  ]
  const placed: Array<{ id: number; tracking_number: string }> = []
  for (const { day, path, ...fields } of rows) {
    const created = await createOrder(app, fields)
    for (const status of path) {
      const res = await app.inject({
        method: 'PATCH',
        url: `/api/orders/${created.id}/`,
        payload: { status },
      })
      assert.equal(res.statusCode, 200, res.body)
    }
    const order_time = `${day}T12:00:00.000Z`
    await db.updateTable('orders').set({ order_time }).where('id', '=', created.id).execute()
    placed.push(created)
  }
  const [o1, o2, o3, o4] = placed.map((o) => o.id)
  const byNumber = [...placed]
    .sort((x, y) => (x.tracking_number < y.tracking_number ? -1 : 1))
    .map((o) => o.id)
  const expected: Record<string, unknown[]> = {
    order_time: [o2, o3, o4, o1], // o3 and o4 at the same instant: by id
    amount: [o2, o1, o4, o3], // as numbers: 5.50, 20.00, 20, 100
    status: [o1, o2, o4, o3], // PENDING, SHIPPED, DELIVERED, CANCELLED (not alphabetical)
    customer_code: [o1, o3, o2, o4],
    customer_name: [o2, o4, o1, o3], // acme before Zeta: case ignored
    item: [o3, o1, o2, o4], // apple, banana, Cherry, cherry
    tracking_number: byNumber,
  }
  const ids = async (url: string) => {
    const res = await app.inject({ url })
    assert.equal(res.statusCode, 200, res.body)
    return res.json().results.map((o: { id: number }) => o.id)
  }
  for (const [field, ascending] of Object.entries(expected)) {
    assert.deepEqual(await ids(`/api/orders/?ordering=${field}`), ascending, field)
    const descending = [...ascending].reverse()
    assert.deepEqual(await ids(`/api/orders/?ordering=-${field}`), descending, `-${field}: exactly reversed`)
    // Every order's customer code has "CUST": the search finds them all, in the same order.
    assert.deepEqual(
      await ids(`/api/orders/search/?q=cust&ordering=-${field}`),
      descending,
      `search -${field}`,
    )
  }
  assert.deepEqual(await ids('/api/orders/'), [o1, o4, o3, o2], 'newest first by default')
  assert.deepEqual(await ids('/api/orders/?customer_code=CUST002&ordering=amount'), [o2, o4], 'with a filter')
})

test('ordering: ties broken by id, so walking the pages yields every order exactly once', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  // Most orders share an amount, a status, an item, a customer and (set below) a time.
  const created = await Promise.all(
    Array.from({ length: 27 }, (_, i) =>
      createOrder(app, { ...order, amount: i % 9 === 0 ? `${i}.00` : '10.00' }),
    ),
  )
  const all = created.map((o: { id: number }) => o.id).sort((x, y) => x - y)
  const db = openDatabase(t, app.databaseUrl)
  await db.updateTable('orders').set({ order_time: '2026-11-22T10:00:00.000Z' }).execute()
  const orderings = ['amount', '-amount', 'order_time', '-order_time', 'status', 'item', '-customer_code']
  for (const ordering of orderings) {
    for (const start of [
      `/api/orders/?ordering=${ordering}&page_size=4`,
      `/api/orders/search/?q=laptop&ordering=${ordering}&page_size=4`,
    ]) {
      const seen: Array<{ id: number; amount: string }> = []
      let next: string | null = start
      while (next) {
        assert.match(next, new RegExp(`ordering=${ordering}(&|$)`), 'the link keeps the ordering')
        const page: { next: string | null; results: typeof seen } = (await app.inject({ url: next })).json()
        seen.push(...page.results)
        next = page.next
      }
      const ids = seen.map((o) => o.id)
      assert.equal(new Set(ids).size, ids.length, `${start}: no order on two pages`)
      assert.deepEqual(
        [...ids].sort((x, y) => x - y),
        all,
        `${start}: none skipped`,
      )
      if (ordering.endsWith('amount')) {
        const amounts = seen.map((o) => Number(o.amount) * (ordering.startsWith('-') ? -1 : 1))
        assert.deepEqual(
          amounts,
          [...amounts].sort((x, y) => x - y),
          `${start}: sorted by amount`,
        )
      }
    }
  }
})

test('ordering: a bad value is a 400 that lists the allowed values, on the list and the search', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const allowed = [
    'must be one of order_time, -order_time, amount, -amount, status, -status, customer_code, -customer_code, customer_name, -customer_name, item, -item, tracking_number, -tracking_number',
  ]
  for (const url of [
    '/api/orders/?ordering=amount_minor',
    '/api/orders/?ordering=id',
    '/api/orders/?ordering=Amount',
    '/api/orders/?status=PENDING&ordering=',
    '/api/orders/search/?q=a&ordering=weight',
  ]) {
    const res = await app.inject({ url })
    assert.equal(res.statusCode, 400, url)
    assert.deepEqual(res.json().details, { ordering: allowed }, url)
  }
  // Given twice, even with allowed values: that is what is wrong.
  for (const url of [
    '/api/orders/?ordering=amount&ordering=-amount',
    '/api/orders/?status=PENDING&status=PENDING',
  ]) {
    const res = await app.inject({ url })
    assert.equal(res.statusCode, 400, url)
    const field = url.includes('status') ? 'status' : 'ordering'
    assert.deepEqual(res.json().details, { [field]: ['must be given once, not 2 times'] }, url)
  }
  const doc = (await app.inject({ url: '/openapi.json' })).json()
  for (const path of ['/api/orders', '/api/orders/search']) {
    const parameter = doc.paths[path].get.parameters.find((p: { name: string }) => p.name === 'ordering')
    assert.equal(parameter.schema.default, '-order_time', path)
    assert.equal(parameter.schema.anyOf.length, 14, path)
  }
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

/**
 * The query plan of one statement: SQLite's `explain query plan`, PostgreSQL's `explain`, or
 * MySQL's `explain` as one line per table: `table type key extra`.
 */
async function planOf(
  db: Kysely<Tables>,
  query: string,
  parameters: readonly unknown[] = [],
): Promise<string> {
  if (dialect === 'sqlite') {
    const { rows } = await db.executeQuery<{ detail: string }>(
      CompiledQuery.raw(`explain query plan ${query}`, [...parameters]),
    )
    return rows.map((r) => r.detail).join('\n')
  }
  if (dialect === 'mysql') {
    const { rows } = await db.executeQuery<Record<string, unknown>>(
      CompiledQuery.raw(`explain ${query}`, [...parameters]),
    )
    return rows.map((r) => `${r.table} ${r.type} ${r.key} ${r.Extra}`).join('\n')
  }
  // An empty table is cheapest to scan: forbid that, so the plan shows whether an index applies.
  return db.transaction().execute(async (trx) => {
    await sql`set local enable_seqscan = off`.execute(trx)
    const { rows } = await trx.executeQuery<{ 'QUERY PLAN': string }>(
      CompiledQuery.raw(`explain ${query}`, [...parameters]),
    )
    return rows.map((r) => r['QUERY PLAN']).join('\n')
  })
}

/** `count` orders of 300 customers, written directly (the HTTP path would take minutes). */
async function fillOrders(db: Kysely<Tables>, count: number): Promise<void> {
  const now = '2026-01-01T00:00:00.000Z'
  // Many customers, as in production: with one, joining from it and sorting is cheapest.
  await db
    .insertInto('customers')
    .values(
      Array.from({ length: 300 }, (_, i) => ({
        name: `Fill ${i}`,
        code: i === 0 ? 'CUST001' : `FILL${i}`,
        phone_number: `+2547229${String(i).padStart(5, '0')}`,
        email: null,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute()
  const ids = (await db.selectFrom('customers').select('id').execute()).map((r) => r.id)
  const statuses = ['PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED'] as const
  const rows = Array.from({ length: count }, (_, i) => ({
    customer_id: ids[i % ids.length] as number,
    item: `item ${i}`,
    amount_minor: i,
    origin_country: null,
    destination_country: null,
    weight_grams: null,
    tracking_sequence: 1_000_000 + i,
    tracking_number: `F${String(i).padStart(15, '0')}`,
    status: statuses[i % statuses.length] as (typeof statuses)[number],
    order_time: new Date(Date.parse(now) + i * 60_000).toISOString(),
    updated_at: now,
  }))
  await db.insertInto('orders').values(rows).execute()
  await sql`analyze table orders, customers`.execute(db)
}

test('the filters use indexes (query plan)', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const db = openDatabase(t, app.databaseUrl)
  const queries: Record<string, string> = {
    orders_order_time: `select id from orders where order_time >= '2026-01-01' order by order_time desc, id desc limit 20`,
    orders_status_order_time: `select id from orders where status = 'PENDING' and order_time >= '2026-01-01' order by order_time desc, id desc limit 20`,
    orders_customer_order_time: `select id from orders where customer_id = 1 order by order_time desc, id desc limit 20`,
    orders_tracking_number_key: `select id from orders where tracking_number = 'ABC'`,
  }
  for (const [index, query] of Object.entries(queries)) {
    const plan = await planOf(db, query)
    if (dialect === 'sqlite') {
      const expected =
        index === 'orders_tracking_number_key'
          ? /USING (COVERING )?INDEX sqlite_autoindex_orders_\d/
          : new RegExp(`USING (COVERING )?INDEX ${index}`)
      assert.match(plan, expected, `${query}\n${plan}`)
    } else if (dialect === 'mysql') {
      // A unique key's lookup on an empty table ends at planning (the key is read then).
      const expected =
        index === 'orders_tracking_number_key'
          ? /^orders const tracking_number |Impossible WHERE noticed after reading const tables/
          : new RegExp(`^orders \\w+ ${index} `)
      assert.match(plan, expected, `${query}\n${plan}`)
      assert.doesNotMatch(plan, /filesort/, `no sort step: the index gives the order\n${plan}`)
    } else {
      assert.match(plan, /Index (Only )?Scan/, `${query}\n${plan}`)
      assert.doesNotMatch(plan, /Sort\b/, `no sort step: the index gives the order\n${plan}`)
    }
  }
})

test('a search for part of an item goes through the trigram index, not a scan', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const db = openDatabase(t, app.databaseUrl)
  if (dialect === 'sqlite') {
    const plan = await planOf(db, `select rowid from orders_item_search where item like '%kettle%'`)
    assert.match(plan, /VIRTUAL TABLE INDEX 0:L/, plan) // L: the LIKE constraint is the index's
  } else if (dialect === 'mysql') {
    // No index serves a substring here: the search reads the narrow index on item whole, not the
    // table (docs/databases.md).
    const plan = await planOf(db, `select id from orders where lower(item) like lower('%kettle%')`)
    assert.match(plan, /^orders index orders_item .*Using index/, plan)
  } else {
    const plan = await planOf(db, `select id from orders where lower(item) like lower('%kettle%')`)
    assert.match(plan, /orders_item_trigrams/, plan)
  }
  // And the search finds what the index holds, inserted after the migration built it.
  await withCustomer(app)
  const created = await createOrder(app, { ...order, item: 'Stainless Kettle 2L' })
  const found = (await app.inject({ url: '/api/orders/search/?q=KETTLE' })).json()
  assert.deepEqual(
    found.results.map((o: { id: number }) => o.id),
    [created.id],
  )
})

test("the default ordering reads an index in order: the repository's own page queries", async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const db = openDatabase(t, app.databaseUrl)
  // MySQL's planner has no switch that forbids table scans, and scans and sorts an empty table:
  // give it the rows that make reading an index in order the cheaper plan, as in production.
  if (dialect === 'mysql') await fillOrders(db, 3_000)
  // The SQL the repository sends, as sent (with its parameters), to explain it.
  const sent: CompiledQuery[] = []
  const recorder: KyselyPlugin = {
    transformQuery: (args) => {
      sent.push(db.getExecutor().compileQuery(args.node, args.queryId))
      return args.node
    },
    transformResult: async (args) => args.result,
  }
  const repository = createOrderRepository(db.withPlugin(recorder))
  const request = { page: 1, pageSize: 20, offset: 0 }
  const cases: Array<[string, OrderFilter]> = [
    ['orders_order_time', {}],
    ['orders_order_time', { from: '2026-01-01T00:00:00.000Z' }],
    ['orders_status_order_time', { status: 'PENDING' }],
    ['orders_customer_order_time', { customerCode: 'CUST001' }],
  ]
  for (const [index, filter] of cases) {
    sent.length = 0
    await repository.list(filter, request, DEFAULT_ORDER_ORDERING)
    const query = sent.find((q) => /\blimit\b/.test(q.sql))
    assert.ok(query, 'the page query was sent')
    assert.match(
      query.sql,
      /order by [`"]orders[`"].[`"]order_time[`"] desc, [`"]orders[`"].[`"]id[`"] desc limit/,
    )
    const plan = await planOf(db, query.sql, query.parameters)
    if (dialect === 'sqlite') {
      assert.match(plan, new RegExp(`orders USING (COVERING )?INDEX ${index}`), `${query.sql}\n${plan}`)
      assert.doesNotMatch(plan, /TEMP B-TREE/, `no sort step: the index gives the order\n${plan}`)
    } else if (dialect === 'mysql') {
      assert.match(plan, new RegExp(`^orders \\w+ ${index} `, 'm'), `${query.sql}\n${plan}`)
      assert.doesNotMatch(plan, /filesort/, `no sort step: the index gives the order\n${plan}`)
    } else {
      assert.match(plan, new RegExp(`Index Scan Backward using ${index} on orders`), `${query.sql}\n${plan}`)
      assert.doesNotMatch(plan, /Sort\b/, `no sort step: the index gives the order\n${plan}`)
    }
  }
})
