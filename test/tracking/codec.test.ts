import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { describe, it } from 'node:test'
import { hasValidCheckCharacter } from '../../src/tracking/check-character.js'
import {
  type Codec,
  checkTrackingNumber,
  createCodec,
  type TrackingFormat,
  TrackingNumberError,
} from '../../src/tracking/codec.js'
import { seededUint32 } from '../helpers/random.js'

const KEY = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff)
const OTHER_KEY = new Uint8Array(32).map((_, i) => (i * 91 + 5) & 0xff)
const LANE = { origin: 'NL', destination: 'DE' }
const FORMATS = ['default', 'route'] as const
const SAFE = Number.MAX_SAFE_INTEGER
const codecs: Record<TrackingFormat, Codec> = {
  default: createCodec({ key: KEY, format: 'default' }),
  route: createCodec({ key: KEY, format: 'route' }),
}
const prefixOf = (format: TrackingFormat) => (format === 'route' ? 'NLDE' : '')

// Seeded, so failures reproduce.
const rng = seededUint32
function randomBigInt(next: () => number, max: bigint): bigint {
  let v = 0n
  for (let i = 0; i < 3; i++) v = (v << 32n) | BigInt(next())
  return v % (max + 1n)
}

// Independent, deliberately naive Feistel straight from the spec (BigInt, one AES call per round), so a
// bug shared by the batched and single paths of the codec still shows up.
function referencePermute(format: TrackingFormat, sequence: bigint): bigint {
  const half = format === 'default' ? 38n : 28n
  const mask = (1n << half) - 1n
  const cipher = createCipheriv('aes-256-ecb', KEY, null).setAutoPadding(false)
  let left = sequence >> half
  let right = sequence & mask
  for (let round = 0; round < 10; round++) {
    const block = Buffer.alloc(16)
    block.write('waybill', 0, 'latin1')
    block[7] = format === 'default' ? 0x64 : 0x72
    block[8] = round
    Buffer.from(right.toString(16).padStart(14, '0'), 'hex').copy(block, 9)
    const f = BigInt(`0x${cipher.update(block).toString('hex')}`) & mask
    ;[left, right] = [right, (left + f) & mask]
  }
  return (left << half) | right
}

function bodyOf(codec: Codec, sequence: bigint): string {
  return codec.permute(sequence).toString(36).toUpperCase().padStart(codec.bodyLength, '0')
}

describe('createCodec', () => {
  it('exposes the layout of each format', () => {
    assert.equal(codecs.default.format, 'default')
    assert.equal(codecs.default.bodyLength, 15)
    assert.equal(codecs.default.maxSequence, 2n ** 76n - 1n)
    assert.equal(codecs.route.format, 'route')
    assert.equal(codecs.route.bodyLength, 11)
    assert.equal(codecs.route.maxSequence, 2n ** 56n - 1n)
  })

  it('requires a 32-byte key', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      assert.throws(() => createCodec({ key: new Uint8Array(length), format: 'default' }), RangeError)
    }
  })
})

