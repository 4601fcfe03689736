// GET /next-tracking-number's fast path (src/tracking/fast-route.ts) answers on node:http's request
// event. Each request here goes over real HTTP twice: as sent, and with `content-length: 0`, which
// the fast path leaves to Fastify and Fastify ignores on a GET. The two replies must be the same:
// status, every header in order (the date and generated request ids aside), and the body (the
// number, its time and the request id aside). `issueFastPath.taken` says which went the fast way.
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import dns from 'node:dns'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, createServer as createNetServer } from 'node:net'
import { type TestContext, test } from 'node:test'
import { setTimeout } from 'node:timers/promises'
import { decodeJwt } from 'jose'
import { ESCAPE_FREE } from '../../src/tracking/schemas.js'
import {
  bearer,
  build,
  issueUrl,
  openDatabase,
  type TestApp,
  tokenFor,
  validIssue,
} from '../helpers/build.js'

import { startOidcProvider, TEST_AUDIENCE } from '../helpers/oidc-provider.js'
import { UUID_V4 } from '../helpers/patterns.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

interface Reply {
  status: number
  headers: Array<[string, string]>
  body: string
}

function send(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const headers: Array<[string, string]> = []
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          headers.push([(res.rawHeaders[i] as string).toLowerCase(), res.rawHeaders[i + 1] as string])
        }
        resolve({ status: res.statusCode as number, headers, body: Buffer.concat(chunks).toString() })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** Headers as the lines of a raw request. */
function headerLines(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')
}

/** What must match between the two paths: generated values replaced by what they must look like. */
function comparable(reply: Reply, sentRequestId: string | undefined) {
  const id = reply.headers.find(([name]) => name === 'x-request-id')?.[1]
  assert.ok(id, 'every reply carries x-request-id')
  if (sentRequestId) assert.equal(id, sentRequestId)
  const body = reply.body ? JSON.parse(reply.body) : undefined
  if (body?.correlation_id !== undefined) {
    assert.equal(body.correlation_id, id, 'correlation_id is the x-request-id')
    body.correlation_id = '<id>'
  }
  if (body?.tracking_number !== undefined) {
    assert.match(body.tracking_number, /^[A-Z0-9]{16}$/)
    body.tracking_number = '<number>'
  }
  if (body?.created_at !== undefined) {
    assert.ok(!Number.isNaN(Date.parse(body.created_at)))
    body.created_at = '<time>'
  }
  const headers = reply.headers
    .filter(([name]) => name !== 'date')
    .map(([name, value]) => [name, name === 'x-request-id' && !sentRequestId ? '<id>' : value])
  return { status: reply.status, headers, body }
}

/**
 * A token's first request: verified by Fastify's auth hook (asynchronously), then known. The fast
 * path takes only tokens already known, so it hands this one over.
 */
async function introduce(app: TestApp, port: number, headers: Record<string, string>) {
  const before = app.issueFastPath?.taken
  const reply = await send(port, issueUrl(), headers)
  assert.equal(reply.status, 200, reply.body)
  assert.equal(app.issueFastPath?.taken, before, 'an unknown token is left to Fastify')
}

async function listening(t: TestContext, env: Record<string, string> = {}) {
  const app = await build(t, env)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const fast = app.issueFastPath
  assert.ok(fast, 'the fast path is on by default')
  return { app, port, fast }
}

/** The same request both ways; returns the fast path's reply, after checking the two are alike. */
async function both(
  app: TestApp,
  port: number,
  path: string,
  headers: Record<string, string>,
  expectTaken: boolean,
  method = 'GET',
) {
  const fast = app.issueFastPath as NonNullable<TestApp['issueFastPath']>
  const before = fast.taken
  const reply = await send(port, path, headers, method)
  assert.equal(fast.taken - before, expectTaken ? 1 : 0, `${method} ${path}: taken by the fast path`)
  const reference = await send(port, path, { ...headers, 'content-length': '0' }, method)
  assert.equal(fast.taken - before, expectTaken ? 1 : 0, 'the reference went through Fastify')
  const sentId = headers['x-request-id']
  const keep = sentId && /^[A-Za-z0-9._:-]{1,128}$/.test(sentId) ? sentId : undefined
  assert.deepEqual(comparable(reply, keep), comparable(reference, keep), `${method} ${path}`)
  return reply
}

