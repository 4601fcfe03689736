import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hasValidCheckCharacter } from '../../src/tracking/check-character.js'
import { build, issueUrl, openDatabase, validIssue } from '../helpers/build.js'

const NUMBER = /^[A-Z0-9]{16}$/

test('GET /next-tracking-number issues a stored number with the documented reply', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: issueUrl() })
  assert.equal(res.statusCode, 200)
  const body = res.json()
  assert.match(body.tracking_number, NUMBER)
  assert.ok(hasValidCheckCharacter(body.tracking_number))
  assert.ok(!Number.isNaN(Date.parse(body.created_at)))
  assert.equal(body.correlation_id, res.headers['x-request-id'])
  assert.deepEqual(body.request_metadata, {
    origin_country: 'MY',
    destination_country: 'ID',
    weight_kg: '1.234',
    customer_id: validIssue.customer_id,
    customer_name: 'RedBox Logistics',
    customer_slug: 'redbox-logistics',
    order_created_at: '2018-11-20T19:29:32+08:00',
  })

  const row = await openDatabase(t, app.databaseUrl)
    .selectFrom('tracking_numbers')
    .selectAll()
    .where('tracking_number', '=', body.tracking_number)
    .executeTakeFirstOrThrow()
  assert.equal(row.weight_grams, 1234)
  assert.equal(row.order_created_at, '2018-11-20T19:29:32+08:00')
})

test('the same call is answered at /next-tracking-number/ and /api/next-tracking-number/', async (t) => {
  const app = await build(t)
  const numbers = new Set<string>()
  for (const path of ['/next-tracking-number', '/next-tracking-number/', '/api/next-tracking-number/']) {
    const res = await app.inject({ url: issueUrl(validIssue, path) })
    assert.equal(res.statusCode, 200, path)
    numbers.add(res.json().tracking_number)
  }
  assert.equal(numbers.size, 3)
})

test('weights keep exactly three decimals', async (t) => {
  const app = await build(t)
  for (const [weight, expected] of [
    ['0.001', '0.001'],
    ['2', '2.000'],
    ['10.5', '10.500'],
    ['999999.999', '999999.999'],
  ] as const) {
    const res = await app.inject({ url: issueUrl({ ...validIssue, weight }) })
    assert.equal(res.json().request_metadata.weight_kg, expected, weight)
  }
})

test('POST /tracking/generate/ answers 201 with id, uuid, number and time', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    payload: { ...validIssue, weight: 1.5 },
  })
  assert.equal(res.statusCode, 201)
  const body = res.json()
  assert.deepEqual(Object.keys(body).sort(), ['created_at', 'id', 'tracking_number', 'uuid'])
  assert.equal(typeof body.id, 'number')
  assert.match(body.uuid, /^[0-9a-f-]{36}$/)
  const stored = await app.inject({ url: `/tracking-numbers/${body.tracking_number}` })
  assert.equal(stored.statusCode, 200)
  assert.equal(stored.json().uuid, body.uuid)
  assert.equal(stored.json().request_metadata.weight_kg, '1.500')
})

test('POST /tracking-numbers/batch issues count distinct numbers, all stored', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/tracking-numbers/batch',
    payload: { ...validIssue, count: 1000 },
  })
  assert.equal(res.statusCode, 201)
  const numbers: string[] = res.json().tracking_numbers
  assert.equal(numbers.length, 1000)
  assert.equal(new Set(numbers).size, 1000)
  const rows = await openDatabase(t, app.databaseUrl)
    .selectFrom('tracking_numbers')
    .select('tracking_number')
    .where('tracking_number', 'in', numbers)
    .execute()
  assert.equal(rows.length, 1000)

  for (const count of [0, 1001, 'ten']) {
    const bad = await app.inject({
      method: 'POST',
      url: '/tracking-numbers/batch',
      payload: { ...validIssue, count },
    })
    assert.equal(bad.statusCode, 400, String(count))
    assert.ok(bad.json().details.count, String(count))
  }
})

test('GET /tracking-numbers/:n returns the record, 404 for an unknown one', async (t) => {
  const app = await build(t)
  const issued = (await app.inject({ url: issueUrl() })).json()
  const res = await app.inject({ url: `/tracking-numbers/${issued.tracking_number}` })
  assert.equal(res.statusCode, 200)
  assert.equal(res.json().tracking_number, issued.tracking_number)
  assert.deepEqual(res.json().request_metadata, issued.request_metadata)

  // Typed from a label in lower case: the same number.
  const lower = await app.inject({ url: `/tracking-numbers/${issued.tracking_number.toLowerCase()}` })
  assert.equal(lower.statusCode, 200)
  assert.equal(lower.json().tracking_number, issued.tracking_number)
  // Only ASCII letters fold: Unicode look-alikes (dotless ı, long ſ) are not the same number.
  for (const [ascii, lookalike] of [
    ['I', 'ı'],
    ['S', 'ſ'],
  ] as const) {
    const index = issued.tracking_number.indexOf(ascii)
    if (index < 0) continue
    const spoof = `${issued.tracking_number.slice(0, index)}${lookalike}${issued.tracking_number.slice(index + 1)}`
    assert.equal(
      (await app.inject({ url: `/tracking-numbers/${encodeURIComponent(spoof)}` })).statusCode,
      400,
    )
  }

  // A well-formed number with a valid check character that was never issued.
  let unknown = '000000000000000'
  for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') {
    if (hasValidCheckCharacter(unknown + c)) {
      unknown += c
      break
    }
  }
  const missing = await app.inject({ url: `/tracking-numbers/${unknown}` })
  assert.equal(missing.statusCode, 404)
  assert.equal(missing.json().code, 'not_found')
})

