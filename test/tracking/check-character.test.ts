import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ALPHABET,
  checkCharacter,
  DAMM_TABLE,
  hasValidCheckCharacter,
} from '../../src/tracking/check-character.js'
import { createCodec } from '../../src/tracking/codec.js'
import { seededUint32 } from '../helpers/random.js'

const N = 36
const t = (x: number, y: number): number => DAMM_TABLE[x * N + y] as number

// Seeded, so failures reproduce; floats in [0, 1).
function rng(seed: number): () => number {
  const next = seededUint32(seed)
  return () => next() / 2 ** 32
}

function randomPayload(next: () => number, length: number): string {
  let s = ''
  for (let i = 0; i < length; i++) s += ALPHABET[Math.floor(next() * N)]
  return s
}

describe('Damm table (exhaustive)', () => {
  it('has 36 distinct symbols and a 36×36 table', () => {
    assert.equal(new Set(ALPHABET).size, N)
    assert.equal(DAMM_TABLE.length, N * N)
  })

  it('is a quasigroup: every row and column is a permutation (all single substitutions detected)', () => {
    for (let i = 0; i < N; i++) {
      const row = new Set<number>()
      const column = new Set<number>()
      for (let j = 0; j < N; j++) {
        row.add(t(i, j))
        column.add(t(j, i))
      }
      assert.equal(row.size, N, `row ${i}`)
      assert.equal(column.size, N, `column ${i}`)
    }
  })

  it('is totally anti-symmetric: (c∘x)∘y ≠ (c∘y)∘x for all c and x ≠ y (all adjacent swaps detected)', () => {
    let checked = 0
    for (let c = 0; c < N; c++) {
      for (let x = 0; x < N; x++) {
        for (let y = 0; y < N; y++) {
          if (x === y) continue
          assert.notEqual(t(t(c, x), y), t(t(c, y), x), `c=${c} x=${x} y=${y}`)
          checked++
        }
      }
    }
    assert.equal(checked, N * N * (N - 1))
  })

  it('is the direct product of order-4 and order-9 quasigroups under v ↔ (v mod 4, ⌊v/4⌋)', () => {
    for (let x = 0; x < N; x++) {
      for (let y = 0; y < N; y++) {
        // Each component of x∘y depends only on the same component of x and y.
        assert.equal(t(x, y) % 4, t(x % 4, y % 4) % 4)
        assert.equal(Math.floor(t(x, y) / 4), Math.floor(t(4 * Math.floor(x / 4), 4 * Math.floor(y / 4)) / 4))
      }
    }
  })
})

describe('checkCharacter / hasValidCheckCharacter', () => {
  it('matches hand-computed values', () => {
    // '1' → (1,0); over GF(4) x·1 = x = 2 so the check needs 2 ⊕ c₁ = 0 → c₁ = 2; GF(9) part 0 → c = 2.
    assert.equal(checkCharacter('1'), '2')
    // 'Z' = 35 → (3, 8): x·3 = 1 → c₁ = 1; t·(2t+2) = 1+2t → c₂ = −(1+2t) = 2+t = 5 → c = 1 + 4·5 = 21.
    assert.equal(checkCharacter('Z'), 'L')
    assert.equal(checkCharacter(''), '0')
  })

  it('is the Damm fold over the table, and payload + check validates', () => {
    const next = rng(1)
    for (let i = 0; i < 2000; i++) {
      const payload = randomPayload(next, 1 + Math.floor(next() * 20))
      let interim = 0
      for (const ch of payload) interim = t(interim, ALPHABET.indexOf(ch))
      const check = checkCharacter(payload)
      assert.equal(t(interim, ALPHABET.indexOf(check)), 0)
      assert.ok(hasValidCheckCharacter(payload + check))
    }
  })

  it('rejects characters outside the alphabet', () => {
    for (const bad of ['abc', 'AB-C', 'AB C', 'ÉA', 'A\u0130', '\u{1F4E6}']) {
      assert.throws(() => checkCharacter(bad), RangeError, bad)
      assert.equal(hasValidCheckCharacter(bad), false, bad)
      assert.equal(hasValidCheckCharacter(bad + checkCharacter('A')), false, bad)
    }
    assert.equal(hasValidCheckCharacter(''), false)
    assert.equal(hasValidCheckCharacter('0'), true) // empty payload, check '0'
  })
})