for (const format of FORMATS) {
  const codec = codecs[format]
  const max = codec.maxSequence
  const half = format === 'default' ? 38n : 28n

  describe(`${format} permutation`, () => {
    it('matches the reference Feistel network (AES-256, 10 rounds, spec block layout)', () => {
      const next = rng(10)
      const samples = [0n, 1n, max, ...Array.from({ length: 200 }, () => randomBigInt(next, max))]
      for (const s of samples) assert.equal(codec.permute(s), referencePermute(format, s), `${s}`)
    })

    it('round-trips at the boundaries', () => {
      const boundaries = [0n, 1n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 38n - 1n, 2n ** 38n, max - 1n, max]
      for (const s of boundaries) {
        const p = codec.permute(s)
        assert.ok(p >= 0n && p <= max, `${s} → ${p}`)
        assert.equal(codec.unpermute(p), s)
        assert.equal(codec.permute(codec.unpermute(s)), s)
      }
    })

    it('round-trips 100,000 random values', () => {
      const next = rng(format === 'default' ? 11 : 12)
      for (let i = 0; i < 100_000; i++) {
        const s = randomBigInt(next, max)
        const p = codec.permute(s)
        if (codec.unpermute(p) !== s || p > max) assert.fail(`${s} → ${p} → ${codec.unpermute(p)}`)
      }
    })

    it('throws RangeError outside [0, maxSequence]', () => {
      for (const bad of [-1n, max + 1n, 2n ** 80n]) {
        assert.throws(() => codec.permute(bad), RangeError)
        assert.throws(() => codec.unpermute(bad), RangeError)
        assert.throws(() => codec.encode(bad, LANE), RangeError)
      }
      for (const [start, count] of [
        [-1, 1],
        [1.5, 1],
        [SAFE, 2],
        [2 ** 53, 1],
        [0, -1],
        [0, 0.5],
      ]) {
        assert.throws(() => codec.bodies(start as number, count as number), RangeError, `${start}, ${count}`)
      }
    })

    it('different keys give different permutations; the same key the same one', () => {
      const other = createCodec({ key: OTHER_KEY, format })
      const same = createCodec({ key: Uint8Array.from(KEY), format })
      const mine = codec.bodies(0, 1000)
      const theirs = other.bodies(0, 1000)
      assert.deepEqual(same.bodies(0, 1000), mine)
      assert.equal(mine.filter((body, i) => body === theirs[i]).length, 0)
      assert.notEqual(other.decode(codec.encode(42n, LANE)).sequence, 42n)
    })
  })

  describe(`${format} bodies`, () => {
    it('agree with encode/permute for the same sequences, across batch and half boundaries', () => {
      const cases: Array<[number, number]> = [
        [0, 1],
        [0, 1100],
        [Number(2n ** half) - 300, 600],
        [SAFE - 513, 514],
      ]
      for (const [start, count] of cases) {
        const bodies = codec.bodies(start, count)
        assert.equal(bodies.length, count)
        bodies.forEach((body, i) => {
          const s = BigInt(start + i)
          if (body !== bodyOf(codec, s)) assert.fail(`body of ${s}: ${body} ≠ ${bodyOf(codec, s)}`)
          assert.equal(codec.encode(s, LANE), codec.assemble(body, LANE))
        })
      }
      assert.deepEqual(codec.bodies(7, 0), [])
    })

    it('has no duplicates among 1,000,000 consecutive sequences', () => {
      const start = Number(2n ** half) - 500_000 // crosses the carry into the high half
      const seen = new Set<string>()
      for (let done = 0; done < 1_000_000; done += 10_000) {
        for (const body of codec.bodies(start + done, 10_000)) seen.add(body)
      }
      assert.equal(seen.size, 1_000_000)
    })

    it('scatters neighbours: bodies of s and s+1 agree in ~1/36 of positions, with no common prefix', () => {
      const next = rng(13)
      let shared = 0
      let longPrefixes = 0
      const pairs = 10_000
      for (let i = 0; i < pairs; i++) {
        const [a, b] = codec.bodies(next() * 2 ** 20 + next(), 2) as [string, string]
        let prefix = 0
        while (prefix < a.length && a[prefix] === b[prefix]) prefix++
        if (prefix >= 3) longPrefixes++
        for (let j = 0; j < a.length; j++) if (a[j] === b[j]) shared++
      }
      // Uniform digits would share 1/36 ≈ 0.028; the leading digit has a smaller range (36^n > 2^bits).
      const fraction = shared / (pairs * codec.bodyLength)
      assert.ok(fraction > 0.015 && fraction < 0.05, `shared fraction ${fraction}`)
      assert.ok(longPrefixes <= 5, `${longPrefixes} pairs share a 3-character prefix`)
    })
  })

  describe(`${format} tracking numbers`, () => {
    it('are 16 characters [A-Z0-9] with a valid check character and the lane first', () => {
      for (const body of codec.bodies(123_456_789, 2000)) {
        const n = codec.assemble(body, LANE)
        assert.match(n, /^[A-Z0-9]{16}$/)
        assert.ok(n.startsWith(prefixOf(format) + body), n)
        assert.ok(hasValidCheckCharacter(n), n)
        assert.deepEqual(checkTrackingNumber(n), { ok: true })
      }
    })

    it('decode(encode(s)) === s', () => {
      const next = rng(14)
      const samples = [0n, 1n, max - 1n, max, ...Array.from({ length: 2000 }, () => randomBigInt(next, max))]
      for (const s of samples) {
        const decoded = codec.decode(codec.encode(s, LANE))
        assert.equal(decoded.sequence, s)
        assert.deepEqual(decoded.lane, format === 'route' ? LANE : undefined)
      }
      if (format === 'route') {
        const other = { origin: 'US', destination: 'JP' }
        assert.deepEqual(codec.decode(codec.encode(99n, other)), { sequence: 99n, lane: other })
      }
    })

    it('rejects a wrong check character with reason "check"', () => {
      const n = codec.encode(2024n, LANE)
      for (const wrong of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.replace(n[15] as string, '')) {
        assertTrackingError(() => codec.decode(n.slice(0, 15) + wrong), 'check')
      }
      for (let i = 0; i < 15; i++) {
        const swapped = n.slice(0, i) + n.slice(i + 1, i + 2) + n.slice(i, i + 1) + n.slice(i + 2)
        if (swapped !== n) assertTrackingError(() => codec.decode(swapped), 'check')
      }
    })

    it('rejects malformed input with reason "format"', () => {
      const n = codec.encode(2024n, LANE)
      const malformed = ['', n.slice(0, 15), `${n}0`, n.toLowerCase(), ` ${n.slice(1)}`, `${n.slice(0, 15)}-`]
      for (const bad of malformed) assertTrackingError(() => codec.decode(bad), 'format')
      assertTrackingError(() => codec.decode(null as unknown as string), 'format')
    })

    it('validates assemble() input', () => {
      const [body] = codec.bodies(0, 1) as [string]
      assert.throws(() => codec.assemble(body.slice(1), LANE), RangeError)
      assert.throws(() => codec.assemble(body.toLowerCase().replace(/[0-9]/g, 'a'), LANE), RangeError)
      if (format === 'route') {
        for (const lane of [
          { origin: 'nl', destination: 'DE' },
          { origin: 'NL', destination: 'D1' },
        ]) {
          assert.throws(() => codec.assemble(body, lane), RangeError)
        }
        assert.throws(() => codec.assemble(body, { origin: 'NLD', destination: 'DE' }), RangeError)
        const fresh = createCodec({ key: KEY, format })
        assert.throws(() => fresh.assemble(body, { origin: '', destination: '' }), RangeError)
        assert.throws(() => fresh.assemble(body, undefined as unknown as typeof LANE), RangeError)
      }
    })
  })
}