test('a mistyped or malformed number is a 400 that says which, without touching the database', async (t) => {
  const app = await build(t)
  const issued: string = (await app.inject({ url: issueUrl() })).json().tracking_number
  const typo = `${issued.slice(0, 5)}${issued[5] === 'A' ? 'B' : 'A'}${issued.slice(6)}`
  const swapped = `${issued.slice(0, 3)}${issued[4]}${issued[3]}${issued.slice(5)}`

  // With the database closed, only an answer that never queries it can still be a 400.
  const db = openDatabase(t, app.databaseUrl)
  // PostgreSQL refuses to drop a table a view (tracking_records, migration 0011) depends on.
  await db.schema.dropView('tracking_records').execute()
  await db.schema.dropTable('tracking_numbers').execute()

  for (const bad of [typo, ...(issued[3] !== issued[4] ? [swapped] : [])]) {
    const res = await app.inject({ url: `/tracking-numbers/${bad}` })
    assert.equal(res.statusCode, 400, bad)
    assert.match(res.json().details.tracking_number[0], /check character/i)
  }
  for (const bad of ['SHORT', 'abc', '0123456789ABCDEF0', 'ABC-DEFGHIJKLMNO', 'ÄBCDEFGHIJKLMNOP']) {
    const res = await app.inject({ url: `/tracking-numbers/${bad}` })
    assert.equal(res.statusCode, 400, bad)
    assert.ok(res.json().details.tracking_number, bad)
  }
  // The real lookup does reach the (now broken) database: proof the 400s above did not.
  const real = await app.inject({ url: `/tracking-numbers/${issued}` })
  assert.equal(real.statusCode, 503)
})

test('Idempotency-Key: same key and request → same number; different request → 409', async (t) => {
  const app = await build(t)
  const headers = { 'idempotency-key': 'order-42' }
  const first = await app.inject({ url: issueUrl(), headers })
  const again = await app.inject({ url: issueUrl(), headers })
  assert.equal(first.statusCode, 200)
  assert.equal(again.statusCode, 200)
  assert.equal(again.json().tracking_number, first.json().tracking_number)

  const concurrent = await Promise.all(
    Array.from({ length: 20 }, () =>
      app.inject({ url: issueUrl(), headers: { 'idempotency-key': 'burst' } }),
    ),
  )
  assert.equal(new Set(concurrent.map((r) => r.json().tracking_number)).size, 1)

  // The same key with two different requests at the same moment: one wins, the other is a 409.
  const race = await Promise.all([
    app.inject({ url: issueUrl(), headers: { 'idempotency-key': 'race' } }),
    app.inject({ url: issueUrl({ ...validIssue, weight: '9' }), headers: { 'idempotency-key': 'race' } }),
  ])
  assert.deepEqual(race.map((r) => r.statusCode).sort(), [200, 409])

  const other = await app.inject({ url: issueUrl({ ...validIssue, weight: '2' }), headers })
  assert.equal(other.statusCode, 409)
  assert.ok(other.json().details['idempotency-key'])

  const otherOperation = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    payload: validIssue,
    headers,
  })
  assert.equal(otherOperation.statusCode, 409)

  const batchHeaders = { 'idempotency-key': 'batch-1' }
  const payload = { ...validIssue, count: 5 }
  const b1 = await app.inject({
    method: 'POST',
    url: '/tracking-numbers/batch',
    payload,
    headers: batchHeaders,
  })
  const b2 = await app.inject({
    method: 'POST',
    url: '/tracking-numbers/batch',
    payload,
    headers: batchHeaders,
  })
  assert.deepEqual(b2.json().tracking_numbers, b1.json().tracking_numbers)

  const count = await openDatabase(t, app.databaseUrl)
    .selectFrom('tracking_numbers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
  assert.equal(Number(count.n), 1 + 1 + 1 + 5)
})

