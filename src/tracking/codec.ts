// Tracking-number codec: a keyed permutation (Feistel network, AES round function) turns consecutive
// sequence numbers into unpredictable, unique bodies; the body is written in base 36 and closed with a Damm
// check character. Pure apart from node:crypto.
//
// Performance model: one `cipher.update` costs ~1 µs of fixed overhead, so calling it per number per round
// (10 rounds) caps us far below the target. `bodies()` therefore runs each Feistel round for a whole batch
// of numbers at once: one buffer of count × 16-byte blocks, one `update`, then read every output back. The
// halves (≤ 38 bits) are plain JS numbers, so the hot path never touches BigInt.
import { type Cipher, createCipheriv } from 'node:crypto'
import { ALPHABET, checkCharacterForState, foldDamm, hasValidCheckCharacter } from './check-character.js'

export type TrackingFormat = 'default' | 'route'

/** ISO 3166-1 alpha-2 codes, uppercase. */
export interface Lane {
  origin: string
  destination: string
}

export interface Codec {
  readonly format: TrackingFormat
  readonly bodyLength: number
  readonly maxSequence: bigint
  permute(sequence: bigint): bigint
  unpermute(value: bigint): bigint
  bodies(start: number, count: number): string[]
  assemble(body: string, lane: Lane): string
  encode(sequence: bigint, lane: Lane): string
  decode(trackingNumber: string): { sequence: bigint; lane?: Lane }
}

export class TrackingNumberError extends Error {
  override readonly name = 'TrackingNumberError'
  constructor(
    readonly reason: 'format' | 'check',
    message: string,
  ) {
    super(message)
  }
}

const ROUNDS = 10 // as NIST FF1
const BLOCK = 16
// Numbers per `cipher.update`: large enough to amortise its fixed cost, small enough to keep the working
// set in L1/L2 and memory bounded however many bodies a caller asks for.
const CHUNK = 512
const TWO_32 = 2 ** 32
const D5 = 36 ** 5 // five base-36 digits per chunk
const PAIR = 36 * 36
const DOMAIN_TAG = 'waybill'

const LAYOUTS = {
  default: { halfBits: 38, bodyLength: 15, prefixLength: 0, formatByte: 0x64 }, // 'd'
  route: { halfBits: 28, bodyLength: 11, prefixLength: 4, formatByte: 0x72 }, // 'r'
} as const

// Two-digit base-36 groups as char codes, so a body needs 7 table reads instead of 15 divisions.
const DIGIT = new Uint8Array(36)
const PAIR_HI = new Uint8Array(PAIR)
const PAIR_LO = new Uint8Array(PAIR)
for (let d = 0; d < 36; d++) DIGIT[d] = ALPHABET.charCodeAt(d)
for (let p = 0; p < PAIR; p++) {
  PAIR_HI[p] = ALPHABET.charCodeAt(Math.floor(p / 36))
  PAIR_LO[p] = ALPHABET.charCodeAt(p % 36)
}

const TRACKING_NUMBER = /^[A-Z0-9]{16}$/

/**
 * A typed number in its canonical (upper) case. Only ASCII letters fold: toUpperCase() would turn
 * look-alikes such as ı and ſ into I and S, and a mistyped number into a valid one.
 */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]/g, (letter) => letter.toUpperCase())
}

/** Key-less syntax check (shape, then check character) used before any database access. */
export function checkTrackingNumber(
  value: string,
): { ok: true } | { ok: false; reason: 'format' | 'check'; message: string } {
  if (typeof value !== 'string' || !TRACKING_NUMBER.test(value)) {
    return { ok: false, reason: 'format', message: 'a tracking number is exactly 16 characters [0-9A-Z]' }
  }
  if (!hasValidCheckCharacter(value)) {
    return { ok: false, reason: 'check', message: 'check character does not match (mistyped number?)' }
  }
  return { ok: true }
}

function isAlpha2(code: string): boolean {
  if (typeof code !== 'string' || code.length !== 2) return false
  const a = code.charCodeAt(0)
  const b = code.charCodeAt(1)
  return a >= 65 && a <= 90 && b >= 65 && b <= 90
}