test('the fast path answers the issuing route exactly as Fastify does, and stores each number', async (t) => {
  const { app, port, fast } = await listening(t)
  const client = await bearer('client')
  const operator = await bearer('operator')
  const admin = await bearer('admin')
  for (const headers of [client, operator, admin]) await introduce(app, port, headers)
  const answered: string[] = []
  const cases: Array<[string, Record<string, string>]> = [
    [issueUrl(), client],
    [issueUrl(validIssue, '/api/next-tracking-number'), client],
    [issueUrl(validIssue, '/next-tracking-number/'), client],
    [issueUrl(), { ...client, 'x-request-id': 'carrier-42.a:b' }],
    [issueUrl(), { ...client, 'x-request-id': 'not a safe id' }],
    [`${issueUrl()}&cache_buster=1`, client],
    [issueUrl({ ...validIssue, customer_name: 'Red Box+Co "Ltd" ü' }), client],
    [issueUrl({ ...validIssue, customer_id: validIssue.customer_id.toUpperCase(), weight: '12' }), client],
    [issueUrl(), operator],
    [issueUrl(), admin],
  ]
  for (const [path, headers] of cases) {
    const reply = await both(app, port, path, headers, true)
    assert.equal(reply.status, 200, `${path}: ${reply.body}`)
    answered.push(JSON.parse(reply.body).tracking_number)
  }
  assert.equal(fast.taken, cases.length)

  // Each answered number is stored with its request, as a lookup shows.
  for (const number of answered) {
    const found = await app.inject({ url: `/tracking-numbers/${number}` })
    assert.equal(found.statusCode, 200, found.body)
    assert.equal(found.json().request_metadata.customer_slug, 'redbox-logistics')
  }
  const rows = await openDatabase(t, app.databaseUrl)
    .selectFrom('tracking_numbers')
    .select('sequence')
    .execute()
  assert.equal(rows.length, 3 + cases.length * 2, 'both paths stored every number they answered')

  // The request-duration metric counts them under the route, as Fastify's hook does.
  const metrics = (await app.inject({ url: '/metrics' })).body
  const count = (route: string) =>
    Number(
      new RegExp(
        `http_request_duration_seconds_count\\{method="GET",route="${route}",status_code="200"\\} (\\d+)`,
      ).exec(metrics)?.[1],
    )
  assert.equal(count('/next-tracking-number') + count('/api/next-tracking-number'), 3 + cases.length * 2)
  assert.equal(count('/api/next-tracking-number'), 2)
})

