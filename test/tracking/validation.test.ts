import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build, issueUrl, openDatabase, validIssue } from '../helpers/build.js'

type Fields = Record<string, string>

// field → values that must each be rejected with a 400 naming that field
const BAD: Record<string, string[]> = {
  origin_country_id: ['', 'ZZ', 'XX', 'XX1', 'my', 'M', 'MYS', '12', 'EU'],
  destination_country_id: ['', 'ZZ', 'XX1', 'id', 'QQ'],
  weight: [
    '',
    '0',
    '0.000',
    '-1',
    '1.2345',
    'abc',
    '1,5',
    '1e3',
    '.5',
    '1.',
    'NaN',
    'Infinity',
    '01.5',
    '1000000',
  ],
  created_at: [
    '',
    '2018-11-20',
    '2018-11-20T19:29:32',
    '2018-11-20 19:29',
    '2018-02-30T10:00:00Z',
    '2018-13-01T10:00:00Z',
    '2018-11-20T25:00:00+08:00',
    '2018-11-20T19:29:32+8',
    'yesterday',
  ],
  customer_id: [
    '',
    'not-a-uuid',
    '12345',
    'de619854-b59b-425e-9db4-943979e1bd4',
    'de619854b59b425e9db4943979e1bd49z',
  ],
  customer_name: [
    '',
    'x'.repeat(201),
    'x'.repeat(10_000),
    'bad\u0000name',
    'line\nbreak',
    '\u001b[31mred',
    'del\u007f',
    'next\u0085line',
    'line\u2028separator',
    'paragraph\u2029separator',
    ' ',
    '   ',
    '\u00a0',
    '\u200b',
    ' RedBox',
    'RedBox ',
    'RedBox Logistics\u200b',
    '\u200fRedBox',
  ],
  customer_slug: [
    '',
    'RedBox',
    'redbox_logistics',
    'redbox--logistics',
    '-redbox',
    'redbox-',
    'red box',
    'é',
  ],
}

test('every bad value of every field is a 400 that names the field', async (t) => {
  const app = await build(t)
  for (const [field, values] of Object.entries(BAD)) {
    for (const value of values) {
      const res = await app.inject({ url: issueUrl({ ...validIssue, [field]: value }) })
      assert.equal(res.statusCode, 400, `${field}=${JSON.stringify(value.slice(0, 40))}`)
      const body = res.json()
      assert.equal(body.code, 'validation_failed')
      assert.deepEqual(Object.keys(body.details), [field], `${field}=${value.slice(0, 40)}`)
      assert.ok(body.details[field].length > 0)
      assert.equal(body.correlation_id, res.headers['x-request-id'])
    }
  }
})

test('every missing field is reported, all at once', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/next-tracking-number' })
  assert.equal(res.statusCode, 400)
  assert.deepEqual(Object.keys(res.json().details).sort(), Object.keys(validIssue).sort())
  for (const messages of Object.values(res.json().details) as string[][])
    assert.deepEqual(messages, ['is required'])

  for (const field of Object.keys(validIssue)) {
    const fields: Fields = { ...validIssue }
    delete fields[field]
    const one = await app.inject({ url: issueUrl(fields) })
    assert.equal(one.statusCode, 400)
    assert.deepEqual(one.json().details, { [field]: ['is required'] })
  }
})

test('a repeated query parameter is a 400, not an array or a 500', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: `${issueUrl()}&weight=2.5` })
  assert.equal(res.statusCode, 400)
  assert.ok(res.json().details.weight)
})

test('valid edge values are accepted', async (t) => {
  const app = await build(t)
  for (const fields of [
    { created_at: '2018-11-20T19:29:32Z' },
    { created_at: '2018-11-20T19:29:32.123456-05:30' },
    { created_at: '2020-02-29T00:00:00+00:00' },
    { customer_name: 'x'.repeat(200) },
    { customer_name: 'Ünïcödé Logistics 株式会社' },
    { customer_name: 'RedBox 📦 Logistics' },
    { customer_name: 'Re\u0301d  Box' },
    { customer_slug: 'a' },
    { customer_slug: 'redbox-logistics-2' },
    { customer_id: 'DE619854-B59B-425E-9DB4-943979E1BD49' },
    { origin_country_id: 'AX', destination_country_id: 'ZW' },
  ]) {
    const res = await app.inject({ url: issueUrl({ ...validIssue, ...fields }) })
    assert.equal(res.statusCode, 200, JSON.stringify(fields))
  }
})

test('JSON bodies: wrong types, extra decimals and broken JSON are 400s naming the problem', async (t) => {
  const app = await build(t)
  const cases: [unknown, string][] = [
    [{ ...validIssue, weight: 1.2345 }, 'weight'],
    [{ ...validIssue, weight: -2 }, 'weight'],
    [{ ...validIssue, weight: true }, 'weight'],
    [{ ...validIssue, weight: null }, 'weight'],
    [{ ...validIssue, origin_country_id: 42 }, 'origin_country_id'],
    [{ ...validIssue, customer_name: ['a'] }, 'customer_name'],
    [{ ...validIssue, customer_name: 'half \ud83d emoji' }, 'customer_name'],
    [{ ...validIssue, customer_name: '   ' }, 'customer_name'],
    [{ ...validIssue, customer_id: { id: 1 } }, 'customer_id'],
  ]
  for (const [payload, field] of cases) {
    const res = await app.inject({ method: 'POST', url: '/tracking/generate/', payload: payload as object })
    assert.equal(res.statusCode, 400, JSON.stringify(payload))
    assert.ok(res.json().details[field], `${field} in ${JSON.stringify(res.json().details)}`)
  }
  const array = await app.inject({ method: 'POST', url: '/tracking/generate/', payload: [validIssue] })
  assert.equal(array.statusCode, 400)

  const broken = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json' },
    payload: '{"origin_country_id": "MY",',
  })
  assert.equal(broken.statusCode, 400)
  assert.equal(broken.json().code, 'bad_request')

  const text = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'text/plain' },
    payload: 'hello',
  })
  assert.equal(text.statusCode, 415)

  const huge = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ ...validIssue, customer_name: 'x'.repeat(2_000_000) }),
  })
  assert.equal(huge.statusCode, 413)
})

test('bad input stores nothing and never costs a sequence value', async (t) => {
  const app = await build(t)
  for (const [field, values] of Object.entries(BAD)) {
    for (const value of values) await app.inject({ url: issueUrl({ ...validIssue, [field]: value }) })
  }
  const db = openDatabase(t, app.databaseUrl)
  const rows = await db.selectFrom('tracking_numbers').select('sequence').execute()
  assert.equal(rows.length, 0)
  const counter = await db.selectFrom('counters').select('next_value').executeTakeFirstOrThrow()
  assert.equal(Number(counter.next_value), 1, 'no block was reserved for invalid requests')
})

test('a query parameter given twice is a 400 that says so, naming it', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: `${issueUrl()}&weight=2.5&customer_name=Other` })
  assert.equal(res.statusCode, 400, res.body)
  assert.deepEqual(res.json().details, {
    weight: ['must be given once, not 2 times'],
    customer_name: ['must be given once, not 2 times'],
  })
})
