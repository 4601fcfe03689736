import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkTrackingNumber } from '../../src/tracking/codec.js'
import { bearer, build, openDatabase, type TestApp, tokenFor, validIssue } from '../helpers/build.js'
import { createOrder, order, withCustomer } from '../helpers/orders.js'

async function setStatus(app: TestApp, id: number, status: string) {
  return app.inject({ method: 'PATCH', url: `/api/orders/${id}/`, payload: { status } })
}

test('an order gets a tracking number and a pending SMS, committed with it', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const created = await createOrder(app, {
    ...order,
    origin_country_id: 'KE',
    destination_country_id: 'UG',
    weight: 2.5,
  })
  assert.deepEqual(Object.keys(created).sort(), [
    'amount',
    'customer_code',
    'customer_name',
    'destination_country_id',
    'id',
    'item',
    'order_time',
    'origin_country_id',
    'status',
    'tracking_number',
    'updated_at',
    'weight',
  ])
  assert.equal(created.status, 'PENDING')
  assert.equal(created.amount, '1250.50')
  assert.equal(created.weight, '2.500')
  assert.equal(created.customer_name, 'Acme Freight')
  assert.ok(checkTrackingNumber(created.tracking_number).ok, created.tracking_number)
  assert.deepEqual((await app.inject({ url: `/api/orders/${created.id}/` })).json(), created)

  const notifications = (await app.inject({ url: `/api/orders/${created.id}/notifications/` })).json().results
  assert.equal(notifications.length, 1)
  assert.equal(notifications[0].event, 'created')
  assert.equal(notifications[0].recipient, '+254722000000')
  assert.equal(notifications[0].status, 'pending', 'no gateway configured: it waits in the outbox')
  const [row] = await openDatabase(t, app.databaseUrl).selectFrom('notifications').select('message').execute()
  assert.match(row?.message ?? '', new RegExp(`Laptop.*${created.tracking_number}`))
})

test('amounts are exact: stored in minor units, returned as two-decimal strings', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  for (const [sent, shown] of [
    ['0.1', '0.10'],
    [0.2, '0.20'],
    ['999999999999.99', '999999999999.99'],
    [19.99, '19.99'],
    ['0', '0.00'],
  ] as const) {
    assert.equal((await createOrder(app, { ...order, amount: sent })).amount, shown, String(sent))
  }
  const [stored] = await openDatabase(t, app.databaseUrl)
    .selectFrom('orders')
    .select('amount_minor')
    .orderBy('id')
    .execute()
  assert.equal(Number(stored?.amount_minor), 10)
})

test('bad orders: every field named at once; an unknown customer code is a 400 on that field', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const invalid = async (payload: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/api/orders/', payload })
    assert.equal(res.statusCode, 400, res.body)
    return res.json().details as Record<string, string[]>
  }
  const all = await invalid({
    customer_code: 'cust 1',
    item: '',
    amount: '1.234',
    weight: '-1',
    origin_country_id: 'ZZ',
  })
  assert.deepEqual(Object.keys(all).sort(), [
    'amount',
    'customer_code',
    'item',
    'origin_country_id',
    'weight',
  ])
  assert.match(all.amount?.[0] ?? '', /at most 2 decimal places/)
  for (const amount of ['-1', 'abc', '1e3', '', 1.005, '01.5', true]) {
    assert.deepEqual(Object.keys(await invalid({ ...order, amount })), ['amount'], String(amount))
  }
  assert.deepEqual(Object.keys(await invalid({ item: 'x' })).sort(), ['amount', 'customer_code'])
  const unknown = await invalid({ ...order, customer_code: 'NOPE01' })
  assert.deepEqual(Object.keys(unknown), ['customer_code'])
  assert.equal((await openDatabase(t, app.databaseUrl).selectFrom('orders').selectAll().execute()).length, 0)
})

