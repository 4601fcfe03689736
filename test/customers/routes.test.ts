import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { InjectOptions } from 'fastify'
import { createCustomerRepository } from '../../src/customers/repository.js'
import { createCustomerService } from '../../src/customers/service.js'
import type { AppError } from '../../src/http/errors.js'
import { bearer, build, migratedDatabase, openDatabase, type TestApp } from '../helpers/build.js'

const acme = { name: 'Acme Freight', code: 'CUST001', phone_number: '+254722000000' }

async function create(app: TestApp, fields: Record<string, unknown> = acme) {
  const res = await app.inject({ method: 'POST', url: '/api/customers/', payload: fields })
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}

/** The fields named in a 400's details. */
async function invalidFields(app: TestApp, request: InjectOptions): Promise<string[]> {
  const res = await app.inject(request)
  assert.equal(res.statusCode, 400, `${JSON.stringify(request.payload)}: ${res.body}`)
  assert.equal(res.json().code, 'validation_failed')
  return Object.keys(res.json().details).sort()
}

test('POST creates a customer: 201, phone stored as E.164, email null when left out', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const body = await create(app, { ...acme, phone_number: '+254 722-000 000' })
  assert.deepEqual(Object.keys(body).sort(), [
    'code',
    'created_at',
    'email',
    'id',
    'name',
    'phone_number',
    'updated_at',
  ])
  assert.equal(typeof body.id, 'number')
  assert.equal(body.phone_number, '+254722000000')
  assert.equal(body.email, null)
  assert.equal(body.created_at, body.updated_at)
  assert.ok(!Number.isNaN(Date.parse(body.created_at)))

  const row = await openDatabase(t, app.databaseUrl)
    .selectFrom('customers')
    .selectAll()
    .where('id', '=', body.id)
    .executeTakeFirstOrThrow()
  assert.deepEqual(row, body)

  const withEmail = await create(app, {
    name: 'Bolt',
    code: 'B2',
    phone_number: '+442071838750',
    email: 'ops@bolt.example',
    id: 999, // unknown and read-only fields are ignored, as everywhere in the API
    created_at: '2000-01-01T00:00:00.000Z',
  })
  assert.equal(withEmail.email, 'ops@bolt.example')
  assert.notEqual(withEmail.id, 999)
  assert.notEqual(withEmail.created_at, '2000-01-01T00:00:00.000Z')
})

test('GET /:id returns the customer; an unknown id is a 404, a malformed one a 400', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const created = await create(app)
  for (const url of [`/api/customers/${created.id}`, `/api/customers/${created.id}/`]) {
    const res = await app.inject({ url })
    assert.equal(res.statusCode, 200, url)
    assert.deepEqual(res.json(), created)
  }
  const missing = await app.inject({ url: '/api/customers/4242' })
  assert.equal(missing.statusCode, 404)
  assert.equal(missing.json().code, 'not_found')
  for (const id of ['abc', '0', '-1', '1.5', '99999999999']) {
    assert.deepEqual(await invalidFields(app, { url: `/api/customers/${id}` }), ['id'], id)
  }
})

test('PUT replaces every field; an email left out is removed', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const created = await create(app, { ...acme, email: 'ops@acme.example' })
  const res = await app.inject({
    method: 'PUT',
    url: `/api/customers/${created.id}/`,
    payload: { name: 'Acme Ltd', code: 'ACME', phone_number: '+44 20 7183 8750' },
  })
  assert.equal(res.statusCode, 200, res.body)
  const body = res.json()
  assert.deepEqual(
    { ...body, updated_at: undefined },
    {
      ...created,
      name: 'Acme Ltd',
      code: 'ACME',
      phone_number: '+442071838750',
      email: null,
      updated_at: undefined,
    },
  )
  assert.ok(body.updated_at >= created.updated_at)
  assert.deepEqual((await app.inject({ url: `/api/customers/${created.id}` })).json(), body)

  const partial = { method: 'PUT' as const, url: `/api/customers/${created.id}`, payload: { name: 'X' } }
  assert.deepEqual(await invalidFields(app, partial), ['code', 'phone_number'])
  const missing = await app.inject({ method: 'PUT', url: '/api/customers/4242', payload: acme })
  assert.equal(missing.statusCode, 404)
})