export function createCodec(options: { key: Uint8Array; format: TrackingFormat }): Codec {
  const { key, format } = options
  const layout = LAYOUTS[format]
  if (layout === undefined) throw new RangeError(`unknown tracking format: ${String(format)}`)
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new RangeError('codec key must be exactly 32 bytes (AES-256)')
  }
  const { halfBits, bodyLength, prefixLength } = layout
  const halfSize = 2 ** halfBits
  const limbSize = 2 ** (halfBits / 2)
  const hiMask = halfBits > 32 ? 2 ** (halfBits - 32) - 1 : 0
  const loMask = halfBits >= 32 ? 0xffffffff : 2 ** halfBits - 1
  const bigHalfBits = BigInt(halfBits)
  const bigHalfMask = (1n << bigHalfBits) - 1n
  const maxSequence = (1n << (2n * bigHalfBits)) - 1n

  // ECB with padding off and no `final()`: every `update` of whole blocks returns exactly as many bytes,
  // and the one cipher context is reused for the codec's lifetime.
  const cipher: Cipher = createCipheriv('aes-256-ecb', key, null)
  cipher.setAutoPadding(false)

  // Block layout: 'waybill' (7) | format (1) | round (1) | half value, big-endian 56-bit (7).
  const blocks = Buffer.alloc(CHUNK * BLOCK)
  for (let o = 0; o < blocks.length; o += BLOCK) {
    blocks.write(DOMAIN_TAG, o, 'latin1')
    blocks[o + 7] = layout.formatByte
  }
  const left = new Float64Array(CHUNK)
  const right = new Float64Array(CHUNK)

  function writeBlock(o: number, round: number, half: number): void {
    const lo = half >>> 0 // half < 2^38: ToUint32 is exactly half mod 2^32
    blocks[o + 8] = round
    blocks[o + 11] = (half - lo) / TWO_32
    blocks[o + 12] = lo >>> 24
    blocks[o + 13] = lo >>> 16
    blocks[o + 14] = lo >>> 8
    blocks[o + 15] = lo // typed-array stores keep the low 8 bits
  }

  // Low `halfBits` bits of output block o, read as a big-endian integer.
  function roundOutput(out: Buffer, o: number): number {
    // Byte loads beat out.readUInt32BE here by ~10 % end to end.
    const lo =
      (((out[o + 12] as number) << 24) |
        ((out[o + 13] as number) << 16) |
        ((out[o + 14] as number) << 8) |
        (out[o + 15] as number)) &
      loMask
    return ((out[o + 11] as number) & hiMask) * TWO_32 + (lo >>> 0)
  }

  // Forward network over left/right[0..count): (L, R) → (R, L + F(R) mod 2^half), ten times. Each pass
  // over the outputs also writes the next round's input block, so every round is one loop plus one AES
  // call for the whole batch (writing in the last round is wasted but cheaper than a branch).
  function forward(count: number): void {
    const input = count === CHUNK ? blocks : blocks.subarray(0, count * BLOCK)
    for (let k = 0; k < count; k++) writeBlock(k * BLOCK, 0, right[k] as number)
    for (let round = 0; round < ROUNDS; round++) {
      const out = cipher.update(input)
      for (let k = 0, o = 0; k < count; k++, o += BLOCK) {
        let sum = (left[k] as number) + roundOutput(out, o)
        if (sum >= halfSize) sum -= halfSize
        left[k] = right[k] as number
        right[k] = sum
        writeBlock(o, round + 1, sum)
      }
    }
  }

  // Inverse: (L', R') → (R' − F(L') mod 2^half, L'), rounds in reverse order.
  function backward(count: number): void {
    const input = count === CHUNK ? blocks : blocks.subarray(0, count * BLOCK)
    for (let k = 0; k < count; k++) writeBlock(k * BLOCK, ROUNDS - 1, left[k] as number)
    for (let round = ROUNDS - 1; round >= 0; round--) {
      const out = cipher.update(input)
      for (let k = 0, o = 0; k < count; k++, o += BLOCK) {
        let diff = (right[k] as number) - roundOutput(out, o)
        if (diff < 0) diff += halfSize
        right[k] = left[k] as number
        left[k] = diff
        writeBlock(o, round - 1, diff)
      }
    }
  }

  // Base 36 of L·2^half + R (up to 76 bits) without BigInt. Long division by 36^5 over the limbs
  // (L, R_hi, R_lo), R split in two so every intermediate stays below 2^53, gives the low five digits;
  // the quotient (< 2^51) is exact as a double and splits into the other two 5-digit chunks. Each chunk
  // (< 2^26, so int32 arithmetic) is one digit plus two 2-digit table lookups. `%` on doubles would call
  // out to fmod and String.fromCharCode.apply is ~3× slower than a literal argument list, hence the shape.
  function toBody(l: number, r: number): string {
    const rHi = Math.floor(r / limbSize)
    const qL = Math.floor(l / D5)
    let cur = (l - qL * D5) * limbSize + rHi
    const qHi = Math.floor(cur / D5)
    cur = (cur - qHi * D5) * limbSize + (r - rHi * limbSize)
    const qLo = Math.floor(cur / D5)
    const c0 = (cur - qLo * D5) | 0
    const quotient = qL * halfSize + qHi * limbSize + qLo
    const c2 = Math.floor(quotient / D5) | 0
    const c1 = (quotient - c2 * D5) | 0
    const t0 = (c0 / PAIR) | 0
    const p0 = c0 - t0 * PAIR
    const d0 = (t0 / PAIR) | 0
    const p1 = t0 - d0 * PAIR
    const t1 = (c1 / PAIR) | 0
    const p2 = c1 - t1 * PAIR
    const d1 = (t1 / PAIR) | 0
    const p3 = t1 - d1 * PAIR
    const t2 = (c2 / PAIR) | 0
    const p4 = c2 - t2 * PAIR
    const d2 = (t2 / PAIR) | 0
    const p5 = t2 - d2 * PAIR
    const digits = String.fromCharCode(
      DIGIT[d2] as number,
      PAIR_HI[p5] as number,
      PAIR_LO[p5] as number,
      PAIR_HI[p4] as number,
      PAIR_LO[p4] as number,
      DIGIT[d1] as number,
      PAIR_HI[p3] as number,
      PAIR_LO[p3] as number,
      PAIR_HI[p2] as number,
      PAIR_LO[p2] as number,
      DIGIT[d0] as number,
      PAIR_HI[p1] as number,
      PAIR_LO[p1] as number,
      PAIR_HI[p0] as number,
      PAIR_LO[p0] as number,
    )
    // Route values are < 2^56 < 20 · 36^10, so their first four of 15 digits are always 0.
    return bodyLength === 15 ? digits : digits.slice(15 - bodyLength)
  }

  // Single values reuse the batch machinery with count 1; BigInt appears only at the edges.
  function single(value: bigint, network: (count: number) => void): bigint {
    if (typeof value !== 'bigint' || value < 0n || value > maxSequence) {
      throw new RangeError(`value must be a bigint in [0, ${maxSequence}]`)
    }
    left[0] = Number(value >> bigHalfBits)
    right[0] = Number(value & bigHalfMask)
    network(1)
    return (BigInt(left[0] as number) << bigHalfBits) | BigInt(right[0] as number)
  }
  const permute = (sequence: bigint): bigint => single(sequence, forward)
  const unpermute = (value: bigint): bigint => single(value, backward)

  function bodies(start: number, count: number): string[] {
    // The last sequence is compared as a difference: start + count − 1 itself could round back into the
    // safe range. Safe integers are always ≤ maxSequence (≥ 2^56 − 1).
    const safe = Number.isSafeInteger(start) && Number.isSafeInteger(count) && start >= 0 && count >= 0
    if (!safe || count - 1 > Number.MAX_SAFE_INTEGER - start) {
      throw new RangeError('start and count must be non-negative with start + count - 1 a safe integer')
    }
    const result = new Array<string>(count)
    let l = Math.floor(start / halfSize)
    let r = start - l * halfSize
    for (let done = 0; done < count; done += CHUNK) {
      const n = Math.min(CHUNK, count - done)
      for (let k = 0; k < n; k++) {
        left[k] = l
        right[k] = r
        if (++r === halfSize) {
          r = 0
          l++
        }
      }
      forward(n)
      for (let k = 0; k < n; k++) result[done + k] = toBody(left[k] as number, right[k] as number)
    }
    return result
  }

  function assemble(body: string, lane: Lane): string {
    if (typeof body !== 'string' || body.length !== bodyLength) {
      throw new RangeError(`a ${format} body is ${bodyLength} characters`)
    }
    if (prefixLength === 0) {
      const state = foldDamm(0, body)
      if (state < 0) throw new RangeError('body contains a character outside [0-9A-Z]')
      return body + checkCharacterForState(state)
    }
    const origin = lane?.origin
    const destination = lane?.destination
    // Callers assemble whole batches for one lane: validate and fold the lane once, not per number.
    if (lastLane === undefined || origin !== lastLane[0] || destination !== lastLane[1]) {
      if (!isAlpha2(origin) || !isAlpha2(destination)) {
        throw new RangeError('lane origin and destination must be uppercase ISO alpha-2 codes')
      }
      lastLane = [origin, destination, origin + destination, foldDamm(foldDamm(0, origin), destination)]
    }
    const state = foldDamm(lastLane[3], body)
    if (state < 0) throw new RangeError('body contains a character outside [0-9A-Z]')
    return lastLane[2] + body + checkCharacterForState(state)
  }
  // origin, destination, origin + destination, Damm state after both
  let lastLane: [string, string, string, number] | undefined

  function encode(sequence: bigint, lane: Lane): string {
    single(sequence, forward)
    return assemble(toBody(left[0] as number, right[0] as number), lane)
  }

  function decode(trackingNumber: string): { sequence: bigint; lane?: Lane } {
    const syntax = checkTrackingNumber(trackingNumber)
    if (!syntax.ok) throw new TrackingNumberError(syntax.reason, syntax.message)
    let lane: Lane | undefined
    if (prefixLength > 0) {
      lane = { origin: trackingNumber.slice(0, 2), destination: trackingNumber.slice(2, 4) }
      if (!isAlpha2(lane.origin) || !isAlpha2(lane.destination)) {
        throw new TrackingNumberError('format', 'a route tracking number starts with two alpha-2 codes')
      }
    }
    // 36^15 > 2^76 and 36^11 > 2^56, so some well-formed bodies name no sequence at all.
    const value =
      BigInt(parseInt(trackingNumber.slice(prefixLength, 10), 36)) * BigInt(D5) +
      BigInt(parseInt(trackingNumber.slice(10, 15), 36))
    if (value > maxSequence) {
      throw new TrackingNumberError('format', `not a ${format} tracking number (body out of range)`)
    }
    const sequence = unpermute(value)
    return lane === undefined ? { sequence } : { sequence, lane }
  }

  return { format, bodyLength, maxSequence, permute, unpermute, bodies, assemble, encode, decode }
}
