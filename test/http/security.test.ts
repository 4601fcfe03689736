import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/http/rate-limit.js'
import { build, issueUrl, testEnv, tokenFor } from '../helpers/build.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

test('rate limit: per client, 429 with Retry-After and the envelope; other clients unaffected', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60' }, { as: null })
  const alice = { authorization: `Bearer ${await tokenFor('client', 501)}` }
  const bob = { authorization: `Bearer ${await tokenFor('client', 502)}` }
  const statuses = []
  for (let i = 0; i < 4; i++)
    statuses.push((await app.inject({ url: '/api/me/', headers: alice })).statusCode)
  assert.deepEqual(statuses, [200, 200, 200, 429])
  const limited = await app.inject({ url: '/api/me/', headers: alice })
  assert.equal(limited.json().code, 'rate_limited')
  assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60)
  assert.equal(limited.json().correlation_id, limited.headers['x-request-id'])
  assert.equal(
    (await app.inject({ url: '/api/me/', headers: bob })).statusCode,
    200,
    'bob has his own budget',
  )
})

test('rate limit: without a token the client is its address; probes are not limited', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '2' }, { as: null })
  const ip = (remoteAddress: string) => ({ url: '/openapi.json', remoteAddress })
  const a = [1, 2, 3].map(() => app.inject(ip('10.0.0.1')))
  assert.deepEqual((await Promise.all(a)).map((r) => r.statusCode).sort(), [200, 200, 429])
  assert.equal((await app.inject(ip('10.0.0.2'))).statusCode, 200)
  for (const url of ['/health', '/ready', '/metrics']) {
    const probes = await Promise.all([1, 2, 3].map(() => app.inject({ url, remoteAddress: '10.0.0.1' })))
    assert.deepEqual(
      probes.map((r) => r.statusCode),
      [200, 200, 200],
      url,
    )
  }
})

test('login attempts are limited harder, per address', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '3' }, { as: null })
  const attempt = () =>
    app.inject({ method: 'POST', url: '/api/token/', payload: { username: 'x', password: 'guess' } })
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await attempt()).statusCode)
  assert.deepEqual(statuses, [401, 401, 401, 429])
  // A valid token sent along does not open another budget for guesses from the same address.
  const withToken = await app.inject({
    method: 'POST',
    url: '/api/token/',
    payload: { username: 'x', password: 'guess' },
    headers: { authorization: `Bearer ${await tokenFor('client', 777)}` },
  })
  assert.equal(withToken.statusCode, 429, withToken.body)
  const elsewhere = await app.inject({
    method: 'POST',
    url: '/api/token/',
    payload: { username: 'x', password: 'guess' },
    remoteAddress: '10.0.0.9',
  })
  assert.equal(elsewhere.statusCode, 401, 'another address has its own budget')
  assert.equal(
    (await app.inject({ url: '/openapi.json' })).statusCode,
    200,
    'other routes keep their own limit',
  )
})

test('rate limit in Redis is shared by every instance', async (t) => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect() // a test machine without Redis fails here, loudly: CI starts it
  t.after(() => redis.quit())
  const env = { RATE_LIMIT_MAX: '4', REDIS_URL }
  const one = await build(t, env, { as: null })
  const two = await buildApp(loadConfig(testEnv(one.databaseUrl, env)))
  t.after(() => two.close())
  // A fresh subject per run: counts in Redis outlive the test for the window.
  const client = { authorization: `Bearer ${await tokenFor('client', randomInt(1e6, 1e9))}` }
  const statuses = []
  for (const app of [one, two, one, two, one])
    statuses.push((await app.inject({ url: '/api/me/', headers: client })).statusCode)
  assert.deepEqual(statuses, [200, 200, 200, 200, 429])
  const keys = await redis.keys('waybill:rate-limit:*')
  assert.ok(keys.length > 0, 'the counts live in Redis')
})

test('security headers are set; CORS answers only the allowed origins', async (t) => {
  const app = await build(t, { CORS_ALLOWED_ORIGINS: 'https://admin.example.com, https://ops.example.com' })
  const res = await app.inject({ url: issueUrl(), headers: { origin: 'https://admin.example.com' } })
  // A JSON answer: the API set.
  assert.equal(res.headers['x-content-type-options'], 'nosniff')
  assert.equal(res.headers['x-frame-options'], 'DENY')
  assert.equal(res.headers['cache-control'], 'no-store')
  assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'")
  // Pages a browser renders: helmet's full set.
  for (const url of ['/docs/', '/admin/']) {
    const page = await app.inject({ url })
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/, url)
    assert.equal(page.headers['x-frame-options'], 'SAMEORIGIN', url)
    assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin', url)
    assert.equal(page.headers['x-content-type-options'], 'nosniff', url)
  }
  // Helmet lives in the pages' own contexts: its hooks (one async) do not run on API requests.
  assert.equal(app.hasReplyDecorator('helmet'), false, 'helmet is not registered at the root')
  assert.equal(res.headers['cross-origin-opener-policy'], undefined, 'no page header on a JSON answer')
  assert.equal(res.headers['access-control-allow-origin'], 'https://admin.example.com')
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/me/',
    headers: {
      origin: 'https://ops.example.com',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  })
  assert.equal(preflight.statusCode, 204)
  assert.equal(preflight.headers['access-control-allow-origin'], 'https://ops.example.com')
  const foreign = await app.inject({ url: issueUrl(), headers: { origin: 'https://evil.example.com' } })
  assert.equal(foreign.headers['access-control-allow-origin'], undefined)
  // An OPTIONS that is not a full preflight (no Origin, or no method asked for) is no error.
  for (const headers of [{}, { origin: 'https://ops.example.com' }]) {
    const options = await app.inject({ method: 'OPTIONS', url: '/api/customers/', headers })
    assert.equal(options.statusCode, 204, JSON.stringify(headers))
    assert.notEqual(options.headers['content-type'], 'text/plain', "never the plugin's plain-text 400")
  }
})

