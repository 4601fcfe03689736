/** A deterministic PRNG (mulberry32) of unsigned 32-bit integers, so a failing case reproduces. */
export function seededUint32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let z = Math.imul(a ^ (a >>> 15), 1 | a)
    z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z
    return (z ^ (z >>> 14)) >>> 0
  }
}
