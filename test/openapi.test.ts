import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AMOUNT_PATTERN, WEIGHT_KG_PATTERN } from '../src/http/validation.js'
import { build, type TestApp } from './helpers/build.js'

// /openapi.json against what the routes do: client generators trust every word of it.

type Schema = Record<string, unknown>
interface Operation {
  security?: unknown
  parameters?: Array<{ name: string; in: string; required?: boolean; schema: Schema }>
  requestBody?: { content: Record<string, { schema: Schema }> }
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>
}
interface Document {
  security?: unknown
  paths: Record<string, Record<string, Operation>>
}

async function documentOf(app: TestApp): Promise<Document> {
  const res = await app.inject({ url: '/openapi.json' })
  assert.equal(res.statusCode, 200)
  return res.json()
}

function* operations(doc: Document): Generator<[string, string, Operation]> {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) yield [method.toUpperCase(), path, operation]
  }
}

/** Every schema object inside `root`, however deep. */
function* schemasIn(root: unknown): Generator<Schema> {
  if (Array.isArray(root)) for (const item of root) yield* schemasIn(item)
  else if (typeof root === 'object' && root !== null) {
    yield root as Schema
    for (const value of Object.values(root)) yield* schemasIn(value)
  }
}

/** The request's fields: parameters by name, and the JSON body's properties (as `body.name`). */
function requestFields(operation: Operation): Array<[string, Schema]> {
  const fields: Array<[string, Schema]> = (operation.parameters ?? []).map((p) => [p.name, p.schema])
  const body = operation.requestBody?.content['application/json']?.schema
  for (const [name, schema] of Object.entries((body?.properties ?? {}) as Record<string, Schema>)) {
    fields.push([`body.${name}`, schema])
  }
  return fields
}

test('public routes need no token in the document; every other one documents 401 and 429', async (t) => {
  const app = await build(t, {}, { as: null })
  await app.ready()
  const doc = await documentOf(app)
  assert.deepEqual(doc.security, [{ bearer: [] }], 'a bearer token unless a route says otherwise')
  let publicOnes = 0
  for (const [method, path, operation] of operations(doc)) {
    const url = path.replace(/\{([a-z_]+)\}/g, ':$1')
    const route = app.routeAccess.find((r) => r.method === method && r.url === url)
    assert.ok(route, `${method} ${path} is a route`)
    const name = `${method} ${path} (${route.auth})`
    if (route.auth === 'public') {
      publicOnes++
      assert.deepEqual(operation.security, [], name)
    } else {
      assert.equal(operation.security, undefined, `${name} inherits the bearer requirement`)
      for (const status of ['401', '429'])
        assert.ok(operation.responses[status], `${name} documents ${status}`)
    }
  }
  assert.ok(publicOnes >= 2, 'the probes are documented')
  for (const path of ['/health', '/ready']) {
    assert.deepEqual(doc.paths[path]?.get?.security, [], path)
    const res = await app.inject({ url: path })
    assert.equal(res.statusCode, 200, `${path} answers without a token`)
  }
  const stats = doc.paths['/api/stats']?.get
  assert.deepEqual(Object.keys(stats?.responses ?? {}).sort(), ['200', '401', '403', '429'])
  const create = doc.paths['/api/customers']?.post
  assert.deepEqual(Object.keys(create?.responses ?? {}).sort(), ['201', '400', '401', '403', '409', '429'])
})

test('looking up a tracking number documents no 409: it never answers one', async (t) => {
  const app = await build(t, {}, { as: null })
  const lookup = (await documentOf(app)).paths['/tracking-numbers/{tracking_number}']?.get
  assert.deepEqual(Object.keys(lookup?.responses ?? {}).sort(), [
    '200',
    '400',
    '401',
    '403',
    '404',
    '429',
    '503',
  ])
})

