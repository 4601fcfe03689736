import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { KyselyPlugin } from 'kysely'
import { parseTrackingKey } from '../../src/config.js'
import { checkCharacter } from '../../src/tracking/check-character.js'
import { resolveTrackingKey, TrackingKeyError } from '../../src/tracking/key.js'
import { build, migratedDatabase, openDatabase, TEST_KEY, testDatabaseUrl } from '../helpers/build.js'

const key = parseTrackingKey(TEST_KEY)

test('without TRACKING_KEY a key is generated once and kept', async (t) => {
  const db = await migratedDatabase(t)
  const first = await resolveTrackingKey(db, undefined, 'default')
  const second = await resolveTrackingKey(db, undefined, 'default')
  assert.equal(first.length, 32)
  assert.deepEqual(second, first)
  assert.notDeepEqual(first, key)
})

test('processes starting at once agree on one generated key', async (t) => {
  const dir = await testDatabaseUrl(t)
  await migratedDatabase(t, dir)
  const keys = await Promise.all(
    Array.from({ length: 4 }, () => resolveTrackingKey(openDatabase(t, dir), undefined, 'default')),
  )
  for (const k of keys) assert.deepEqual(k, keys[0])
})

test('a process that reads the settings while another generates the key takes that key', async (t) => {
  // The other process runs to the end right after this one's first read of the settings: the
  // interleaving that refused to start with "TRACKING_KEY is not set" when the key was read first.
  const url = await testDatabaseUrl(t)
  await migratedDatabase(t, url)
  let other: Promise<Buffer> | undefined
  const reads = new WeakSet<object>()
  const interleaved: KyselyPlugin = {
    transformQuery: ({ node, queryId }) => {
      if (node.kind === 'SelectQueryNode') reads.add(queryId)
      return node
    },
    transformResult: async ({ result, queryId }) => {
      // The first read that finds nothing: a setting not stored yet.
      if (!other && reads.has(queryId) && result.rows.length === 0) {
        other = resolveTrackingKey(openDatabase(t, url), undefined, 'default')
        await other
      }
      return result
    },
  }
  const mine = await resolveTrackingKey(openDatabase(t, url).withPlugin(interleaved), undefined, 'default')
  assert.ok(other, 'the other process never ran')
  assert.deepEqual(mine, await other)
})

test('a different key is refused; so is a missing one once a key was configured', async (t) => {
  const db = await migratedDatabase(t)
  assert.deepEqual(await resolveTrackingKey(db, key, 'default'), key)
  await assert.rejects(resolveTrackingKey(db, randomBytes(32), 'default'), TrackingKeyError)
  await assert.rejects(resolveTrackingKey(db, undefined, 'default'), /TRACKING_KEY is not set/)
  assert.deepEqual(await resolveTrackingKey(db, key, 'default'), key)
})

test('a generated key cannot be replaced by a configured one', async (t) => {
  const db = await migratedDatabase(t)
  await resolveTrackingKey(db, undefined, 'default')
  await assert.rejects(resolveTrackingKey(db, key, 'default'), /does not match/)
})

test('the number format is pinned to the database', async (t) => {
  const db = await migratedDatabase(t)
  await resolveTrackingKey(db, key, 'default')
  await assert.rejects(resolveTrackingKey(db, key, 'route'), /TRACKING_FORMAT/)
})

test('the route format puts the lane first', async (t) => {
  const app = await build(t, { TRACKING_FORMAT: 'route' })
  const res = await app.inject({
    url: `/next-tracking-number?${new URLSearchParams({
      origin_country_id: 'SG',
      destination_country_id: 'KE',
      weight: '3',
      created_at: '2018-11-20T19:29:32Z',
      customer_id: 'de619854-b59b-425e-9db4-943979e1bd49',
      customer_name: 'A',
      customer_slug: 'a',
    })}`,
  })
  assert.equal(res.statusCode, 200)
  assert.match(res.json().tracking_number, /^SGKE[A-Z0-9]{12}$/)
  const issued: string = res.json().tracking_number
  const found = await app.inject({ url: `/tracking-numbers/${issued}` })
  assert.equal(found.statusCode, 200)

  // Another lane with the same body decodes to the same sequence value: it must not be found.
  const payload = `MYID${issued.slice(4, 15)}`
  const otherLane = payload + checkCharacter(payload)
  const missing = await app.inject({ url: `/tracking-numbers/${otherLane}` })
  assert.equal(missing.statusCode, 404)
})
