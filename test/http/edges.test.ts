import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseQueryString } from '../../src/http/edges.js'
import { toAppError } from '../../src/http/errors.js'
import {
  bearer,
  build,
  issueUrl,
  openDatabase,
  storedNumbers,
  type TestApp,
  validIssue,
} from '../helpers/build.js'

async function listening(app: TestApp): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as { port: number }).port
}

/** Sends `data` on a new connection and collects what comes back until the server closes it. */
function exchange(port: number, data: string): { socket: Socket; reply: Promise<string> } {
  const socket = connect(port, '127.0.0.1')
  socket.write(data)
  const reply = new Promise<string>((resolve) => {
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk
    })
    socket.on('close', () => resolve(text))
    socket.on('error', () => {})
  })
  return { socket, reply }
}

function parseReply(raw: string): { status: number; headers: string; body: Record<string, unknown> } {
  const [head = '', body = ''] = raw.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: JSON.parse(body) }
}

test('a JSON body that is not UTF-8 is a 400 naming the body', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json' },
    payload: Buffer.concat([Buffer.from('{"customer_name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
  })
  assert.equal(res.statusCode, 400, res.body)
  assert.deepEqual(res.json().details, { body: ['must be UTF-8'] })
})

test('an unpaired surrogate in a JSON string is a 400 naming its field, and nothing is issued', async (t) => {
  const app = await build(t)
  const body = JSON.stringify({ ...validIssue, customer_name: 'Red\ud800Box' })
  assert.ok(body.includes('\\ud800'), 'JSON.stringify escapes the lone surrogate, as a client would send it')
  const res = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json' },
    payload: body,
  })
  assert.equal(res.statusCode, 400, res.body)
  assert.deepEqual(Object.keys(res.json().details), ['customer_name'])

  // A well-formed pair (an emoji) is fine.
  const emoji = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ ...validIssue, customer_name: 'Red Box \ud83d\ude00' }),
  })
  assert.equal(emoji.statusCode, 201, emoji.body)
})

test('query text that is not valid percent-encoded UTF-8 is a 400 naming each field; nothing is issued', async (t) => {
  const app = await build(t)
  const before = await app.inject({ url: '/metrics' })
  const issued = (text: string) => Number(/^tracking_numbers_issued_total (\d+)/m.exec(text)?.[1])
  // A valid query, then three of its values broken as clients break them: a stray %, a lone
  // Latin-1 byte, an encoded surrogate. The weight's own error is reported with them.
  const good = issueUrl()
  const broken = good
    .replace('customer_name=RedBox+Logistics', 'customer_name=50%25%zz')
    .replace('customer_slug=redbox-logistics', 'customer_slug=a%FFb')
    .replace('destination_country_id=ID', 'destination_country_id=%ED%A0%80')
    .replace('weight=1.234', 'weight=0')
  assert.notEqual(broken, good)
  const res = await app.inject({ url: broken })
  assert.equal(res.statusCode, 400, res.body)
  assert.deepEqual(res.json().details, {
    customer_name: ['must be valid percent-encoded UTF-8'],
    customer_slug: ['must be valid percent-encoded UTF-8'],
    destination_country_id: ['must be valid percent-encoded UTF-8'],
    weight: [res.json().details.weight?.[0]],
  })
  assert.match(res.json().details.weight[0], /greater than 0/)
  const after = await app.inject({ url: '/metrics' })
  assert.equal(issued(after.body), issued(before.body), 'nothing was issued')
  // Well-formed escapes, a + for a space and a repeated key are read as before.
  const fine = await app.inject({
    url: good.replace('customer_name=RedBox+Logistics', 'customer_name=50%25+off%2B'),
  })
  assert.equal(fine.statusCode, 200, fine.body)
  assert.equal(fine.json().request_metadata.customer_name, '50% off+')
})

test('parseQueryString reads what fast-querystring reads, and marks what it cannot decode', () => {
  const plain = (text: string) => ({ ...parseQueryString(text) })
  assert.deepEqual(plain('a=1&a=2&a=3'), { a: ['1', '2', '3'] })
  assert.deepEqual(plain('a&b=&=c&&d=%20x%2By+z'), { a: '', b: '', '': 'c', d: ' x+y z' })
  assert.deepEqual(plain(''), {})
  assert.equal(Object.getPrototypeOf(parseQueryString('__proto__=1')), null)
  const broken = parseQueryString('ok=1&x=%zz&%FF=2')
  assert.deepEqual(
    Object.getOwnPropertySymbols(broken).map((s) => (broken as Record<symbol, unknown>)[s]),
    [['x', '%FF']],
  )
})