test('no reply field the fast path writes unescaped can hold a character JSON escapes', async (t) => {
  const { app, port, fast } = await listening(t)
  const client = await bearer('client')
  await introduce(app, port, client)
  // What fast-json-stringify escapes, %-encoded: quotes, backslashes, control characters, a lone
  // surrogate (the UTF-8 of one, which is no valid UTF-8).
  const controls = [0, 8, 9, 10, 12, 13, 31].map((c) => `%${c.toString(16).padStart(2, '0')}`)
  const hostile = ['%22', '%5C', ...controls, '%ED%A0%80']
  // Each metadata field written unescaped, and the query field it is stored from.
  const source: Record<(typeof ESCAPE_FREE.metadata)[number], keyof typeof validIssue> = {
    origin_country: 'origin_country_id',
    destination_country: 'destination_country_id',
    weight_kg: 'weight',
    customer_id: 'customer_id',
    customer_slug: 'customer_slug',
    order_created_at: 'created_at',
  }
  assert.deepEqual(Object.keys(source).sort(), [...ESCAPE_FREE.metadata].sort(), 'a field here for each')
  // At every place of a valid value, in place of its character there and before it: a format
  // that checks only a value's length, or only some of its characters, lets one through.
  for (const [field, from] of Object.entries(source)) {
    const valid = validIssue[from]
    const encoded = (text: string) => encodeURIComponent(text)
    for (const character of hostile) {
      for (let at = 0; at <= valid.length; at++) {
        const before = encoded(valid.slice(0, at))
        for (const value of [
          `${before}${character}${encoded(valid.slice(at))}`,
          ...(at < valid.length ? [`${before}${character}${encoded(valid.slice(at + 1))}`] : []),
        ]) {
          const query = new URLSearchParams({ ...validIssue, [from]: 'X' })
            .toString()
            .replace(`${from}=X`, `${from}=${value}`)
          const reply = await send(port, `/next-tracking-number?${query}`, client)
          assert.equal(reply.status, 400, `${field} from ${from}=${value}: ${reply.body}`)
          assert.ok(JSON.parse(reply.body).details[from], `${from}=${value}: ${reply.body}`)
        }
      }
    }
  }
  assert.equal(fast.taken, 0, 'each was refused before issuing')
  // The rest: the number and the time are the service's own (a number's characters are checked in
  // every comparison above); a request id is kept only if plain, else replaced by a UUID.
  assert.deepEqual([...ESCAPE_FREE.reply].sort(), ['correlation_id', 'created_at', 'tracking_number'])
  for (const id of ['a"b', 'a\\b', 'a b']) {
    const reply = await both(app, port, issueUrl(), { ...client, 'x-request-id': id }, true)
    assert.equal(reply.status, 200, reply.body)
    assert.match(JSON.parse(reply.body).correlation_id, UUID_V4)
  }
  // A tab inside a header value, which Node's client will not send but its server accepts.
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()))
    socket.write(
      `GET ${issueUrl()} HTTP/1.1\r\nhost: a\r\n${headerLines(client)}x-request-id: a\tb\r\nconnection: close\r\n\r\n`,
    )
  })
  const [head = '', body = ''] = raw.split('\r\n\r\n')
  assert.match(head, /^HTTP\/1\.1 200 /)
  assert.match(JSON.parse(body).correlation_id, UUID_V4)
  assert.equal(fast.taken, 4, 'the fast path took each request id')
})

test('whatever the fast path cannot answer as the route would goes to Fastify untouched', async (t) => {
  const { app, port, fast } = await listening(t)
  const client = await bearer('client')
  await introduce(app, port, client)
  const { weight: _weight, ...noWeight } = validIssue
  const cases: Array<[string, Record<string, string>, number, string?]> = [
    [issueUrl(noWeight), client, 400],
    [issueUrl({ ...validIssue, weight: '-1' }), client, 400],
    [issueUrl({ ...validIssue, origin_country_id: 'XX' }), client, 400],
    [`${issueUrl()}&weight=2`, client, 400],
    [`${issueUrl()}&name%zz=1`, client, 400],
    [issueUrl(), {}, 401],
    [issueUrl(), { authorization: 'Bearer not-a-token' }, 401],
    [issueUrl(), { authorization: 'Basic dXNlcjpwYXNz' }, 401],
    [issueUrl(), { ...client, 'idempotency-key': 'order-1' }, 200],
    [issueUrl(), { ...client, origin: 'https://shop.example' }, 200],
    [issueUrl(validIssue, '/Next-Tracking-Number'), client, 404],
    [issueUrl(validIssue, '/next-tracking-number//'), client, 404],
    [issueUrl(validIssue, '/next-tracking-numberx'), client, 404],
    [issueUrl(), client, 405, 'POST'],
    [issueUrl(), client, 405, 'HEAD'],
  ]
  for (const [path, headers, status, method] of cases) {
    const reply = await both(app, port, path, headers, false, method)
    assert.equal(reply.status, status, `${method ?? 'GET'} ${path}: ${reply.body}`)
  }
  assert.equal(fast.taken, 0)
})

