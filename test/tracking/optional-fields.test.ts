import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config.js'
import { build, issueUrl, type TestApp, testEnv, validIssue } from '../helpers/build.js'

const NONE = {
  origin_country: null,
  destination_country: null,
  weight_kg: null,
  customer_id: null,
  customer_name: null,
  customer_slug: null,
  order_created_at: null,
}

async function lookup(app: TestApp, trackingNumber: string) {
  const res = await app.inject({ url: `/tracking-numbers/${trackingNumber}` })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().request_metadata
}

test('POST /tracking/generate/ with no body, as the seed documents it: 201, stored with every field absent', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/tracking/generate/' })
  assert.equal(res.statusCode, 201, res.body)
  const body = res.json()
  assert.deepEqual(Object.keys(body).sort(), ['created_at', 'id', 'tracking_number', 'uuid'])
  assert.deepEqual(await lookup(app, body.tracking_number), NONE)

  // A subset is stored as sent; a field sent is validated as ever.
  const some = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    payload: { weight: '1.5', customer_slug: 'redbox' },
  })
  assert.equal(some.statusCode, 201, some.body)
  assert.deepEqual(await lookup(app, some.json().tracking_number), {
    ...NONE,
    weight_kg: '1.500',
    customer_slug: 'redbox',
  })
  const bad = await app.inject({ method: 'POST', url: '/tracking/generate/', payload: { weight: '0' } })
  assert.equal(bad.statusCode, 400, bad.body)
  assert.deepEqual(Object.keys(bad.json().details), ['weight'])
  const empty = await app.inject({
    method: 'POST',
    url: '/tracking/generate/',
    headers: { 'content-type': 'application/json' },
    payload: '{}',
  })
  assert.equal(empty.statusCode, 201, empty.body)
})

test('TRACKING_REQUIRED_FIELDS=none: the seed sample of three parameters is issued; the rest are null', async (t) => {
  const app = await build(t, { TRACKING_REQUIRED_FIELDS: 'none' })
  const { origin_country_id, destination_country_id, weight } = validIssue
  const res = await app.inject({ url: issueUrl({ origin_country_id, destination_country_id, weight }) })
  assert.equal(res.statusCode, 200, res.body)
  const expected = { ...NONE, origin_country: 'MY', destination_country: 'ID', weight_kg: '1.234' }
  assert.deepEqual(res.json().request_metadata, expected)
  assert.deepEqual(await lookup(app, res.json().tracking_number), expected)
  const nothing = await app.inject({ url: '/next-tracking-number' })
  assert.equal(nothing.statusCode, 200, nothing.body)
  const bad = await app.inject({ url: issueUrl({ weight: 'heavy' }) })
  assert.equal(bad.statusCode, 400, bad.body)
  assert.deepEqual(Object.keys(bad.json().details), ['weight'])
  // With fields optional a misspelt one would be stored as absent: it is refused, by name.
  const typo = await app.inject({ url: '/next-tracking-number?weigth=2.5&origin_country_id=MY' })
  assert.equal(typo.statusCode, 400, typo.body)
  assert.deepEqual(Object.keys(typo.json().details), ['weigth'])
  const batch = await app.inject({ method: 'POST', url: '/tracking-numbers/batch/', payload: { count: 100 } }) // over 64: PostgreSQL's unnest insert
  assert.equal(batch.statusCode, 201, batch.body)
  assert.deepEqual(batch.json().request_metadata, NONE)
})

test('TRACKING_REQUIRED_FIELDS names what must be sent; the default is all seven, as before', async (t) => {
  const app = await build(t, { TRACKING_REQUIRED_FIELDS: 'weight, created_at' })
  const { weight, created_at } = validIssue
  const ok = await app.inject({ url: issueUrl({ weight, created_at }) })
  assert.equal(ok.statusCode, 200, ok.body)
  const missing = await app.inject({ url: issueUrl({ weight }) })
  assert.equal(missing.statusCode, 400, missing.body)
  assert.deepEqual(missing.json().details, { created_at: ['is required'] })

  const all = await build(t)
  // Every field required: a parameter of the carrier's own (a cache buster) passes.
  const extra = await all.inject({ url: `${issueUrl()}&_=1712345678` })
  assert.equal(extra.statusCode, 200, extra.body)
  const refused = await all.inject({ url: issueUrl({ weight }) })
  assert.equal(refused.statusCode, 400)
  assert.deepEqual(Object.keys(refused.json().details).sort(), [
    'created_at',
    'customer_id',
    'customer_name',
    'customer_slug',
    'destination_country_id',
    'origin_country_id',
  ])
  assert.deepEqual(refused.json().details.created_at, ['is required'])
})

test('a TRACKING_REQUIRED_FIELDS that names no field, or leaves out the lane of route numbers, stops the start', () => {
  const load = (env: Record<string, string>) => loadConfig(testEnv('sqlite::memory:', env))
  assert.throws(
    () => load({ TRACKING_REQUIRED_FIELDS: 'weight,wieght' }),
    (error: Error) => {
      assert.ok(error instanceof ConfigError)
      assert.match(error.message, /^TRACKING_REQUIRED_FIELDS: .*"wieght" is not one/)
      return true
    },
  )
  assert.throws(
    () => load({ TRACKING_REQUIRED_FIELDS: 'none', TRACKING_FORMAT: 'route' }),
    /TRACKING_REQUIRED_FIELDS: must include origin_country_id and destination_country_id/,
  )
  assert.deepEqual(load({}).tracking.requiredFields.length, 7)
  assert.deepEqual(load({ TRACKING_REQUIRED_FIELDS: 'NONE' }).tracking.requiredFields, [])
})