test('a compressed body is a 415: nothing here decompresses it', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    payload: JSON.stringify(validIssue),
  })
  assert.equal(res.statusCode, 415, res.body)
  assert.match(res.json().error, /Content-Encoding gzip/)
})

test('a client that hangs up mid-body is a client error, never a database outage', async (t) => {
  const app = await build(t)
  // What the error handler makes of it (the client is gone: no reply or metric to look at).
  const seen: string[] = []
  app.addHook('onError', (_request, _reply, error, done) => {
    seen.push(toAppError(error).code)
    done()
  })
  const port = await listening(app)
  const { authorization } = await bearer('client')
  const { socket, reply } = exchange(
    port,
    `POST /tracking/generate/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"orig',
  )
  await sleep(200)
  socket.destroy()
  await reply
  for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(20)
  assert.deepEqual(seen, ['bad_request'])
})

test('REQUEST_TIMEOUT_MS: a request whose body stalls gets a 408 in the envelope, on time', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT_MS: '1000' })
  const port = await listening(app)
  const { authorization } = await bearer('client')
  const started = performance.now()
  const { reply } = exchange(
    port,
    `POST /tracking/generate/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"orig',
  )
  const { status, headers, body } = parseReply(await reply)
  const seconds = (performance.now() - started) / 1000
  assert.equal(status, 408)
  assert.equal(body.code, 'request_timeout')
  assert.match(headers, new RegExp(`x-request-id: ${body.correlation_id}`))
  // Node's default check interval (30 s) would make this 1 s timeout take up to 31 s.
  assert.ok(seconds < 5, `answered after ${seconds.toFixed(1)} s`)
})

test('REQUEST_TIMEOUT_MS: headers that stall get a 408 on time too', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT_MS: '1000' })
  const port = await listening(app)
  const started = performance.now()
  const { reply } = exchange(port, 'GET /health HTTP/1.1\r\nHost: x\r\n')
  const { status } = parseReply(await reply)
  assert.equal(status, 408)
  assert.ok((performance.now() - started) / 1000 < 5)
})