test('PATCH changes only the fields given; email null removes it; {} changes nothing', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const created = await create(app, { ...acme, email: 'ops@acme.example' })
  const url = `/api/customers/${created.id}/`
  const renamed = await app.inject({ method: 'PATCH', url, payload: { name: 'Acme Two', id: 7 } })
  assert.equal(renamed.statusCode, 200, renamed.body)
  assert.deepEqual(
    { ...renamed.json<object>(), updated_at: created.updated_at },
    { ...created, name: 'Acme Two' },
  )

  const phone = await app.inject({ method: 'PATCH', url, payload: { phone_number: '+254 733 000 000' } })
  assert.equal(phone.json().phone_number, '+254733000000')
  assert.equal(phone.json().email, 'ops@acme.example')
  const cleared = await app.inject({ method: 'PATCH', url, payload: { email: null } })
  assert.equal(cleared.json().email, null)
  assert.equal(cleared.json().name, 'Acme Two')

  const nothing = await app.inject({ method: 'PATCH', url, payload: {} })
  assert.equal(nothing.statusCode, 200)
  assert.deepEqual(nothing.json(), cleared.json())
  const missing = await app.inject({ method: 'PATCH', url: '/api/customers/4242', payload: { name: 'X' } })
  assert.equal(missing.statusCode, 404)
})

test('DELETE removes the customer (204); an unknown id is a 404', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const created = await create(app)
  const res = await app.inject({ method: 'DELETE', url: `/api/customers/${created.id}/` })
  assert.equal(res.statusCode, 204)
  assert.equal(res.body, '')
  assert.equal((await app.inject({ url: `/api/customers/${created.id}` })).statusCode, 404)
  const again = await app.inject({ method: 'DELETE', url: `/api/customers/${created.id}` })
  assert.equal(again.statusCode, 404)
  // The code and phone number are free again.
  await create(app)
})

test('a customer with orders is not deleted: 409 naming its code', async (t) => {
  const db = await migratedDatabase(t)
  const repository = createCustomerRepository(db)
  const withOrders = new Set<number>()
  const service = createCustomerService({ repository, hasOrders: async (id) => withOrders.has(id) })
  const customer = await service.create(acme)
  withOrders.add(customer.id)
  await assert.rejects(service.remove(customer.id), (error: AppError) => {
    assert.equal(error.code, 'conflict')
    assert.equal(error.statusCode, 409)
    assert.equal(error.message, 'Customer CUST001 has orders; it cannot be deleted')
    return true
  })
  assert.ok(await repository.findById(customer.id), 'still there')
  withOrders.clear()
  await service.remove(customer.id)
  assert.equal(await repository.findById(customer.id), undefined)
})

test('every validation error is a 400 naming its field', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const post = (payload: Record<string, unknown>) =>
    invalidFields(app, { method: 'POST', url: '/api/customers', payload })
  assert.deepEqual(await post({}), ['code', 'name', 'phone_number'])
  assert.deepEqual(await invalidFields(app, { method: 'POST', url: '/api/customers' }), ['body'])
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ code: 'cust001' }, 'code'],
    [{ code: 'C' }, 'code'],
    [{ code: 'CUST-001' }, 'code'],
    [{ code: 'C'.repeat(33) }, 'code'],
    [{ code: 1 }, 'code'],
    [{ name: '' }, 'name'],
    [{ name: 'N'.repeat(201) }, 'name'],
    [{ name: 'line\nbreak' }, 'name'],
    [{ email: 'not-an-email' }, 'email'],
    [{ email: `${'a'.repeat(250)}@x.example` }, 'email'],
    [{ email: 42 }, 'email'],
    [{ phone_number: '' }, 'phone_number'],
    [{ phone_number: 254722000000 }, 'phone_number'],
    [{ phone_number: 'P'.repeat(41) }, 'phone_number'],
  ]
  for (const [fields, field] of cases) assert.deepEqual(await post({ ...acme, ...fields }), [field])

  for (const phone of [
    '0722000000', // national form
    '254722000000', // no +
    '+25472200000', // too short for Kenya
    '+254 722',
    '+999123456', // no such country code
    '+1 800 FLOWERS',
    '+254722000000 ext. 12',
    'call +254722000000',
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/customers',
      payload: { ...acme, phone_number: phone },
    })
    assert.equal(res.statusCode, 400, phone)
    assert.deepEqual(res.json().details, {
      phone_number: ['must be a valid phone number in international format, e.g. +254722000000'],
    })
  }
  const created = await create(app)
  const url = `/api/customers/${created.id}`
  assert.deepEqual(await invalidFields(app, { method: 'PATCH', url, payload: { code: 'low' } }), ['code'])
  assert.deepEqual(await invalidFields(app, { method: 'PATCH', url, payload: { name: null } }), ['name'])
  const phone = { method: 'PATCH' as const, url, payload: { phone_number: '0722000000' } }
  assert.deepEqual(await invalidFields(app, phone), ['phone_number'])
  const put = { method: 'PUT' as const, url, payload: { ...acme, email: 'x@' } }
  assert.deepEqual(await invalidFields(app, put), ['email'])
  assert.deepEqual((await app.inject({ url })).json(), created, 'nothing changed')
})

