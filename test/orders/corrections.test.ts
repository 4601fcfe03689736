import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build, openDatabase, type TestApp } from '../helpers/build.js'
import { createOrder, order, withCustomer } from '../helpers/orders.js'

const WEIGHT_MESSAGE =
  'must be a weight in kilograms greater than 0 and below 1000000, with at most 3 decimal places, e.g. 1.234'

async function notifications(app: TestApp, id: number): Promise<string[]> {
  const res = await app.inject({ url: `/api/orders/${id}/notifications/` })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().results.map((n: { event: string }) => n.event)
}

test('a PENDING order is corrected by PUT and PATCH, without an SMS', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const created = await createOrder(app, { ...order, origin_country_id: 'KE', weight: '1.5' })
  const put = await app.inject({
    method: 'PUT',
    url: `/api/orders/${created.id}/`,
    payload: { customer_code: 'CUST001', item: 'Laptop 15"', amount: 1300, destination_country_id: 'UG' },
  })
  assert.equal(put.statusCode, 200, put.body)
  const replaced = put.json()
  assert.deepEqual(
    [
      replaced.item,
      replaced.amount,
      replaced.origin_country_id,
      replaced.destination_country_id,
      replaced.weight,
    ],
    ['Laptop 15"', '1300.00', null, 'UG', null], // PUT clears a lane or weight left out
  )
  assert.equal(replaced.tracking_number, created.tracking_number)
  assert.equal(replaced.status, 'PENDING')

  const patch = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${created.id}/`,
    payload: { weight: 2 },
  })
  assert.equal(patch.statusCode, 200, patch.body)
  assert.deepEqual(
    [patch.json().item, patch.json().weight, patch.json().destination_country_id],
    ['Laptop 15"', '2.000', 'UG'],
  )
  // The search index follows the item.
  const found = await app.inject({ url: '/api/orders/search?q=15"' })
  assert.equal(found.json().count, 1, found.body)
  assert.deepEqual(await notifications(app, created.id), ['created'])
})

test('past PENDING a correction is a 409 in the envelope; status and corrections do not mix', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const { id } = await createOrder(app)
  const mixed = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${id}/`,
    payload: { status: 'CONFIRMED', item: 'Phone' },
  })
  assert.equal(mixed.statusCode, 400, mixed.body)
  assert.ok(mixed.json().details.status)
  const otherCustomer = await app.inject({
    method: 'PUT',
    url: `/api/orders/${id}/`,
    payload: { ...order, customer_code: 'CUST999' },
  })
  assert.equal(otherCustomer.statusCode, 400, otherCustomer.body)
  assert.ok(otherCustomer.json().details.customer_code)

  const confirmed = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${id}/`,
    payload: { status: 'CONFIRMED' },
  })
  assert.equal(confirmed.statusCode, 200, confirmed.body)
  for (const [method, payload] of [
    ['PUT', order],
    ['PATCH', { amount: '1.00' }],
  ] as const) {
    const res = await app.inject({ method, url: `/api/orders/${id}/`, payload })
    assert.equal(res.statusCode, 409, `${method}: ${res.body}`)
    assert.equal(res.json().code, 'conflict')
    assert.deepEqual(res.json().details, { status: ['is CONFIRMED: only a PENDING order can be corrected'] })
  }
  const unchanged = await app.inject({ url: `/api/orders/${id}/` })
  assert.equal(unchanged.json().amount, '1250.50')
  assert.deepEqual(await notifications(app, id), ['created', 'CONFIRMED'])

  const deleted = await app.inject({ method: 'DELETE', url: `/api/orders/${id}/` })
  assert.equal(deleted.statusCode, 405, deleted.body)
  assert.equal(deleted.headers.allow, 'GET, HEAD, PUT, PATCH')
})

test('with route-format numbers the lane cannot be corrected', async (t) => {
  const app = await build(t, { TRACKING_FORMAT: 'route' }, { as: 'operator' })
  await withCustomer(app)
  const lane = { origin_country_id: 'KE', destination_country_id: 'UG' }
  const { id } = await createOrder(app, { ...order, ...lane })
  const moved = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${id}/`,
    payload: { origin_country_id: 'TZ' },
  })
  assert.equal(moved.statusCode, 400, moved.body)
  assert.match(moved.json().details.origin_country_id[0], /carries the route/)
  const same = await app.inject({
    method: 'PUT',
    url: `/api/orders/${id}/`,
    payload: { ...order, ...lane, item: 'Desk' },
  })
  assert.equal(same.statusCode, 200, same.body)
})

