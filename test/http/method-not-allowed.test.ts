import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build } from '../helpers/build.js'
import { createOrder, withCustomer } from '../helpers/orders.js'

test('a method a path does not have is a 405 listing the ones it has, in the envelope', async (t) => {
  const app = await build(t, {}, { as: 'admin' })
  await withCustomer(app)
  const { id } = await createOrder(app)
  const cases: Array<[string, string, string]> = [
    ['DELETE', `/api/orders/${id}/`, 'GET, HEAD, PUT, PATCH'],
    ['DELETE', `/api/orders/${id}`, 'GET, HEAD, PUT, PATCH'],
    ['DELETE', '/next-tracking-number', 'GET'], // no HEAD: it would issue a number nobody receives
    ['PUT', '/next-tracking-number?x=1', 'GET'],
    ['GET', '/tracking/generate/', 'POST'],
    ['DELETE', '/api/orders/', 'GET, HEAD, POST'],
    ['POST', '/health', 'GET, HEAD'],
    // A static path's own methods, not those of the parameter route it also matches (/:id).
    ['POST', '/api/orders/search/', 'GET, HEAD'],
    ['PUT', '/api/orders/search/', 'GET, HEAD'],
  ]
  for (const [method, url, allow] of cases) {
    const res = await app.inject({ method: method as 'GET', url })
    assert.equal(res.statusCode, 405, `${method} ${url}: ${res.body}`)
    assert.equal(res.headers.allow, allow, `${method} ${url}`)
    const body = res.json()
    assert.equal(body.code, 'method_not_allowed')
    assert.deepEqual(body.details, {})
    assert.equal(body.correlation_id, res.headers['x-request-id'])
    assert.match(body.error, new RegExp(`${method} is not allowed`))
  }
  // A path no route has is still a 404; so is a parameter the route's pattern cannot hold, and a
  // file the docs' static route does not have, by the methods that route takes.
  for (const [method, url] of [
    ['DELETE', '/api/nothing-here'],
    ['DELETE', '/api/orders/1/nothing'],
    ['GET', '/docs/static/nope.js'],
    ['HEAD', '/docs/static/nope.js'],
  ] as const) {
    const res = await app.inject({ method, url })
    assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`)
    assert.equal(res.headers.allow, undefined)
  }
})

test('without a token, a wrong method reveals nothing: 401 as any unknown URL', async (t) => {
  const app = await build(t, {}, { as: null })
  const res = await app.inject({ method: 'DELETE', url: '/next-tracking-number' })
  assert.equal(res.statusCode, 401, res.body)
  assert.equal(res.headers.allow, undefined)
})
