import { Type } from '@sinclair/typebox'
import { AppError } from './errors.js'

/** The Idempotency-Key header of the routes that take one: the issuing routes and order creation. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'A retry with the same key and request returns what the first request made',
    }),
  ),
})

export interface Idempotency {
  /** The client's subject and its key: two clients' keys never meet. */
  key: string
  /** Which operation: the same key on another operation is a different request. */
  operation: string
}

/**
 * A client's Idempotency-Key, scoped to the client. The stored key is the subject, a space, then
 * the header; a space or `%` in the subject (an OpenID Connect `sub` may hold either) is escaped,
 * so subject `a b` with key `c` and subject `a` with key `b c` stay apart. Subjects without them
 * (every `user:<id>`) are stored as before.
 */
export function idempotency(
  // A FastifyRequest; typed by what is read, so that the admin page's build, which imports the
  // orders service, needs no server types.
  request: { headers: Record<string, unknown>; principal?: { subject: string } | null },
  operation: string,
): Idempotency | undefined {
  const key = request.headers['idempotency-key']
  const client = request.principal?.subject
  if (typeof key !== 'string' || !client) return undefined
  return { key: `${client.replace(/[% ]/g, (c) => (c === '%' ? '%25' : '%20'))} ${key}`, operation }
}

export function idempotencyConflict(): AppError {
  return new AppError('conflict', 'This Idempotency-Key was already used with a different request', {
    'idempotency-key': ['was already used with a different request'],
  })
}
