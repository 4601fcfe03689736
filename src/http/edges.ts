// What reaches the service before a route does: request bodies as bytes, and the errors Node raises
// on a connection before any request exists (a malformed request, headers too large, a client too
// slow). Both answer in the one error envelope, naming what was wrong.
import { randomUUID } from 'node:crypto'
import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { requestId } from '../observability/logger.js'
import { AppError, type ErrorEnvelope } from './errors.js'
import { API_HEADERS } from './security.js'
import { MALFORMED_QUERY_KEYS } from './validation.js'

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

declare global {
  interface String {
    /** ES2024; in V8 (Node 20) though not in this project's TypeScript lib. */
    isWellFormed(): boolean
  }
}

/** A key or value of a query string, decoded; undefined when its %-escapes are not UTF-8. */
function decodeQueryComponent(text: string): string | undefined {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text
  if (!spaced.includes('%')) return spaced
  try {
    return decodeURIComponent(spaced)
  } catch {
    return undefined // %zz, a lone %FF, an encoded surrogate (URIError)
  }
}

/**
 * Fastify's querystringParser. As its default (fast-querystring): `+` is a space, keys are
 * decoded too, a key given twice holds an array. Unlike it, text whose %-escapes are not valid
 * UTF-8 (`50%25%zz`, `%FF`) is not kept undecoded, to be stored as sent: its keys are listed
 * under MALFORMED_QUERY_KEYS, and validation refuses them with a 400 naming each.
 */
export function parseQueryString(text: string): Record<string, unknown> {
  // No prototype, so `__proto__=1` is a plain key. Object.create(null) would make a dictionary-mode
  // object, slower for validation and the route to read; this one keeps V8's fast properties.
  const query: Record<string, unknown> = {}
  Object.setPrototypeOf(query, null)
  let malformed: string[] | undefined
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('&', start)
    if (end < 0) end = text.length
    if (end > start) {
      const equals = text.indexOf('=', start)
      const split = equals >= 0 && equals < end
      const rawKey = text.slice(start, split ? equals : end)
      const rawValue = split ? text.slice(equals + 1, end) : ''
      const key = decodeQueryComponent(rawKey)
      const value = decodeQueryComponent(rawValue)
      const name = key ?? rawKey
      if (key === undefined || value === undefined) {
        malformed ??= []
        malformed.push(name)
      }
      const kept = value ?? rawValue
      const existing = query[name]
      if (existing === undefined) query[name] = kept
      else if (Array.isArray(existing)) existing.push(kept)
      else query[name] = [existing, kept]
    }
    start = end + 1
  }
  if (malformed) Object.defineProperty(query, MALFORMED_QUERY_KEYS, { value: malformed })
  return query
}

/**
 * The path of the first string in `value` holding an unpaired surrogate, or undefined. Depth is
 * bounded by MAX_JSON_DEPTH (checked before parsing); the path is built only for what is found.
 */
function malformedString(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : []
  if (typeof value !== 'object' || value === null) return undefined
  for (const key in value) {
    const found = malformedString((value as Record<string, unknown>)[key])
    if (found) {
      found.unshift(key)
      return found
    }
  }
  return undefined
}

/** Far deeper than any body of this API (three levels at most), far below what a stack holds. */
export const MAX_JSON_DEPTH = 64

/**
 * Whether JSON text nests arrays and objects deeper than `limit`: one pass over the text, no
 * recursion, no allocation, before anything parses it. A deep body (`[[[[…`) would otherwise
 * cost every later walk over it time and stack, and overflow the stack past a few thousand levels.
 */