test('malformed HTTP and oversized headers are answered in the envelope', async (t) => {
  const app = await build(t)
  const port = await listening(app)
  const malformed = parseReply(await exchange(port, 'GARBAGE\r\n\r\n').reply)
  assert.equal(malformed.status, 400)
  assert.equal(malformed.body.code, 'bad_request')
  assert.match(malformed.headers, /content-type: application\/json/)
  assert.match(malformed.headers, /\r\nx-content-type-options: nosniff\r\n/)

  const huge = parseReply(
    await exchange(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`).reply,
  )
  assert.equal(huge.status, 431)
  assert.equal(huge.body.code, 'headers_too_large')
})

test('a path parameter too long for a tracking number is a 400 naming it', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: `/tracking-numbers/${'A'.repeat(150)}` })
  assert.equal(res.statusCode, 400, res.body)
  assert.deepEqual(Object.keys(res.json().details), ['tracking_number'])
  assert.ok(res.body.length < 600, 'the reply does not echo the whole path back')
  // Past the router's limit (1000 characters) and in a path that is not valid percent-encoding,
  // the router refuses it: a short 400 still, with nothing of the path in it.
  for (const url of [
    `/tracking-numbers/${'A'.repeat(5_000)}`,
    `/api/orders/${'1'.repeat(5_000)}/`,
    '/tracking-numbers/%E0%A4%A',
  ]) {
    const refused = await app.inject({ url })
    assert.equal(refused.statusCode, 400, refused.body)
    assert.equal(refused.json().code, 'bad_request')
    assert.ok(
      refused.body.length < 300 && !refused.body.includes('AAAA') && !refused.body.includes('%E0'),
      refused.body,
    )
  }
})

test('JSON bodies: errors name the body; an empty one is no body; only UTF-8', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const post = (payload: string, contentType = 'application/json') =>
    app.inject({
      method: 'POST',
      url: '/tracking/generate/',
      headers: { 'content-type': contentType },
      payload,
    })
  const broken = await post('{"customer_name": ')
  assert.equal(broken.statusCode, 400, broken.body)
  assert.deepEqual(broken.json().details, { body: ['must be valid JSON'] })
  const poisoned = await post(JSON.stringify({ ...validIssue }).replace('{', '{"__proto__":{"x":1},'))
  assert.equal(poisoned.statusCode, 400, poisoned.body)
  assert.deepEqual(poisoned.json().details, {
    body: ['must not hold a __proto__ or constructor.prototype key'],
  })
  const latin1 = await post(JSON.stringify(validIssue), 'application/json; charset=iso-8859-1')
  assert.equal(latin1.statusCode, 415, latin1.body)
  assert.equal((await post(JSON.stringify(validIssue), 'application/json; charset=UTF-8')).statusCode, 201)
  // A Content-Type with no body: a DELETE goes through; a POST that needs a body says so (the
  // older clients' POST /tracking/generate/ needs none).
  assert.equal((await post('')).statusCode, 201)
  const empty = await app.inject({
    method: 'POST',
    url: '/tracking-numbers/batch/',
    headers: { 'content-type': 'application/json' },
    payload: '',
  })
  assert.equal(empty.statusCode, 400, empty.body)
  assert.equal(empty.json().code, 'validation_failed', empty.body)
  const customer = await app.inject({
    method: 'POST',
    url: '/api/customers/',
    payload: { code: 'EDGE1', name: 'Edge', phone_number: '+254722000001' },
  })
  assert.equal(customer.statusCode, 201, customer.body)
  const deleted = await app.inject({
    method: 'DELETE',
    url: `/api/customers/${customer.json().id}/`,
    headers: { 'content-type': 'application/json' },
  })
  assert.equal(deleted.statusCode, 204, deleted.body)
})

test('a deeply nested JSON body is a fast 400 naming the problem, on a public route too', async (t) => {
  const app = await build(t, {}, { as: null })
  const bodies = {
    arrays: `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
    quadratic: `${'['.repeat(3_000)}${']'.repeat(3_000)}`,
    objects: `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
    unclosed: '['.repeat(20_000),
  }
  await app.inject({ method: 'POST', url: '/api/token/', payload: {} }) // the first request warms up
  for (const [name, payload] of Object.entries(bodies)) {
    const started = performance.now()
    const res = await app.inject({
      method: 'POST',
      url: '/api/token/',
      headers: { 'content-type': 'application/json' },
      payload,
    })
    const ms = performance.now() - started
    assert.equal(res.statusCode, 400, `${name}: ${res.body}`)
    assert.deepEqual(res.json().details, {
      body: ['must not nest arrays and objects more than 64 levels deep'],
    })
    // Before the depth check: about 0.6 s for 10,000 levels, and a stack overflow.
    assert.ok(ms < 250, `${name} took ${ms.toFixed(0)} ms`)
  }
  // Brackets inside strings are text, not nesting; 64 levels are still JSON like any other.
  const inString = await app.inject({
    method: 'POST',
    url: '/api/token/',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ username: '['.repeat(100), password: '{\\"['.repeat(100) }),
  })
  assert.equal(inString.statusCode, 401, inString.body)
  const sixtyFour = await app.inject({
    method: 'POST',
    url: '/api/token/',
    headers: { 'content-type': 'application/json' },
    payload: `${'['.repeat(64)}${']'.repeat(64)}`,
  })
  assert.equal(sixtyFour.statusCode, 400, sixtyFour.body)
  assert.equal(sixtyFour.json().code, 'validation_failed')
})

test('HTTP/1.1 framing Node answers bare or lets through is answered in the envelope: Host, Expect, CONNECT', async (t) => {
  const app = await build(t)
  const port = await listening(app)
  const { authorization: token } = await bearer('client')
  const issue = issueUrl(validIssue)
  const ask = async (request: string) => {
    const raw = await exchange(port, request).reply
    return { raw, ...parseReply(raw) }
  }

  // No Host on HTTP/1.1, on the issuing route (its fast path hands it over) and on another.
  for (const path of [issue, '/health', '/nowhere']) {
    const reply = await ask(`GET ${path} HTTP/1.1\r\nAuthorization: ${token}\r\n\r\n`)
    assert.equal(reply.status, 400, `${path}: ${reply.raw}`)
    assert.equal(reply.body.code, 'bad_request')
    assert.deepEqual(reply.body.details, { host: ['is required (HTTP/1.1)'] })
    assert.match(reply.headers, /x-request-id: /)
    assert.match(reply.headers, /connection: close/)
    assert.equal(reply.body.correlation_id, /x-request-id: (\S+)/.exec(reply.headers)?.[1])
  }
  // Two Host lines (how a request is smuggled past a proxy that reads the other one).
  const twice = await ask(`GET ${issue} HTTP/1.1\r\nHost: a\r\nhost: b\r\nAuthorization: ${token}\r\n\r\n`)
  assert.equal(twice.status, 400, twice.raw)
  assert.deepEqual(twice.body.details, { host: ['must be sent once'] })
  // HTTP/1.0 needs no Host: answered as any request (closed after, as 1.0 is by default).
  const old = await ask(`GET ${issue} HTTP/1.0\r\nAuthorization: ${token}\r\n\r\n`)
  assert.equal(old.status, 200, old.raw)
  assert.match(String(old.body.tracking_number), /^[A-Z0-9]{16}$/)

  // An Expect other than 100-continue: 417 in the envelope, before auth, nothing issued.
  for (const path of [issue, '/health']) {
    const reply = await ask(`GET ${path} HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n`)
    assert.equal(reply.status, 417, `${path}: ${reply.raw}`)
    assert.equal(reply.body.code, 'expectation_failed')
    assert.deepEqual(reply.body.details, { expect: ['only 100-continue is supported'] })
  }
  // 100-continue still works as Node does it: an interim 100, then the answer.
  const body = JSON.stringify({ ...validIssue, count: 2 })
  const continued = exchange(
    port,
    `POST /tracking-numbers/batch HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
  )
  await sleep(100)
  continued.socket.write(body)
  const answered = await continued.reply
  assert.match(answered, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /)

  // CONNECT: Node would drop the connection unanswered. The client's plain request id is kept, as
  // on every reply, and the reply carries every API reply's headers.
  const connect = await ask(
    'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Request-Id: my-id-1\r\n\r\n',
  )
  assert.equal(connect.status, 400, connect.raw)
  assert.equal(connect.body.code, 'bad_request')
  assert.deepEqual(connect.body.details, { method: ['must not be CONNECT'] })
  assert.match(connect.headers, /\r\nx-request-id: my-id-1\r\n/)
  assert.equal(connect.body.correlation_id, 'my-id-1')
  for (const header of [
    'x-content-type-options: nosniff',
    'x-frame-options: deny',
    'cache-control: no-store',
    'date: ',
  ]) {
    assert.ok(connect.headers.includes(`\r\n${header}`), `${header} in ${connect.headers}`)
  }
})

test('nothing pipelined behind a refused request is served, and a 417 closes its connection', async (t) => {
  const app = await build(t)
  const port = await listening(app)
  const { authorization: token } = await bearer('client')
  const db = openDatabase(t, app.databaseUrl)
  const stored = () => storedNumbers(db)
  const issue = `GET ${issueUrl(validIssue)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\n\r\n`
  const refusals = [
    `GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
    `GET ${issueUrl(validIssue)} HTTP/1.1\r\nAuthorization: ${token}\r\n\r\n`,
    `GET /health HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n`,
  ]
  for (const refusal of refusals) {
    // One write: Node parses both requests from one packet, and emits each at once.
    const raw = await exchange(port, refusal + issue + issue).reply
    assert.equal(raw.match(/^HTTP\/1\.1 /gm)?.length, 1, raw)
    assert.match(raw, /^HTTP\/1\.1 (400|417) /)
    assert.match(raw.toLowerCase(), /\r\nconnection: close\r\n/)
  }
  assert.equal(await stored(), 0, 'no number issued behind a refused request')
  // The connection stays usable for requests that are served.
  const served = await exchange(port, issue.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')).reply
  assert.match(served, /^HTTP\/1\.1 200 /)
  assert.equal(await stored(), 1)

  // A 417 answered before the body: the body is not read as the next request; the connection closes.
  const { socket, reply } = exchange(
    port,
    `POST /tracking-numbers/batch HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 40\r\nExpect: teapot\r\n\r\n',
  )
  const closed = await Promise.race([reply, sleep(3_000).then(() => 'still open')])
  socket.destroy()
  assert.match(closed, /^HTTP\/1\.1 417 /)
})

test('CONNECT: a client that resets or keeps its side open costs the service nothing', async (t) => {
  const app = await build(t)
  const port = await listening(app)
  // A reset after the answer (the answer left unread): an unhandled socket error would end the process.
  for (let i = 0; i < 3; i++) {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n')
    await sleep(100)
    socket.resetAndDestroy()
  }
  await sleep(200)
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200)
  // A client that keeps its half open and writes on: the service lets the connection go all the same.
  const connections = () =>
    new Promise<number>((resolve, reject) =>
      app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    )
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  t.after(() => socket.destroy())
  socket.on('error', () => {})
  socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n')
  let answer = ''
  socket.on('data', (chunk) => {
    answer += chunk
  })
  await sleep(300)
  assert.equal(await connections(), 1)
  socket.write('more bytes')
  const deadline = Date.now() + 3_000
  while ((await connections()) > 0 && Date.now() < deadline) await sleep(100)
  assert.match(answer, /^HTTP\/1\.1 400 /)
  assert.equal(await connections(), 0, 'the service let the connection go')
})
