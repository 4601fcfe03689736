import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build, issueUrl, validIssue } from '../helpers/build.js'
import { createOrder, order, withCustomer } from '../helpers/orders.js'

// Query keys are the client's: whatever they are named, a 4xx in the envelope naming them.

test('a query key named like an Object.prototype member is a 400 naming it, never a 500', async (t) => {
  const app = await build(t, {}, { as: 'admin' })
  for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    for (const url of [
      `/next-tracking-number?${name}=%FF`,
      `/api/orders/?${name}=%FF`,
      `/api/customers/?${name}=1`,
    ]) {
      const res = await app.inject({ url })
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`)
      const body = res.json()
      assert.equal(body.code, 'validation_failed', url)
      assert.ok(Array.isArray(body.details[name]), `${url}: ${res.body}`)
      assert.doesNotMatch(res.body, /is not a function/)
    }
  }
})

test('lists and searches refuse a parameter they do not know, naming it', async (t) => {
  const app = await build(t, {}, { as: 'admin' })
  for (const url of [
    '/api/orders/?custmer_code=CUST001',
    '/api/orders/search?q=laptop&sort=item',
    '/api/customers/?name=Acme',
    '/api/users/?role=admin',
    '/api/orders/1/notifications?status=failed',
  ]) {
    const res = await app.inject({ url })
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`)
    const name = [...new URL(url, 'http://x').searchParams.keys()].at(-1) as string
    assert.match(res.json().details[name]?.[0] ?? '', /is not a known parameter: this route takes/, url)
  }
  // The issuing route still takes extra parameters (cache busters, carriers' own fields).
  const issued = await app.inject({ url: `${issueUrl()}&_=1733500000` })
  assert.equal(issued.statusCode, 200, issued.body)
})

test('customer_id filters orders by the customer, and is validated', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const acme = await withCustomer(app)
  const crane = await withCustomer(app, {
    name: 'Blue Crane',
    code: 'CUST002',
    phone_number: '+256772000000',
  })
  const mine = await createOrder(app)
  await createOrder(app, { ...order, customer_code: 'CUST002' })
  const res = await app.inject({ url: `/api/orders/?customer_id=${acme.id}` })
  assert.equal(res.statusCode, 200, res.body)
  assert.deepEqual(
    res.json().results.map((o: { id: number }) => o.id),
    [mine.id],
  )
  const other = await app.inject({ url: `/api/orders/?customer_id=${crane.id}&customer_code=CUST001` })
  assert.equal(other.json().count, 0)
  for (const bad of ['0', 'abc', '1.5']) {
    const refused = await app.inject({ url: `/api/orders/?customer_id=${bad}` })
    assert.equal(refused.statusCode, 400, bad)
    assert.ok(refused.json().details.customer_id, refused.body)
  }
})

test('an unencoded + in created_at is still a 400, which says to send %2B', async (t) => {
  const app = await build(t)
  const url = `/next-tracking-number?${new URLSearchParams({ ...validIssue, created_at: 'X' })}`.replace(
    'created_at=X',
    'created_at=2018-11-20T19:29:32+08:00',
  )
  const res = await app.inject({ url })
  assert.equal(res.statusCode, 400, res.body)
  assert.match(res.json().details.created_at[0], /%2B/)
  const encoded = await app.inject({ url: url.replace('+08:00', '%2B08:00') })
  assert.equal(encoded.statusCode, 200, encoded.body)
})