test('junk text is a 400 naming the field: blank, padded, line separators, half characters', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const post = (payload: Record<string, unknown>) =>
    invalidFields(app, { method: 'POST', url: '/api/customers', payload })
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ name: '   ' }, 'name'],
    [{ name: '\u00a0\u3000' }, 'name'],
    [{ name: '\u200b' }, 'name'],
    [{ name: ' Acme' }, 'name'],
    [{ name: 'Acme ' }, 'name'],
    [{ name: 'Acme\t' }, 'name'],
    [{ name: 'line\u2028separator' }, 'name'],
    [{ name: 'paragraph\u2029separator' }, 'name'],
    [{ name: 'next\u0085line' }, 'name'],
    [{ name: 'half \ud83d emoji' }, 'name'],
    [{ code: 'CUST001\n' }, 'code'],
    [{ code: ' CUST001' }, 'code'],
    [{ email: ' ops@acme.example' }, 'email'],
    [{ email: 'ops@acme.example\n' }, 'email'],
    [{ phone_number: '+254\n722000000' }, 'phone_number'],
    [{ phone_number: '+254\u2028722000000' }, 'phone_number'],
    [{ phone_number: '   ' }, 'phone_number'],
  ]
  for (const [fields, field] of cases) assert.deepEqual(await post({ ...acme, ...fields }), [field])

  const blank = await app.inject({ method: 'POST', url: '/api/customers', payload: { ...acme, name: '  ' } })
  assert.deepEqual(blank.json().details, { name: ['must not be blank'] })
  const padded = await app.inject({ method: 'POST', url: '/api/customers', payload: { ...acme, name: 'A ' } })
  assert.deepEqual(padded.json().details, { name: ['must not start or end with whitespace'] })
  const separator = await app.inject({
    method: 'POST',
    url: '/api/customers',
    payload: { ...acme, name: 'a\u2028b' },
  })
  assert.match(separator.json().details.name[0], /line breaks/)

  const created = await create(app)
  const url = `/api/customers/${created.id}`
  for (const name of ['   ', 'x\u2029']) {
    assert.deepEqual(await invalidFields(app, { method: 'PATCH', url, payload: { name } }), ['name'])
    assert.deepEqual(await invalidFields(app, { method: 'PUT', url, payload: { ...acme, name } }), ['name'])
  }
  assert.deepEqual((await app.inject({ url })).json(), created, 'nothing changed')
})

test('a phone number is trimmed: whitespace before or after it is dropped alike', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const leading = await create(app, { ...acme, phone_number: ' +254722000000' })
  assert.equal(leading.phone_number, '+254722000000')
  const trailing = await create(app, { name: 'Bolt', code: 'BOLT', phone_number: '+254 733 000 000 ' })
  assert.equal(trailing.phone_number, '+254733000000')
  const url = `/api/customers/${trailing.id}`
  const patched = await app.inject({ method: 'PATCH', url, payload: { phone_number: '\t+254744000000\n' } })
  assert.equal(patched.json().phone_number, '+254744000000')
  assert.deepEqual(
    await invalidFields(app, {
      method: 'POST',
      url: '/api/customers',
      payload: { name: 'C', code: 'C3', phone_number: ' +254722000000 ' },
    }),
    ['phone_number'],
    'the same number, however it is padded, is taken',
  )
})