test('junk text and nulls are 400s naming the field; optional fields are left out, not null', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const invalid = async (payload: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/api/orders/', payload })
    assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`)
    return res.json().details as Record<string, string[]>
  }
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ item: '   ' }, 'item'],
    [{ item: '\u200b' }, 'item'],
    [{ item: ' Laptop' }, 'item'],
    [{ item: 'Laptop ' }, 'item'],
    [{ item: 'Laptop\u2028charger' }, 'item'],
    [{ item: 'Laptop\u2029' }, 'item'],
    [{ item: 'Laptop\u0085' }, 'item'],
    [{ item: 'Laptop \ud83d' }, 'item'],
    [{ customer_code: 'CUST001\n' }, 'customer_code'],
    [{ customer_code: 'CUST001 ' }, 'customer_code'],
    [{ origin_country_id: null }, 'origin_country_id'],
    [{ destination_country_id: null }, 'destination_country_id'],
    [{ weight: null }, 'weight'],
    [{ amount: null }, 'amount'],
    [{ origin_country_id: 'KE\n' }, 'origin_country_id'],
    [{ weight: '1.5\n' }, 'weight'],
    [{ amount: ' 12.00' }, 'amount'],
  ]
  for (const [fields, field] of cases) {
    assert.deepEqual(Object.keys(await invalid({ ...order, ...fields })), [field], JSON.stringify(fields))
  }
  assert.deepEqual(await invalid({ ...order, item: '  ' }), { item: ['must not be blank'] })
  // The documentation of the accepted forms (an anyOf) is not evaluated: one message, as before.
  assert.deepEqual(await invalid({ ...order, weight: true }), {
    weight: [
      'must be a weight in kilograms greater than 0 and below 1000000, with at most 3 decimal places, e.g. 1.234',
    ],
  })
  assert.equal((await openDatabase(t, app.databaseUrl).selectFrom('orders').selectAll().execute()).length, 0)

  const plain = await createOrder(app, { ...order, item: 'Laptop 💻 and charger' })
  assert.equal(plain.origin_country_id, null, 'left out: null in the reply')
  assert.equal(plain.weight, null)
})

test('status: only legal transitions, each with its SMS; an illegal one is a 409 naming the allowed', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const { id } = await createOrder(app)
  for (const status of ['CONFIRMED', 'SHIPPED']) {
    const res = await setStatus(app, id, status)
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().status, status)
  }
  const cancel = await setStatus(app, id, 'CANCELLED')
  assert.equal(cancel.statusCode, 409)
  assert.match(cancel.json().error, /from SHIPPED to CANCELLED.*allowed: DELIVERED/)
  assert.deepEqual(cancel.json().details, { status: ['must be one of DELIVERED'] })
  assert.equal((await setStatus(app, id, 'DELIVERED')).statusCode, 200)
  const after = await setStatus(app, id, 'PENDING')
  assert.equal(after.statusCode, 409)
  assert.match(after.json().error, /DELIVERED is final/)
  const events = (await app.inject({ url: `/api/orders/${id}/notifications/` })).json().results
  assert.deepEqual(
    events.map((n: { event: string }) => n.event),
    ['created', 'CONFIRMED', 'SHIPPED', 'DELIVERED'],
    'one SMS per event, none for the refused changes',
  )

  const second = await createOrder(app)
  assert.equal((await setStatus(app, second.id, 'CANCELLED')).statusCode, 200, 'cancel before shipping')
  assert.equal((await setStatus(app, second.id, 'NOPE')).statusCode, 400)
  assert.equal((await setStatus(app, 999_999, 'CONFIRMED')).statusCode, 404)
})

test('two concurrent status changes of one order: one wins, one SMS', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const { id } = await createOrder(app)
  const results = await Promise.all([1, 2, 3].map(() => setStatus(app, id, 'CONFIRMED')))
  assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409, 409])
  const events = (await app.inject({ url: `/api/orders/${id}/notifications/` })).json().results
  assert.equal(events.length, 2)
})

test('a customer with orders cannot be deleted', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const customer = await withCustomer(app)
  await createOrder(app)
  const res = await app.inject({ method: 'DELETE', url: `/api/customers/${customer.id}/` })
  assert.equal(res.statusCode, 409)
  assert.equal((await app.inject({ url: `/api/customers/${customer.id}/` })).statusCode, 200)
})

test('orders need an operator: 401 without a token, 403 for a client', async (t) => {
  const app = await build(t, {}, { as: null })
  assert.equal((await app.inject({ url: '/api/orders/' })).statusCode, 401)
  const client = await bearer('client')
  for (const request of [
    { url: '/api/orders/' },
    { url: '/api/orders/search/?q=x' },
    { url: '/api/orders/1/' },
    { url: '/api/orders/1/notifications/' },
    { method: 'POST' as const, url: '/api/orders/', payload: order },
    { method: 'PATCH' as const, url: '/api/orders/1/', payload: { status: 'CONFIRMED' } },
  ]) {
    assert.equal((await app.inject({ ...request, headers: client })).statusCode, 403, request.url)
  }
})

test('route format: an order without its lane is a 400 naming the missing countries', async (t) => {
  const app = await build(t, { TRACKING_FORMAT: 'route' }, { as: 'operator' })
  await withCustomer(app)
  const res = await app.inject({
    method: 'POST',
    url: '/api/orders/',
    payload: { ...order, origin_country_id: 'KE' },
  })
  assert.equal(res.statusCode, 400)
  assert.deepEqual(Object.keys(res.json().details), ['destination_country_id'])
  const ok = await createOrder(app, { ...order, origin_country_id: 'KE', destination_country_id: 'UG' })
  assert.match(ok.tracking_number, /^KEUG[A-Z0-9]{12}$/)
})

test("an order's tracking number can be looked up like any other: its order's progress", async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const created = await createOrder(app)
  await setStatus(app, created.id, 'CONFIRMED')
  const client = await bearer('client')
  const res = await app.inject({
    url: `/tracking-numbers/${created.tracking_number.toLowerCase()}`,
    headers: client,
  })
  assert.equal(res.statusCode, 200, res.body)
  const body = res.json()
  assert.equal(body.tracking_number, created.tracking_number)
  assert.equal(body.created_at, created.order_time)
  assert.equal(body.order.status, 'CONFIRMED')
  assert.equal(body.request_metadata, undefined)
})

test('Idempotency-Key on an order: a retry answers the first order, one order and one SMS; another request is a 409', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const db = openDatabase(t, app.databaseUrl)
  const counts = async () => ({
    orders: (await db.selectFrom('orders').select('id').execute()).length,
    sms: (await db.selectFrom('notifications').select('id').execute()).length,
  })
  const post = (payload: Record<string, unknown>, key: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/api/orders/',
      payload,
      headers: { 'idempotency-key': key, ...headers },
    })

  const first = await post({ ...order, amount: '10.00' }, 'order-1')
  assert.equal(first.statusCode, 201, first.body)
  // The same request, the amount written another way: the same order.
  const again = await post({ ...order, amount: 10 }, 'order-1')
  assert.equal(again.statusCode, 201, again.body)
  assert.deepEqual(again.json(), first.json())
  assert.deepEqual(await counts(), { orders: 1, sms: 1 })

  const other = await post({ ...order, amount: '11.00' }, 'order-1')
  assert.equal(other.statusCode, 409, other.body)
  assert.deepEqual(Object.keys(other.json().details), ['idempotency-key'])
  assert.deepEqual(await counts(), { orders: 1, sms: 1 })

  // Without a key, or with another, a new order.
  assert.equal((await post(order, 'order-2')).statusCode, 201)
  assert.equal((await app.inject({ method: 'POST', url: '/api/orders/', payload: order })).statusCode, 201)
  assert.deepEqual(await counts(), { orders: 3, sms: 3 })

  // Another operator's key of the same name is theirs.
  const another = { authorization: `Bearer ${await tokenFor('operator', 4_242)}` }
  const theirs = await post({ ...order, amount: '10.00' }, 'order-1', another)
  assert.equal(theirs.statusCode, 201)
  assert.notEqual(theirs.json().id, first.json().id)

  // A key used on an issuing route is another request here, and the other way round.
  const batch = (key: string) =>
    app.inject({
      method: 'POST',
      url: '/tracking-numbers/batch',
      payload: { ...validIssue, count: 2 },
      headers: { 'idempotency-key': key },
    })
  const issued = await batch('shared')
  assert.equal(issued.statusCode, 201, issued.body)
  assert.equal((await post(order, 'shared')).statusCode, 409)
  const reused = await batch('order-2')
  assert.equal(reused.statusCode, 409, reused.body)
  assert.deepEqual(await counts(), { orders: 4, sms: 4 })
})

test('Idempotency-Key on an order: concurrent retries make one order, each answered with it', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const replies = await Promise.all(
    Array.from({ length: 8 }, () =>
      app.inject({
        method: 'POST',
        url: '/api/orders/',
        payload: order,
        headers: { 'idempotency-key': 'burst' },
      }),
    ),
  )
  for (const reply of replies) assert.equal(reply.statusCode, 201, reply.body)
  assert.deepEqual(new Set(replies.map((reply) => reply.json().id)).size, 1, 'one order for all eight')
  const db = openDatabase(t, app.databaseUrl)
  assert.equal((await db.selectFrom('orders').select('id').execute()).length, 1)
  assert.equal((await db.selectFrom('notifications').select('id').execute()).length, 1)
})