test('the rate limit counts fast-path requests once, and Fastify refuses past it', async (t) => {
  const { app, port, fast } = await listening(t, { RATE_LIMIT_MAX: '3' })
  const client = await bearer('client')
  await introduce(app, port, client)
  for (let i = 0; i < 2; i++) assert.equal((await send(port, issueUrl(), client)).status, 200)
  assert.equal(fast.taken, 2)
  const refused = await send(port, issueUrl(), client)
  assert.equal(refused.status, 429, refused.body)
  assert.equal(JSON.parse(refused.body).code, 'rate_limited')
  assert.ok(refused.headers.some(([name]) => name === 'retry-after'))
  assert.equal(fast.taken, 2, 'the refused request was not taken')
})

test('a number that cannot be issued on the fast path gets Fastify’s error reply, counted once', async (t) => {
  const { app, port, fast } = await listening(t, { RATE_LIMIT_MAX: '3' })
  const client = await bearer('client')
  await introduce(app, port, client)
  // Every commit now fails.
  const db = openDatabase(t, app.databaseUrl)
  await db.schema.dropView('tracking_records').execute()
  await db.schema.dropTable('tracking_numbers').execute()

  const failed = await send(port, issueUrl(), client)
  assert.equal(fast.taken, 1, 'the fast path took it, then handed it over')
  const reference = await send(port, issueUrl(), { ...client, 'content-length': '0' })
  assert.equal(fast.taken, 1)
  assert.ok(failed.status >= 500, failed.body)
  assert.deepEqual(comparable(failed, undefined), comparable(reference, undefined))
  // Three requests so far, the handed-over one counted once: the next is the fourth, past a limit of 3.
  const refused = await send(port, issueUrl(), client)
  assert.equal(refused.status, 429, refused.body)
})

test('with Redis counting, the fast path counts once there too, and Fastify refuses past the limit', async (t) => {
  const { app, port, fast } = await listening(t, { RATE_LIMIT_MAX: '3', REDIS_URL })
  // A fresh subject per run: counts in Redis outlive the test for the window.
  const client = { authorization: `Bearer ${await tokenFor('client', randomInt(1e6, 1e9))}` }
  await introduce(app, port, client)
  for (let i = 0; i < 2; i++) assert.equal((await send(port, issueUrl(), client)).status, 200)
  assert.equal(fast.taken, 2, 'taken, counted in Redis')
  const refused = await send(port, issueUrl(), client)
  assert.equal(refused.status, 429, refused.body)
  assert.equal(fast.taken, 2)
})

/** An app on which the fast path is off: it has none, and Fastify answers the issuing route. */
async function withoutFastPath(t: TestContext, env: Record<string, string>): Promise<Reply> {
  const app = await build(t, env)
  assert.equal(app.issueFastPath, undefined)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const reply = await send(port, issueUrl(), await bearer('client'))
  assert.equal(reply.status, 200, reply.body)
  assert.match(JSON.parse(reply.body).tracking_number, /^[A-Z0-9]{16}$/)
  return reply
}

test('with CORS origins set, every request goes through Fastify (its CORS headers are on each reply)', async (t) => {
  const reply = await withoutFastPath(t, { CORS_ALLOWED_ORIGINS: 'https://admin.example.com' })
  assert.ok(reply.headers.some(([name, value]) => name === 'vary' && /origin/i.test(value)))
})

test('ISSUE_FAST_PATH=false: every request goes through Fastify', async (t) => {
  await withoutFastPath(t, { ISSUE_FAST_PATH: 'false' })
})