export function nestedDeeperThan(text: string, limit: number): boolean {
  if (text.length <= limit) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // a backslash: the next character is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** Why Fastify's parser refused a body, naming the body: not JSON, or JSON with a prototype key. */
function jsonProblem(text: string, error: Error): AppError {
  try {
    JSON.parse(text)
  } catch {
    return new AppError('bad_request', 'The request body is not valid JSON', { body: ['must be valid JSON'] })
  }
  // Valid JSON refused all the same: secure-json-parse's prototype-poisoning check.
  return new AppError(
    'bad_request',
    'The request body holds a __proto__ or constructor.prototype key',
    { body: ['must not hold a __proto__ or constructor.prototype key'] },
    { cause: error },
  )
}

/**
 * JSON bodies must be valid UTF-8 and hold no unpaired surrogates (`"\ud800"`): both would
 * otherwise be stored as replacement characters or as bytes that are not UTF-8 at all, and reach
 * customers' SMS that way. A 400 naming the field instead; parsing itself is Fastify's (prototype
 * poisoning refused). A charset other than UTF-8 is a 415; an empty body is no body.
 */
export function strictJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // Nothing here decompresses: a compressed body would be read as garbage, or worse, as JSON.
    const encoding = request.headers['content-encoding']
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      done(
        new AppError(
          'unsupported_media_type',
          `Content-Encoding ${encoding} is not supported: send the body uncompressed`,
        ),
      )
      return
    }
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1]
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(
        new AppError('unsupported_media_type', `charset=${charset} is not supported: send the body as UTF-8`),
      )
      return
    }
    // A Content-Type sent with no body (some clients add it to every DELETE): no body, as if none
    // was named. A route that needs one says so through its schema.
    if ((body as Buffer).length === 0) {
      done(null, undefined)
      return
    }
    let text: string
    try {
      text = UTF8.decode(body as Buffer)
    } catch {
      done(new AppError('bad_request', 'The request body is not valid UTF-8', { body: ['must be UTF-8'] }))
      return
    }
    if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
      const message = `must not nest arrays and objects more than ${MAX_JSON_DEPTH} levels deep`
      done(new AppError('bad_request', `The request body is nested too deeply`, { body: [message] }))
      return
    }
    parseJson(request, text, (error, parsed) => {
      if (error) return done(jsonProblem(text, error))
      const path = malformedString(parsed)
      if (path) {
        const field = path.length > 0 ? path.join('.') : 'body'
        return done(
          new AppError('validation_failed', 'The request is invalid', {
            [field]: ['must be valid Unicode text (it holds an unpaired surrogate)'],
          }),
        )
      }
      done(null, parsed)
    })
  })
}

// What every API reply carries (src/http/security.ts), as header lines.
const RAW_API_HEADERS = Object.entries(API_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('')

const CLIENT_ERRORS: Record<string, AppError> = {
  ERR_HTTP_REQUEST_TIMEOUT: new AppError('request_timeout', 'The request did not arrive in time'),
  HPE_HEADER_OVERFLOW: new AppError('headers_too_large', 'The request headers are too large'),
}
const MALFORMED = new AppError('bad_request', 'The request is not well-formed HTTP/1.1')

/**
 * Answers on a bare connection, with no response object to answer through: the envelope (with the
 * request's id if there is a request, else one of its own), ending the connection. Logged at info:
 * the client's mistake.
 */
function answerOnSocket(
  log: FastifyInstance['log'],
  socket: Duplex,
  answer: AppError,
  fields: Record<string, unknown>,
  id: string = randomUUID(),
): void {
  const status = answer.statusCode
  const envelope: ErrorEnvelope = {
    error: answer.message,
    code: answer.code,
    details: answer.details,
    correlation_id: id,
  }
  log.info({ request_id: id, ...fields, status }, answer.message)
  if (socket.writable) {
    const body = JSON.stringify(envelope)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${id}\r\n${RAW_API_HEADERS}Date: ${new Date().toUTCString()}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    )
  }
}

/**
 * Node's `clientError`: the connection is answered in the envelope (with a request id of its own,
 * since no request exists) and closed. A reset connection has nobody to answer.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: NodeJS.ErrnoException,
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const answer = (error.code ? CLIENT_ERRORS[error.code] : undefined) ?? MALFORMED
  answerOnSocket(this.log, socket, answer, { err_code: error.code })
  socket.destroy(error)
}

const CONNECT_LINGER_MS = 1_000
const CONNECT = new AppError('bad_request', 'CONNECT is not supported: this service is not a proxy', {
  method: ['must not be CONNECT'],
})

/**
 * Node's `connect` event: a CONNECT request, which Node hands over with its bare connection
 * (without a listener it drops the connection, unanswered). Answered in the envelope and closed.
 */
export function answerConnect(log: FastifyInstance['log'], request: IncomingMessage, socket: Duplex): void {
  // The connection is ours now, its errors too: a reset after the answer has nobody to tell.
  socket.on('error', () => {})
  answerOnSocket(log, socket, CONNECT, { method: 'CONNECT' }, requestId(request))
  // What the client sends meanwhile is read and dropped (unread, it would turn the close into a
  // reset that may cut off the answer); the connection is let go once the client has closed its
  // side, or a second after the answer at most (an HTTP server's sockets stay half-open).
  socket.resume()
  socket.end()
  const timer = setTimeout(() => socket.destroy(), CONNECT_LINGER_MS)
  timer.unref()
  socket.once('end', () => socket.destroy())
  socket.once('close', () => clearTimeout(timer))
}