test('a bad phone number is reported with every other field, not after them', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const res = await app.inject({
    method: 'POST',
    url: '/api/customers',
    payload: { name: '', code: 'NEWC', phone_number: '12345' },
  })
  assert.equal(res.statusCode, 400)
  assert.deepEqual(res.json().details, {
    name: ['must not be empty'],
    phone_number: ['must be a valid phone number in international format, e.g. +254722000000'],
  })
  const created = await create(app)
  const patch = await app.inject({
    method: 'PATCH',
    url: `/api/customers/${created.id}`,
    payload: { code: 'low', phone_number: '+999123456' },
  })
  assert.deepEqual(Object.keys(patch.json().details).sort(), ['code', 'phone_number'])
})

test('a code or phone number another customer has is a 400 naming the field', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  await create(app)
  const other = await create(app, { name: 'Bolt', code: 'BOLT', phone_number: '+254733000000' })
  const post = (payload: Record<string, unknown>) =>
    invalidFields(app, { method: 'POST', url: '/api/customers', payload })
  assert.deepEqual(await post({ ...acme, phone_number: '+254799000000' }), ['code'])
  assert.deepEqual(await post({ ...acme, code: 'NEW', phone_number: '+254 722 000000' }), ['phone_number'])
  assert.deepEqual(await post(acme), ['code', 'phone_number'])

  const url = `/api/customers/${other.id}`
  const taken = await app.inject({ method: 'PATCH', url, payload: { code: 'CUST001' } })
  assert.deepEqual(taken.json().details, { code: ['is already taken'] })
  assert.deepEqual(
    await invalidFields(app, { method: 'PATCH', url, payload: { phone_number: acme.phone_number } }),
    ['phone_number'],
  )
  assert.deepEqual(await invalidFields(app, { method: 'PUT', url, payload: { ...acme, code: 'BOLT' } }), [
    'phone_number',
  ])
  const own = await app.inject({
    method: 'PUT',
    url,
    payload: { name: 'Bolt 2', code: 'BOLT', phone_number: '+254733000000' },
  })
  assert.equal(own.statusCode, 200, 'its own code and number are not a conflict')
})

test('every route: 401 without a token, 403 for a client, allowed for an operator', async (t) => {
  const app = await build(t, {}, { as: null })
  const routes: InjectOptions[] = [
    { method: 'GET', url: '/api/customers/' },
    { method: 'POST', url: '/api/customers/', payload: acme },
    { method: 'GET', url: '/api/customers/1' },
    { method: 'PUT', url: '/api/customers/1', payload: acme },
    { method: 'PATCH', url: '/api/customers/1', payload: { name: 'X' } },
    { method: 'DELETE', url: '/api/customers/1' },
  ]
  for (const route of routes) {
    const name = `${route.method} ${route.url}`
    const anonymous = await app.inject(route)
    assert.equal(anonymous.statusCode, 401, name)
    assert.equal(anonymous.json().code, 'unauthorized', name)
    const client = await app.inject({ ...route, headers: await bearer('client') })
    assert.equal(client.statusCode, 403, name)
    assert.equal(client.json().code, 'forbidden', name)
  }
  // The refused requests changed nothing: the operator's POST makes customer 1.
  const operator = await bearer('operator')
  const expected = [200, 201, 200, 200, 200, 204]
  for (const [i, route] of routes.entries()) {
    const res = await app.inject({ ...route, headers: operator })
    assert.equal(res.statusCode, expected[i], `${route.method} ${route.url} as operator: ${res.body}`)
  }
  assert.equal((await app.inject({ url: '/api/customers', headers: await bearer('admin') })).statusCode, 200)
})

test('integers in the query and the path are decimal digits: no exponents, hexadecimal or blanks', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  for (const [url, field] of [
    ['/api/customers/?page=1e2', 'page'],
    ['/api/customers/?page=0x10', 'page'],
    ['/api/customers/?page=%20', 'page'],
    ['/api/customers/?page_size=2.0', 'page_size'],
    ['/api/customers/0x1/', 'id'],
    ['/api/customers/1e1/', 'id'],
    ['/api/orders/?page=1e1', 'page'],
  ] as const) {
    const res = await app.inject({ url })
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`)
    assert.deepEqual(res.json().details[field], ['must be a whole number in decimal digits'], url)
  }
  // Together with the other fields' errors, at once.
  const both = await app.inject({ url: '/api/customers/?page=1e2&ordering=nope' })
  assert.deepEqual(Object.keys(both.json().details).sort(), ['ordering', 'page'])
  assert.equal((await app.inject({ url: '/api/customers/?page=1&page_size=5' })).statusCode, 200)
})
