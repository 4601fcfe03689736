import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { InjectOptions } from 'fastify'
import { pageLinks } from '../../src/http/pagination.js'
import { build, openDatabase, type TestApp } from '../helpers/build.js'

async function create(app: TestApp, fields: Record<string, unknown>) {
  const res = await app.inject({ method: 'POST', url: '/api/customers/', payload: fields })
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}

/** The fields named in a 400's details. */
async function invalidFields(app: TestApp, request: InjectOptions): Promise<string[]> {
  const res = await app.inject(request)
  assert.equal(res.statusCode, 400, res.body)
  return Object.keys(res.json().details).sort()
}

test('list: count, next and previous across pages, filters kept in the links', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  for (let i = 1; i <= 5; i++) {
    await create(app, { name: `Acme ${i}`, code: `C${i}`, phone_number: `+25472200000${i}` })
  }
  await create(app, { name: 'Other', code: 'OTHER', phone_number: '+254722000009' })

  const first = (await app.inject({ url: '/api/customers/?q=acme&page_size=2' })).json()
  assert.equal(first.count, 5)
  assert.deepEqual(
    first.results.map((c: { code: string }) => c.code),
    ['C1', 'C2'],
  )
  assert.equal(first.previous, null)
  assert.equal(first.next, '/api/customers/?q=acme&page_size=2&page=2')

  const second = (await app.inject({ url: first.next })).json()
  assert.deepEqual(
    second.results.map((c: { code: string }) => c.code),
    ['C3', 'C4'],
  )
  assert.equal(second.previous, '/api/customers/?q=acme&page_size=2&page=1')
  assert.equal(second.next, '/api/customers/?q=acme&page_size=2&page=3')

  const last = (await app.inject({ url: second.next })).json()
  assert.deepEqual(
    last.results.map((c: { code: string }) => c.code),
    ['C5'],
  )
  assert.equal(last.next, null)

  const beyond = await app.inject({ url: '/api/customers?q=acme&page=9&page_size=2' })
  assert.equal(beyond.statusCode, 200)
  assert.deepEqual(beyond.json(), {
    count: 5,
    next: null,
    previous: '/api/customers?q=acme&page=3&page_size=2',
    results: [],
  })

  const all = (await app.inject({ url: '/api/customers' })).json()
  assert.deepEqual(all, { count: 6, next: null, previous: null, results: all.results })
  assert.equal(all.results.length, 6, 'the default page size is 20')

  for (const query of ['page=0', 'page=x', 'page_size=0', 'page_size=101', 'page=1.5']) {
    const [field] = query.split('=')
    assert.deepEqual(await invalidFields(app, { url: `/api/customers?${query}` }), [field], query)
  }
})

test('pageLinks keeps every other query parameter and works without a query string', () => {
  const links = pageLinks(
    { url: '/api/orders?status=new&q=a%20b&page=2' },
    { count: 45, page: 2, pageSize: 20 },
  )
  assert.deepEqual(links, {
    next: '/api/orders?status=new&q=a+b&page=3&page_size=20',
    previous: '/api/orders?status=new&q=a+b&page=1&page_size=20',
  })
  assert.deepEqual(pageLinks({ url: '/api/orders' }, { count: 0, page: 1, pageSize: 20 }), {
    next: null,
    previous: null,
  })
})

test('search q: case-insensitive in name and code, by digits in phone numbers, wildcards literal', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await create(app, { name: 'Acme Freight', code: 'ACME01', phone_number: '+254722000001' })
  await create(app, { name: 'Bolt 100% Logistics', code: 'BOLT', phone_number: '+254733123456' })
  await create(app, { name: 'Cargo_Co', code: 'CARGO7', phone_number: '+442071838750' })
  const search = async (q: string) => {
    const res = await app.inject({ url: `/api/customers/?${new URLSearchParams({ q })}` })
    assert.equal(res.statusCode, 200, res.body)
    return res
      .json()
      .results.map((c: { code: string }) => c.code)
      .sort()
  }
  assert.deepEqual(await search('fReIgHt'), ['ACME01'])
  assert.deepEqual(await search('acme0'), ['ACME01'])
  assert.deepEqual(await search('go7'), ['CARGO7'])
  assert.deepEqual(await search('733 123'), ['BOLT'])
  assert.deepEqual(await search('+44 20 7183'), ['CARGO7'])
  assert.deepEqual(await search('2547'), ['ACME01', 'BOLT'])
  assert.deepEqual(await search('%'), ['BOLT'])
  assert.deepEqual(await search('_'), ['CARGO7'])
  assert.deepEqual(await search('o_c'), ['CARGO7'])
  assert.deepEqual(await search('nobody'), [])
  assert.deepEqual(await search(''), ['ACME01', 'BOLT', 'CARGO7'])
  assert.deepEqual(await invalidFields(app, { url: '/api/customers?q=a%00b' }), ['q'])
})

