import assert from 'node:assert/strict'
import { test } from 'node:test'
import { randomUuids } from '../../src/tracking/uuids.js'
import { UUID_V4 } from '../helpers/patterns.js'

test('randomUuids: version-4 UUIDs in the canonical form, all distinct, however many at once', () => {
  const seen = new Set<string>()
  for (const count of [0, 1, 31, 32, 33, 1_000, 5_000]) {
    const uuids = randomUuids(count)
    assert.equal(uuids.length, count)
    for (const uuid of uuids) {
      assert.match(uuid, UUID_V4)
      assert.ok(!seen.has(uuid), `${uuid} repeated`)
      seen.add(uuid)
    }
  }
})

test('randomUuids: every hex digit outside the version and variant varies (no byte left unwritten)', () => {
  // Over 2,000 UUIDs each free position takes many values; a position stuck at one value would
  // mean a byte never filled with randomness.
  const uuids = randomUuids(2_000)
  for (let i = 0; i < 36; i++) {
    if ([8, 13, 18, 23, 14].includes(i)) continue // dashes and the version digit
    const values = new Set(uuids.map((u) => u[i]))
    assert.ok(values.size >= (i === 19 ? 4 : 16), `position ${i}: ${[...values].join('')}`)
  }
})