test('a reply whose client has gone is not counted in the metrics, as Fastify counts none', async (t) => {
  const { app, port, fast } = await listening(t)
  const client = await bearer('client')
  await introduce(app, port, client)
  const answered = async () => {
    const metrics = (await app.inject({ url: '/metrics' })).body
    return Number(
      /http_request_duration_seconds_count\{method="GET",route="\/next-tracking-number",status_code="200"\} (\d+)/.exec(
        metrics,
      )?.[1],
    )
  }
  const db = openDatabase(t, app.databaseUrl)
  const stored = async () => (await db.selectFrom('tracking_numbers').select('sequence').execute()).length
  const before = { answered: await answered(), stored: await stored() }
  // The connection is gone as soon as the request has arrived, before any reply: closed on the
  // server's side there and then (a client's own close reaches the server a moment later, and a
  // reply written before the server has read it does finish, and is counted, by either path).
  for (const extra of ['', 'content-length: 0\r\n']) {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      app.server.prependOnceListener('request', (request: IncomingMessage) => request.socket.destroy())
      socket.on('close', () => resolve())
      socket.write(`GET ${issueUrl()} HTTP/1.1\r\nhost: a\r\n${headerLines(client)}${extra}\r\n`)
    })
  }
  assert.equal(fast.taken, 1, 'the first went the fast way, the second through Fastify')
  // Both numbers are stored (each was issued); neither reply finished, so neither is observed.
  for (let i = 0; i < 50 && (await stored()) < before.stored + 2; i++) await setTimeout(20)
  await setTimeout(50)
  assert.equal(await stored(), before.stored + 2)
  assert.equal(await answered(), before.answered)
})

test('HOST=localhost listens on every address it names, as Fastify does without the fast path', async (t) => {
  const ipv6 = await new Promise<boolean>((resolve) => {
    const probe = createNetServer()
      .once('error', () => resolve(false))
      .listen(0, '::1', () => probe.close(() => resolve(true)))
  })
  if (!ipv6) return t.skip('no IPv6 loopback here')
  // localhost as on most hosts: both loopback addresses (here it may name only one).
  const lookup = dns.lookup
  t.mock.method(dns, 'lookup', (host: string, options: unknown, callback: (...args: unknown[]) => void) => {
    if (host !== 'localhost' || (options as { all?: boolean })?.all !== true)
      return (lookup as (...args: unknown[]) => void)(host, options, callback)
    callback(null, [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ])
  })
  const app = await build(t)
  await app.listen({ host: 'localhost', port: 0 })
  const families = app.addresses().map((address) => (address as { family: string }).family)
  assert.deepEqual(families.sort(), ['IPv4', 'IPv6'])
  const { port } = app.server.address() as { port: number }
  const client = await bearer('client')
  await introduce(app, port, client)
  await both(app, port, issueUrl(), client, true)
})

test('a cached token that has expired gets the reply Fastify gives, the fast path changing nothing', async (t) => {
  // OpenID tokens of six seconds (time for the requests before the wait on a busy machine): once
  // past the verifier's clock tolerance (5 s), verifying one again says "The token has expired";
  // Fastify's first answer to a cached one is the cache's own 401.
  const provider = await startOidcProvider({ accessTokenTtl: 6 })
  t.after(() => provider.close())
  const { app, port, fast } = await listening(t, {
    OIDC_ISSUER: provider.issuer,
    OIDC_AUDIENCE: TEST_AUDIENCE,
  })
  const [first, second] = await Promise.all([
    provider.token({ scope: 'waybill:client' }),
    provider.token({ scope: 'waybill:client' }),
  ])
  const expiresAt = Math.max(decodeJwt(first).exp as number, decodeJwt(second).exp as number) * 1000
  for (const token of [first, second]) await introduce(app, port, { authorization: `Bearer ${token}` })
  assert.equal((await send(port, issueUrl(), { authorization: `Bearer ${first}` })).status, 200)
  assert.equal(fast.taken, 1)
  // A verified token that grants no role: Fastify's 403.
  const roleless = { authorization: `Bearer ${await provider.token({ scope: '' })}` }
  assert.equal((await send(port, issueUrl(), roleless)).status, 403)
  assert.equal((await both(app, port, issueUrl(), roleless, false)).status, 403)
  await setTimeout(expiresAt + 6_000 - Date.now())
  const reply = await send(port, issueUrl(), { authorization: `Bearer ${first}` })
  const reference = await send(port, issueUrl(), { authorization: `Bearer ${second}`, 'content-length': '0' })
  assert.equal(fast.taken, 1)
  assert.equal(reference.status, 401, reference.body)
  assert.deepEqual(comparable(reply, undefined), comparable(reference, undefined))
})
