import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { InjectOptions } from 'fastify'
import { pageLinks } from '../../src/pagination.js'
import { build, type TestApp } from '../helpers/build.js'

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
