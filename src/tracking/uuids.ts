import { randomFillSync, randomUUID } from 'node:crypto'

// Two ASCII hex digits per byte value, as one 16-bit number (low byte first).
const HEX_PAIRS = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  const pair = i.toString(16).padStart(2, '0')
  HEX_PAIRS[i] = pair.charCodeAt(0) | (pair.charCodeAt(1) << 8)
}
const DASH = 0x2d
const FEW = 32

/**
 * `count` random (version 4) UUIDs, as crypto.randomUUID() makes them, a whole batch's at once:
 * one call for the random bytes and each UUID written as ASCII into one buffer, then read out as a
 * flat string. randomUUID() builds each one by concatenating 21 pieces, a string the database
 * driver must then flatten: measured on the writer thread, the batch's rows cost a third more so.
 * (Under FEW, randomUUID() each: its cache beats a call for the bytes.)
 */
export function randomUuids(count: number): string[] {
  // A few at a time: randomUUID's own cache of random bytes costs less than a call for so few.
  if (count < FEW) {
    const uuids = new Array<string>(count)
    for (let u = 0; u < count; u++) uuids[u] = randomUUID()
    return uuids
  }
  const bytes = randomFillSync(Buffer.allocUnsafe(16 * count))
  const text = Buffer.allocUnsafe(36 * count)
  const uuids = new Array<string>(count)
  for (let u = 0, b = 0, o = 0; u < count; u++) {
    const start = o
    bytes[b + 6] = ((bytes[b + 6] as number) & 0x0f) | 0x40 // version 4
    bytes[b + 8] = ((bytes[b + 8] as number) & 0x3f) | 0x80 // variant 10
    for (let i = 0; i < 16; i++, b++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) text[o++] = DASH
      const pair = HEX_PAIRS[bytes[b] as number] as number
      text[o++] = pair & 0xff
      text[o++] = pair >> 8
    }
    uuids[u] = text.toString('latin1', start, o)
  }
  return uuids
}