function assertTrackingError(fn: () => unknown, reason: 'format' | 'check'): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TrackingNumberError, String(error))
    assert.equal(error.reason, reason, error.message)
    return true
  })
}

describe('format-specific decoding', () => {
  it('rejects a default body above 2^76 − 1 and a route number without letters in the lane', () => {
    const tooBig = 'ZZZZZZZZZZZZZZZ'
    const withCheck = (payload: string) => {
      // Find the valid check character via the key-less checker.
      for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ')
        if (checkTrackingNumber(payload + c).ok) return payload + c
      throw new Error('no check character')
    }
    assertTrackingError(() => codecs.default.decode(withCheck(tooBig)), 'format')
    assertTrackingError(() => codecs.route.decode(withCheck(`NLDE${'Z'.repeat(11)}`)), 'format')
    const body = codecs.route.bodies(0, 1)[0] as string
    assertTrackingError(() => codecs.route.decode(withCheck(`N1DE${body}`)), 'format')
    assert.equal(codecs.route.decode(withCheck(`NLDE${body}`)).sequence, 0n)
  })

  it('checkTrackingNumber needs no key and reports the reason', () => {
    const n = codecs.default.encode(7n, LANE)
    assert.deepEqual(checkTrackingNumber(n), { ok: true })
    const wrong = n.slice(0, 15) + (n[15] === '0' ? '1' : '0')
    assert.equal(checkTrackingNumber(wrong).ok, false)
    assert.equal((checkTrackingNumber(wrong) as { reason: string }).reason, 'check')
    for (const bad of ['', 'abc', n.slice(1), `${n}A`, n.toLowerCase()]) {
      assert.equal((checkTrackingNumber(bad) as { reason: string }).reason, 'format', bad)
    }
  })
})
