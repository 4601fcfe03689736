// What HTTP/1.1 requires of a request's framing that Node's server either answers itself, outside
// the error envelope (a missing Host: 400 with no body; an Expect it cannot meet: 417 with no
// body; CONNECT: the connection dropped without a word), or lets through (a second Host). Here
// each is answered in the envelope, with a request id, naming the header.
import type { IncomingMessage } from 'node:http'
import { AppError } from './errors.js'

// Node's own test for an Expect it meets by itself (lib/_http_server.js): it sends 100 Continue.
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i

// The connection is closed after these: what else it carries is not to be trusted to be framed as
// the client meant (a second Host is how a request is smuggled past a proxy; a 417 answered before
// a body leaves that body to be read as the next request).
const closing = (...[code, message, details]: ConstructorParameters<typeof AppError>) =>
  new AppError(code, message, details, { headers: { connection: 'close' } })
const NO_HOST = closing('bad_request', 'An HTTP/1.1 request must send a Host header', {
  host: ['is required (HTTP/1.1)'],
})
const TWO_HOSTS = closing('bad_request', 'The Host header was sent more than once', {
  host: ['must be sent once'],
})
const EXPECTATION = closing('expectation_failed', 'The Expect header asks for what this service cannot do', {
  expect: ['only 100-continue is supported'],
})
// What a request pipelined behind a refused one gets: nothing, in effect (the connection closes
// after the refusal, and a reply queued behind it is never sent), and no work done for it.
const AFTER_REFUSAL = closing(
  'bad_request',
  'The connection is closing: an earlier request on it was refused',
)

/** The request refused on each connection: those pipelined behind it are refused too. */
const refusedOn = new WeakMap<object, IncomingMessage>()

/** How many times `raw` (a request's rawHeaders: name, value, name, value…) names Host. */
function hostsIn(raw: string[]): number {
  let count = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') count++
  }
  return count
}

/**
 * RFC 9112 §3.2: a 400 for an HTTP/1.1 request without Host, and for any request with more than
 * one; RFC 9110 §10.1.1: a 417 for an expectation other than 100-continue. Undefined if none.
 */
export function framingProblem(request: IncomingMessage): AppError | undefined {
  const first = refusedOn.get(request.socket)
  if (first !== undefined && first !== request) return AFTER_REFUSAL
  const problem = problemOf(request)
  // Node parses every request a packet holds, and emits each at once: one pipelined behind this
  // one would otherwise be served (a number issued, its reply never sent).
  if (problem) refusedOn.set(request.socket, request)
  return problem
}

function problemOf(request: IncomingMessage): AppError | undefined {
  const { host, expect } = request.headers
  if (host === undefined) {
    if (request.httpVersionMajor > 1 || (request.httpVersionMajor === 1 && request.httpVersionMinor >= 1)) {
      return NO_HOST
    }
  } else if (hostsIn(request.rawHeaders) > 1) return TWO_HOSTS
  if (expect !== undefined && !CONTINUE.test(expect)) return EXPECTATION
  return undefined
}
