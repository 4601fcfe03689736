// The page imports pure functions from the server's modules (the check character, the order
// transitions). codec.ts and the orders service, which hold them, also import node:crypto (the
// codec's cipher, the hash of an order's Idempotency-Key), which the page never calls: this
// stands in for it so the bundle needs no Node polyfill.
export type Cipher = never

export function createCipheriv(): never {
  throw new Error('node:crypto is not available in the admin page')
}

export function createHash(): never {
  throw new Error('node:crypto is not available in the admin page')
}