test('an order reply sent back is a correction: null clears a lane or weight', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const created = await createOrder(app) // no lane, no weight: the reply shows them as null
  assert.equal(created.weight, null)
  const put = await app.inject({ method: 'PUT', url: `/api/orders/${created.id}/`, payload: created })
  assert.equal(put.statusCode, 200, put.body)
  assert.equal(put.json().item, created.item)

  const set = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${created.id}/`,
    payload: { origin_country_id: 'KE', destination_country_id: 'UG', weight: '1.5' },
  })
  assert.equal(set.statusCode, 200, set.body)
  const cleared = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${created.id}/`,
    payload: { origin_country_id: null, destination_country_id: null, weight: null },
  })
  assert.equal(cleared.statusCode, 200, cleared.body)
  const { origin_country_id, destination_country_id, weight } = cleared.json()
  assert.deepEqual([origin_country_id, destination_country_id, weight], [null, null, null])
  // null is not an item or an amount, and a bad weight is still named.
  const bad = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${created.id}/`,
    payload: { item: null, weight: '0' },
  })
  assert.equal(bad.statusCode, 400, bad.body)
  assert.ok(bad.json().details.item, bad.body)
  assert.deepEqual(bad.json().details.weight, [`${WEIGHT_MESSAGE}, or null`], bad.body)
})

test('only correction fields count: a status with an unknown field is a status change, unknown fields alone a 400', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const { id, updated_at } = await createOrder(app)
  const nothing = await app.inject({ method: 'PATCH', url: `/api/orders/${id}/`, payload: { foo: 1 } })
  assert.equal(nothing.statusCode, 400, nothing.body)
  assert.match(nothing.json().details.body[0], /nothing to correct/)
  const unchanged = await app.inject({ url: `/api/orders/${id}/` })
  assert.equal(unchanged.json().updated_at, updated_at)

  const confirmed = await app.inject({
    method: 'PATCH',
    url: `/api/orders/${id}/`,
    payload: { status: 'CONFIRMED', note: 'x' },
  })
  assert.equal(confirmed.statusCode, 200, confirmed.body)
  assert.equal(confirmed.json().status, 'CONFIRMED')
  assert.deepEqual(await notifications(app, id), ['created', 'CONFIRMED'])
})

test('a static path beside :id answers 405 for a method it lacks, not a 400 on the id', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  for (const [method, url, allow] of [
    ['PUT', '/api/orders/search/', 'GET, HEAD'],
    ['PATCH', '/api/orders/search', 'GET, HEAD'],
    ['GET', '/tracking-numbers/batch', 'POST'],
  ] as const) {
    const res = await app.inject({ method, url, payload: method === 'GET' ? undefined : {} })
    assert.equal(res.statusCode, 405, `${method} ${url}: ${res.body}`)
    assert.equal(res.headers.allow, allow, `${method} ${url}`)
    assert.equal(res.json().code, 'method_not_allowed')
  }
  const found = await app.inject({ url: '/api/orders/search/?q=x' })
  assert.equal(found.statusCode, 200, found.body)
  // Without a token the methods of a path are not shown: a 401 first, as for any other path.
  const anonymous = await app.inject({
    method: 'PUT',
    url: '/api/orders/search/',
    payload: {},
    headers: { authorization: '' },
  })
  assert.equal(anonymous.statusCode, 401, anonymous.body)
})

test('a corrected item re-renders the queued "created" SMS, not one a worker already tried', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await withCustomer(app)
  const db = openDatabase(t, app.databaseUrl)
  const message = async (orderId: number) =>
    (
      await db
        .selectFrom('notifications')
        .select('message')
        .where('order_id', '=', orderId)
        .executeTakeFirstOrThrow()
    ).message
  const queued = await createOrder(app)
  const tried = await createOrder(app)
  await db.updateTable('notifications').set({ attempts: 1 }).where('order_id', '=', tried.id).execute()
  const before = await message(tried.id)
  for (const { id } of [queued, tried]) {
    const res = await app.inject({
      method: 'PATCH',
      url: `/api/orders/${id}/`,
      payload: { item: 'Desk lamp' },
    })
    assert.equal(res.statusCode, 200, res.body)
  }
  assert.equal(
    await message(queued.id),
    `Your order "Desk lamp" has been received (status PENDING). Tracking number: ${queued.tracking_number}`,
  )
  assert.equal(await message(tried.id), before, 'an attempted SMS may have reached the phone: left as it was')
})