test('weight and amount are documented as what they accept: a string with a pattern, or a number', async (t) => {
  const app = await build(t, {}, { as: null })
  const doc = await documentOf(app)
  const found: string[] = []
  for (const [method, path, operation] of operations(doc)) {
    for (const [field, schema] of requestFields(operation)) {
      const name = `${method} ${path} ${field}`
      // Nothing a client sends is untyped ("any" to a code generator).
      const typed = ['type', 'anyOf', 'oneOf', 'allOf', '$ref'].some((key) => key in schema)
      assert.ok(typed, `${name} has a type: ${JSON.stringify(schema)}`)
      const pattern = schema['x-weight-kg'] ? WEIGHT_KG_PATTERN : schema['x-amount'] ? AMOUNT_PATTERN : null
      if (!pattern) continue
      found.push(name)
      const forms = schema.anyOf as Schema[]
      assert.deepEqual(
        forms.map((form) => form.type),
        ['string', 'number'],
        name,
      )
      assert.equal(forms[0]?.pattern, pattern, name)
    }
  }
  for (const name of [
    'GET /next-tracking-number weight',
    'POST /tracking/generate body.weight',
    'POST /tracking-numbers/batch body.weight',
    'POST /api/orders body.weight',
    'POST /api/orders body.amount',
  ]) {
    assert.ok(found.includes(name), `${name} among ${found.join(', ')}`)
  }
})

test('null: requests may send it only where it is accepted; order replies say when it comes', async (t) => {
  const app = await build(t, {}, { as: null })
  const doc = await documentOf(app)
  const nullable: string[] = []
  for (const [method, path, operation] of operations(doc)) {
    for (const [field, schema] of requestFields(operation)) {
      if ([...schemasIn(schema)].some((s) => s.nullable === true)) nullable.push(`${method} ${path} ${field}`)
    }
  }
  // An email of null removes it (test/customers/routes.test.ts), and so does a lane or weight of
  // null in an order's correction (test/orders/corrections.test.ts: a reply sent back as a PUT);
  // nowhere else is null accepted (an order is created without them, not with null).
  assert.deepEqual(nullable.sort(), [
    'PATCH /api/customers/{id} body.email',
    'PATCH /api/orders/{id} body.destination_country_id',
    'PATCH /api/orders/{id} body.origin_country_id',
    'PATCH /api/orders/{id} body.weight',
    'POST /api/customers body.email',
    'PUT /api/customers/{id} body.email',
    'PUT /api/orders/{id} body.destination_country_id',
    'PUT /api/orders/{id} body.origin_country_id',
    'PUT /api/orders/{id} body.weight',
  ])

  const body = doc.paths['/api/orders']?.post?.requestBody?.content['application/json']?.schema as Schema
  for (const field of ['origin_country_id', 'destination_country_id', 'weight']) {
    assert.ok(!(body.required as string[]).includes(field), `${field} may be left out`)
    const description = (body.properties as Record<string, Schema>)[field]?.description
    assert.match(String(description), /leave it out.*null is not accepted/, field)
  }

  const replies: Array<[string, Schema | undefined]> = [
    [
      'POST /api/orders',
      doc.paths['/api/orders']?.post?.responses['201']?.content?.['application/json']?.schema,
    ],
    [
      'GET /api/orders/{id}',
      doc.paths['/api/orders/{id}']?.get?.responses['200']?.content?.['application/json']?.schema,
    ],
  ]
  for (const [name, reply] of replies) {
    assert.ok(reply, name)
    const properties = reply.properties as Record<string, Schema>
    for (const field of ['origin_country_id', 'destination_country_id', 'weight']) {
      assert.ok((reply.required as string[]).includes(field), `${name}: ${field} is always there`)
      assert.equal(properties[field]?.type, 'string', `${name}: ${field}`)
      assert.equal(properties[field]?.nullable, true, `${name}: ${field} may be null`)
      assert.match(String(properties[field]?.description), /null when the order was created without/)
    }
  }
})