test('ordering: each field both ways (names ignore case), id breaking ties, kept in the links', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const rows = [
    { name: 'delta Depot', code: 'AAA', created_at: '2026-01-03T00:00:00.000Z' },
    { name: 'Bravo Boats', code: 'MID', created_at: '2026-01-01T00:00:00.000Z' },
    { name: 'alpha Air', code: 'ZED', created_at: '2026-01-02T00:00:00.000Z' },
    { name: 'ALPHA AIR', code: 'BBB', created_at: '2026-01-01T00:00:00.000Z' },
  ]
  const ids: number[] = []
  const db = openDatabase(t, app.databaseUrl)
  for (const [i, { created_at, ...fields }] of rows.entries()) {
    const { id } = await create(app, { ...fields, phone_number: `+25472200000${i}` })
    await db.updateTable('customers').set({ created_at }).where('id', '=', id).execute()
    ids.push(id)
  }
  const [d, b, a, A] = ids
  const order = async (ordering: string) => {
    const res = await app.inject({ url: `/api/customers/?ordering=${ordering}` })
    assert.equal(res.statusCode, 200, res.body)
    return res.json().results.map((c: { id: number }) => c.id)
  }
  const expected: Record<string, unknown[]> = {
    // Case-insensitive: a byte order would put ALPHA AIR and Bravo before alpha Air.
    name: [a, A, b, d],
    code: [d, A, b, a],
    created_at: [b, A, a, d],
    id: [d, b, a, A],
  }
  for (const [field, ascending] of Object.entries(expected)) {
    assert.deepEqual(await order(field), ascending, field)
    assert.deepEqual(await order(`-${field}`), [...ascending].reverse(), `-${field}: exactly reversed`)
  }
  const unordered = (await app.inject({ url: '/api/customers/' })).json()
  assert.deepEqual(
    unordered.results.map((c: { id: number }) => c.id),
    expected.id,
    'id is the default',
  )

  const first = (await app.inject({ url: '/api/customers/?ordering=-name&page_size=3' })).json()
  assert.equal(first.next, '/api/customers/?ordering=-name&page_size=3&page=2')
  const second = (await app.inject({ url: first.next })).json()
  assert.equal(second.previous, '/api/customers/?ordering=-name&page_size=3&page=1')
  assert.deepEqual(
    [...first.results, ...second.results].map((c: { id: number }) => c.id),
    [d, b, A, a],
  )
})

test('ordering: a bad value is a 400 that lists the allowed values; OpenAPI lists them too', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const allowed = ['must be one of name, -name, code, -code, created_at, -created_at, id, -id']
  for (const query of [
    'ordering=phone_number',
    'ordering=NAME',
    'ordering=--name',
    'ordering=',
    'q=a&ordering=+name',
  ]) {
    const res = await app.inject({ url: `/api/customers/?${query}` })
    assert.equal(res.statusCode, 400, query)
    assert.deepEqual(res.json().details, { ordering: allowed }, query)
  }
  const twice = await app.inject({ url: '/api/customers/?ordering=name&ordering=code' })
  assert.deepEqual(twice.json().details, { ordering: ['must be given once, not 2 times'] })
  const anonymous = await app.inject({ url: '/api/customers/?ordering=bad', headers: { authorization: '' } })
  assert.equal(anonymous.statusCode, 401, 'authentication comes before the ordering check')

  const doc = (await app.inject({ url: '/openapi.json' })).json()
  const parameter = doc.paths['/api/customers'].get.parameters.find(
    (p: { name: string }) => p.name === 'ordering',
  )
  assert.equal(parameter.schema.default, 'id')
  assert.deepEqual(
    parameter.schema.anyOf.flatMap((s: { enum: string[] }) => s.enum),
    ['name', '-name', 'code', '-code', 'created_at', '-created_at', 'id', '-id'],
  )
})