test('x-request-id is kept when sent, generated when not, and unsafe ids are replaced', async (t) => {
  const app = await build(t)
  const sent = await app.inject({ url: '/health', headers: { 'x-request-id': 'abc-123' } })
  assert.equal(sent.headers['x-request-id'], 'abc-123')
  const generated = await app.inject({ url: '/health' })
  assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/)
  const unsafe = await app.inject({ url: '/health', headers: { 'x-request-id': 'evil\nline' } })
  assert.notEqual(unsafe.headers['x-request-id'], 'evil\nline')
  const error = await app.inject({ url: issueUrl({}), headers: { 'x-request-id': 'trace-9' } })
  assert.equal(error.json().correlation_id, 'trace-9')
})

test('/health, /ready, /metrics, /openapi.json and /docs answer', async (t) => {
  const app = await build(t)
  assert.deepEqual((await app.inject({ url: '/health' })).json(), { status: 'ok' })
  // PostgreSQL: also the synchronous standbys, once the primary was asked (none on the test server).
  const { synchronous_standbys: standbys, ...ready } = (await app.inject({ url: '/ready' })).json()
  assert.deepEqual(ready, { status: 'ready' })
  assert.ok(standbys === undefined || standbys === 0)

  await app.inject({ url: issueUrl() })
  const metrics = await app.inject({ url: '/metrics' })
  assert.equal(metrics.statusCode, 200)
  for (const name of [
    'http_request_duration_seconds_bucket',
    'tracking_numbers_issued_total 1',
    'tracking_blocks_reserved_total',
    'tracking_commit_batch_size_bucket',
    'tracking_commit_duration_seconds_bucket',
  ]) {
    assert.ok(metrics.body.includes(name), name)
  }
  assert.match(
    metrics.body,
    /http_request_duration_seconds_count\{method="GET",route="\/next-tracking-number",status_code="200"\} 1/,
  )

  const openapi = (await app.inject({ url: '/openapi.json' })).json()
  assert.ok(openapi.paths['/next-tracking-number'].get)
  assert.ok(openapi.paths['/tracking-numbers/batch'].post)
  const docs = await app.inject({ url: '/docs/' })
  assert.equal(docs.statusCode, 200)
  assert.match(docs.body, /swagger/i)
})

test('a malformed URL is a 400 in the error envelope, with its request id', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/tracking-numbers/%ZZ', headers: { 'x-request-id': 'bad-url-1' } })
  assert.equal(res.statusCode, 400)
  assert.deepEqual(Object.keys(res.json()).sort(), ['code', 'correlation_id', 'details', 'error'])
  assert.equal(res.json().correlation_id, 'bad-url-1')
  assert.equal(res.headers['x-request-id'], 'bad-url-1')
})

test('an unknown route is a 404 in the error envelope', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/nope' })
  assert.equal(res.statusCode, 404)
  assert.deepEqual(Object.keys(res.json()).sort(), ['code', 'correlation_id', 'details', 'error'])
})

test('HEAD on the issuing route issues nothing', async (t) => {
  const app = await build(t)
  const head = await app.inject({ method: 'HEAD', url: issueUrl() })
  assert.notEqual(head.statusCode, 200)
  const rows = await openDatabase(t, app.databaseUrl)
    .selectFrom('tracking_numbers')
    .select('sequence')
    .execute()
  assert.equal(rows.length, 0)
})

test('a batch stores and shows any customer name as sent, and a replay answers the same reply', async (t) => {
  const app = await build(t)
  // Values an array literal would misread unquoted: a comma splits one value in two.
  const names = ['Acme,Inc', 'a,b,c', 'NULL', 'x,null', '{a}', 'a"b', 'a\\b', 'Ünïcødé', 'x'.repeat(200)]
  for (const [i, customer_name] of names.entries()) {
    const payload = { ...validIssue, customer_name, count: 3 }
    const headers = { 'idempotency-key': `names-${i}` }
    for (const withKey of [false, true]) {
      const res = await app.inject({
        method: 'POST',
        url: '/tracking-numbers/batch',
        payload,
        ...(withKey ? { headers } : {}),
      })
      assert.equal(res.statusCode, 201, `${customer_name}: ${res.body}`)
      const body = res.json()
      assert.equal(body.request_metadata.customer_name, customer_name)
      for (const number of body.tracking_numbers) {
        const stored = await app.inject({ url: `/tracking-numbers/${number}` })
        assert.equal(stored.statusCode, 200, customer_name)
        assert.deepEqual(stored.json().request_metadata, body.request_metadata, customer_name)
        assert.equal(stored.json().created_at, body.created_at, customer_name)
      }
      if (withKey) {
        const again = await app.inject({ method: 'POST', url: '/tracking-numbers/batch', payload, headers })
        assert.equal(again.statusCode, 201)
        const replayed = again.json()
        assert.deepEqual(
          [replayed.tracking_numbers, replayed.created_at, replayed.request_metadata],
          [body.tracking_numbers, body.created_at, body.request_metadata],
          customer_name,
        )
      }
    }
  }
})
