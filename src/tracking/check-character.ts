// Check character for tracking numbers: the Damm scheme over a totally anti-symmetric (TA) quasigroup of
// order 36.
//
// Why not ISO 7064 MOD 37,36 (the usual alphanumeric hybrid system)? It detects every single substitution
// but misses some adjacent transpositions (for certain running states p, swapping x and y leaves the state
// unchanged). A Damm check over a TA quasigroup detects ALL single substitutions (every row and column of
// the table is a permutation) and ALL adjacent transpositions of different characters, including a swap
// with the check character itself, by construction: (c∘x)∘y = (c∘y)∘x implies x = y.
//
// No TA quasigroup of order 36 comes from a field (36 is not a prime power), so we build it as the direct
// product of two TA quasigroups x∘y = a·x + y over GF(4) and GF(9), with a ∉ {0, 1}:
//   a(a·c + x) + y = a(a·c + y) + x  ⇔  (a − 1)(x − y) = 0  ⇔  x = y.
// A direct product is TA when both factors are, because equality must hold in each component.

export const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'

const N = 36

// GF(4) = GF(2)[x]/(x²+x+1), element b1·x + b0 stored as 2·b1 + b0; a = x. Multiplying by x maps
// 0→0, 1→x, x→x²=x+1, x+1→x²+x=1. Addition is XOR.
const GF4_TIMES_A = [0, 2, 3, 1]

// GF(9) = GF(3)[t]/(t²+1), element u1·t + u0 stored as 3·u1 + u0; a = t. t·(u1·t + u0) = u0·t − u1.
function gf9TimesA(v: number): number {
  const u0 = v % 3
  const u1 = Math.floor(v / 3)
  return 3 * u0 + ((3 - u1) % 3)
}

function gf9Add(x: number, y: number): number {
  return 3 * ((Math.floor(x / 3) + Math.floor(y / 3)) % 3) + (((x % 3) + (y % 3)) % 3)
}

function buildTable(): Uint8Array {
  const table = new Uint8Array(N * N)
  for (let x = 0; x < N; x++) {
    for (let y = 0; y < N; y++) {
      // Symbol v ↔ (v mod 4, floor(v / 4)) ∈ GF(4) × GF(9).
      const p = (GF4_TIMES_A[x % 4] as number) ^ (y % 4)
      const q = gf9Add(gf9TimesA(Math.floor(x / 4)), Math.floor(y / 4))
      table[x * N + y] = p + 4 * q
    }
  }
  return table
}

/**
 * The quasigroup as a flat 36×36 table: `DAMM_TABLE[x * 36 + y]` is x∘y. Exported so tests can prove the
 * TA property exhaustively; treat it as read-only.
 */
export const DAMM_TABLE: Uint8Array = buildTable()

// For each interim state, the unique symbol c with state∘c = 0 (the check character's value).
const CHECK_FOR_STATE = new Uint8Array(N)
for (let x = 0; x < N; x++) {
  for (let c = 0; c < N; c++) {
    if (DAMM_TABLE[x * N + c] === 0) CHECK_FOR_STATE[x] = c
  }
}

// Character code → symbol value, −1 outside ALPHABET (only codes < 128 can be valid).
const VALUE_OF_CODE = new Int8Array(128).fill(-1)
for (let v = 0; v < N; v++) VALUE_OF_CODE[ALPHABET.charCodeAt(v)] = v

/**
 * Folds `value` through the quasigroup starting from `state`; returns the interim state (0..35), or −1 if
 * a character lies outside ALPHABET. Internal building block, also used by the codec's hot path so the
 * lane and body can be folded without concatenating them first.
 */
export function foldDamm(state: number, value: string): number {
  let interim = state
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    const v = code < 128 ? (VALUE_OF_CODE[code] as number) : -1
    if (v < 0) return -1
    interim = DAMM_TABLE[interim * N + v] as number
  }
  return interim
}

/** The check character for an interim state returned by foldDamm (state must be 0..35). */
export function checkCharacterForState(state: number): string {
  return ALPHABET.charAt(CHECK_FOR_STATE[state] as number)
}

export function checkCharacter(payload: string): string {
  const interim = foldDamm(0, payload)
  if (interim < 0) throw new RangeError('payload contains a character outside [0-9A-Z]')
  return checkCharacterForState(interim)
}

export function hasValidCheckCharacter(value: string): boolean {
  return value.length > 0 && foldDamm(0, value) === 0
}