describe('error detection on real tracking numbers', () => {
  const key = new Uint8Array(32).map((_, i) => i * 7 + 3)
  const lane = { origin: 'NL', destination: 'DE' }
  const defaults = createCodec({ key, format: 'default' })
  const routes = createCodec({ key, format: 'route' })
  const numbers = [
    ...defaults.bodies(1_000_000, 2000).map((body) => defaults.assemble(body, lane)),
    ...routes.bodies(5_000, 1000).map((body) => routes.assemble(body, lane)),
  ]

  it('accepts every generated number', () => {
    assert.equal(numbers.length, 3000)
    for (const n of numbers) assert.ok(hasValidCheckCharacter(n), n)
  })

  it('rejects every single-character substitution (16 positions × 35 symbols)', () => {
    let rejected = 0
    for (const n of numbers) {
      for (let i = 0; i < n.length; i++) {
        for (const ch of ALPHABET) {
          if (ch === n[i]) continue
          const mutated = n.slice(0, i) + ch + n.slice(i + 1)
          if (hasValidCheckCharacter(mutated)) assert.fail(`${n} → ${mutated} not detected`)
          rejected++
        }
      }
    }
    assert.equal(rejected, numbers.length * 16 * 35)
  })

  it('rejects every adjacent swap of different characters, including with the check character', () => {
    let rejected = 0
    for (const n of numbers) {
      for (let i = 0; i + 1 < n.length; i++) {
        if (n[i] === n[i + 1]) continue
        const swapped = n.slice(0, i) + n[i + 1] + n[i] + n.slice(i + 2)
        if (hasValidCheckCharacter(swapped)) assert.fail(`${n} → ${swapped} not detected`)
        rejected++
      }
    }
    assert.ok(rejected > numbers.length * 14)
  })
})

describe('why not ISO 7064 MOD 37,36', () => {
  // The hybrid system: p₀ = 36; sᵢ = (pᵢ₋₁ + dᵢ) mod 36 (0 → 36); pᵢ = 2·sᵢ mod 37; valid when the final
  // s = 1. Returns the state after the payload, which fixes the check character.
  function mod3736State(payload: string): number {
    let p = 36
    for (const ch of payload) {
      let s = (p + ALPHABET.indexOf(ch)) % 36
      if (s === 0) s = 36
      p = (2 * s) % 37
    }
    return p
  }

  it('MOD 37,36 misses some adjacent swaps; the Damm check catches the same swaps', () => {
    const next = rng(2)
    let missedByIso = 0
    for (let i = 0; i < 20_000; i++) {
      const payload = randomPayload(next, 15)
      const at = Math.floor(next() * 14)
      if (payload[at] === payload[at + 1]) continue
      const swapped = payload.slice(0, at) + payload[at + 1] + payload[at] + payload.slice(at + 2)
      if (mod3736State(payload) === mod3736State(swapped)) {
        missedByIso++
        assert.equal(hasValidCheckCharacter(swapped + checkCharacter(payload)), false, swapped)
      }
    }
    // About 1 swap in 630 slips through MOD 37,36 (36 of its 36 × 630 state/pair cases).
    assert.ok(missedByIso > 5, `only ${missedByIso} misses`)
    // Concretely: 'IJ…' and 'JI…' share every MOD 37,36 check character.
    assert.equal(mod3736State('IJ7Q'), mod3736State('JI7Q'))
    assert.notEqual(checkCharacter('IJ7Q'), checkCharacter('JI7Q'))
  })
})