test('no CORS headers at all unless CORS_ALLOWED_ORIGINS is set', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: issueUrl(), headers: { origin: 'https://admin.example.com' } })
  assert.equal(res.headers['access-control-allow-origin'], undefined)
})

test('a body over BODY_LIMIT_BYTES is a 413 in the envelope', async (t) => {
  const app = await build(t, { BODY_LIMIT_BYTES: '2048' })
  const res = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    payload: { customer_name: 'x'.repeat(4096) },
  })
  assert.equal(res.statusCode, 413)
  assert.equal(res.json().code, 'payload_too_large')
})

test('behind a trusted proxy the client address comes from X-Forwarded-For', async (t) => {
  const app = await build(t, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_MAX: '1' }, { as: null })
  const from = (client: string) =>
    app.inject({ url: '/openapi.json', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } })
  assert.equal((await from('203.0.113.7')).statusCode, 200)
  assert.equal((await from('203.0.113.8')).statusCode, 200, 'a different client behind the same proxy')
  assert.equal((await from('203.0.113.7')).statusCode, 429)
})

test('refused requests count too: a flood of bad or missing tokens reaches 429', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '3' }, { as: null })
  const garbage = { authorization: 'Bearer not-a-token' }
  const statuses = []
  for (let i = 0; i < 5; i++)
    statuses.push((await app.inject({ url: '/api/me/', headers: garbage })).statusCode)
  assert.deepEqual(statuses, [401, 401, 401, 429, 429])
  const client = { authorization: `Bearer ${await tokenFor('client', 777)}` }
  const small = []
  for (let i = 0; i < 4; i++)
    small.push((await app.inject({ url: '/api/users/', headers: client })).statusCode)
  assert.deepEqual(small, [403, 403, 403, 429], 'too small a role counts against its token')
})

test('a refused request still gets CORS and security headers, so a browser can read the 401', async (t) => {
  const app = await build(t, { CORS_ALLOWED_ORIGINS: 'https://admin.example.com' }, { as: null })
  for (const headers of [{}, { authorization: 'Bearer expired.or.bad' }]) {
    const res = await app.inject({
      url: '/api/me/',
      headers: { origin: 'https://admin.example.com', ...headers },
    })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['access-control-allow-origin'], 'https://admin.example.com')
    assert.equal(res.headers['x-content-type-options'], 'nosniff')
  }
})

test('a NUL or a control character in a login or a path is a 400, never a 500', async (t) => {
  const app = await build(t, {}, { as: 'admin' })
  const login = await app.inject({
    method: 'POST',
    url: '/api/token/',
    payload: { username: 'a\u0000b', password: 'whatever' },
  })
  assert.equal(login.statusCode, 400)
  assert.equal(
    (await app.inject({ method: 'PATCH', url: '/api/users/a%00b/', payload: { disabled: true } })).statusCode,
    400,
  )
  assert.equal((await app.inject({ url: '/api/orders/?tracking_number=a%00b' })).statusCode, 400)
})

test('a 429 says the limit and when the window resets; an allowed answer carries no rate-limit headers', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_SECONDS: '30' }, { as: null })
  const client = { authorization: `Bearer ${await tokenFor('client', 901)}` }
  const allowed = await app.inject({ url: '/api/me/', headers: client })
  assert.equal(allowed.statusCode, 200)
  assert.deepEqual(
    Object.keys(allowed.headers).filter((name) => name.startsWith('x-ratelimit')),
    [],
  )
  const limited = await app.inject({ url: '/api/me/', headers: client })
  assert.equal(limited.statusCode, 429)
  assert.equal(limited.headers['x-ratelimit-limit'], '1')
  assert.equal(limited.headers['x-ratelimit-remaining'], '0')
  const reset = Number(limited.headers['x-ratelimit-reset'])
  assert.ok(reset >= 1 && reset <= 30, `reset in ${reset} s`)
  assert.equal(limited.headers['retry-after'], limited.headers['x-ratelimit-reset'])
})

test('with Redis unreachable, requests are let through rather than refused', async (t) => {
  // Port 1 on loopback: nothing listens there, so every count fails at once.
  const app = await build(t, { RATE_LIMIT_MAX: '1', REDIS_URL: 'redis://127.0.0.1:1' }, { as: null })
  const client = { authorization: `Bearer ${await tokenFor('client', 902)}` }
  const statuses = []
  for (let i = 0; i < 3; i++)
    statuses.push((await app.inject({ url: '/api/me/', headers: client })).statusCode)
  assert.deepEqual(statuses, [200, 200, 200])
})

test('the in-memory store: a window ends after its length; the oldest windows are dropped first', () => {
  const store = new MemoryStore()
  assert.deepEqual(store.incr('a', 1_000, 10_000), { current: 1, resetAt: 11_000 })
  assert.deepEqual(store.incr('a', 1_000, 10_999), { current: 2, resetAt: 11_000 })
  assert.deepEqual(store.incr('a', 1_000, 11_000), { current: 1, resetAt: 12_000 }, 'a new window')
  assert.equal(store.incr('b', 1_000, 11_000).current, 1, 'each key counts apart')
  for (let i = 0; i < 100_000; i++) store.incr(`k${i}`, 60_000, 11_000)
  assert.equal(store.incr('a', 1_000, 11_500).current, 1, 'the oldest key was dropped to make room')
})
