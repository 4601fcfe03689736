// The page imports pure functions from the server's modules (the check character, the order
// transitions). codec.ts, which holds one of them, also imports node:crypto for its cipher, which the
// page never calls: this stands in for it so the bundle needs no Node polyfill.
export type Cipher = never

export function createCipheriv(): never {
  throw new Error('node:crypto is not available in the admin page')
}
