/** A version-4 UUID in its canonical, lowercase form (as crypto.randomUUID() and randomUuids make them). */
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
