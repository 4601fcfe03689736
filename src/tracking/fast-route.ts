// `GET /next-tracking-number` answered on node:http's own request event, for the requests that
// need nothing else: the one call carriers make tens of thousands of times a second. Fastify's
// lifecycle (routing, a dozen hook calls, the reply object, its promise chain) is about a tenth of
// such a request's main-thread CPU, and its hooks' own work more (docs/benchmarks.md). Everything
// this path cannot answer exactly as the Fastify route would is handed to Fastify untouched:
// another method or path, an Idempotency-Key, an Origin, a body, a request HTTP/1.1 refuses (no
// Host, two, an Expect other than 100-continue), a token not verified before (or
// refused, or of too low a role), a query the schema refuses, debug logging on, the service
// closing. Two are handed over later: a request past the rate limit, counted here and again by
// Fastify, which refuses it (a refused request counted twice changes nothing); and one whose
// number could not be issued, with the error, for Fastify to answer. What this path does answer is
// the route's 200, with the same bytes, headers, counts and metrics (test/tracking/fast-route.test.ts
// sends each request both ways and compares).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { framingProblem } from '../http/framing.js'
import { type HandedOver, ISSUE_FAILED } from '../http/handover.js'
import { type IssueRequest, requestMetadata, type TrackingService } from './service.js'

export interface FastIssueDeps {
  service: Pick<TrackingService, 'issue'>
  /** The paths Fastify serves the route on (each also with a trailing slash). */
  paths: readonly string[]
  /** Whether the fast path may take a request now (not closing, successful requests not logged). */
  open: () => boolean
  /** Whether the service is shutting down: replies then end their connection, as Fastify's do. */
  closing: () => boolean
  /** The caller's rate-limit key, for a verified token of a role the route allows; else undefined. */
  principal: (header: string, socket: object) => string | undefined
  /** Counts one request against `key`: whether it is within the limit (later, from Redis). */
  count: (key: string) => boolean | Promise<boolean>
  /** The parsed query string (the router's own parser). */
  parseQuery: (text: string) => Record<string, unknown>
  /** The route's query schema, compiled by the same validator compiler as the app's (src/http/validation.ts). */
  validate: (query: Record<string, unknown>) => boolean
  /** The route's query fields as the service takes them. */
  toIssueRequest: (query: Record<string, unknown>) => IssueRequest
  /** The request id (x-request-id in and out, and the reply's correlation_id). */
  requestId: (request: IncomingMessage) => string
  /** The route's 200 reply body, byte for byte as its response schema serializes it (NextTrackingNumberWire). */
  serialize: (body: unknown) => string
  /** Headers every API reply carries besides the request id (src/http/security.ts). */
  headers: Readonly<Record<string, string>>
  /** The request-duration metric, as the onResponse hook records it. */
  observe: (route: string, status: number, seconds: number) => void
  /** Fastify's own request handler. */
  fallback: (request: IncomingMessage, response: ServerResponse) => void
}

const JSON_TYPE = 'application/json; charset=utf-8'

/** The route, or undefined: the path of a request URL if it is exactly one of `paths` (or with a slash). */
function routeOf(url: string, paths: readonly string[]): { route: string; query: string } | undefined {
  const mark = url.indexOf('?')
  const path = mark === -1 ? url : url.slice(0, mark)
  for (const route of paths) {
    if (
      path === route ||
      (path.length === route.length + 1 && path.endsWith('/') && path.startsWith(route))
    ) {
      return { route, query: mark === -1 ? '' : url.slice(mark + 1) }
    }
  }
  return undefined
}

export interface FastIssueRoute {
  /** The node:http request listener: the fast path where it applies, Fastify's handler otherwise. */
  listener: (request: IncomingMessage, response: ServerResponse) => void
  /** Requests the fast path has taken (each answered here, or handed over after issuing failed). */
  readonly taken: number
}

export function fastIssueRoute(deps: FastIssueDeps): FastIssueRoute {
  const { service, paths, fallback } = deps
  const apiHeaders = Object.entries(deps.headers).flat()
  let taken = 0

  // Later, from a promise: nothing may throw out of it unseen (Fastify's handler does not throw).
  function toFastify(request: IncomingMessage, response: ServerResponse): void {
    try {
      fallback(request, response)
    } catch {
      response.destroy()
    }
  }

  function issue(
    request: IncomingMessage,
    response: ServerResponse,
    route: string,
    query: Record<string, unknown>,
    started: number,
  ): void {
    taken++
    const id = deps.requestId(request)
    // Whatever fails from here on is Fastify's to answer, as it would have been in its route; and
    // nothing may throw out of the request listener (no one would catch it) or reject unseen.
    const handOver = (error: unknown) => {
      ;(request as HandedOver)[ISSUE_FAILED] = error
      toFastify(request, response)
    }
    let issuing: ReturnType<typeof service.issue>
    try {
      issuing = service.issue(deps.toIssueRequest(query), 1)
    } catch (error) {
      handOver(error)
      return
    }
    issuing.then((issued) => {
      try {
        const body = deps.serialize({
          tracking_number: issued.tracking_numbers[0],
          created_at: issued.created_at,
          correlation_id: id,
          request_metadata: requestMetadata(issued),
        })
        // In the order Fastify's onSend hooks set them (src/app.ts, then src/http/security.ts), as
        // a flat list: an object spread together per reply made V8 build a new hidden class for each.
        const head = ['content-type', JSON_TYPE, 'x-request-id', id]
        if (deps.closing()) head.push('connection', 'close')
        for (const value of apiHeaders) head.push(value)
        head.push('content-length', String(Buffer.byteLength(body)))
        response.writeHead(200, head)
        // Observed once the reply is written out, as Fastify's onResponse hook is: a reply whose
        // client has gone (it never finishes) is not counted there either.
        response.end(body, () => deps.observe(route, 200, (performance.now() - started) / 1000))
      } catch (error) {
        // Stored, never answered: like a reply lost on the way (nothing here is known to throw).
        if (!response.headersSent) return handOver(error)
        response.destroy()
      }
    }, handOver)
  }

  function answer(request: IncomingMessage, response: ServerResponse): boolean {
    if (request.method !== 'GET' || !deps.open()) return false
    const target = routeOf(request.url ?? '', paths)
    if (!target) return false
    const started = performance.now()
    const sent = request.headers
    const authorization = sent.authorization
    if (
      authorization === undefined ||
      sent['idempotency-key'] !== undefined ||
      sent.origin !== undefined ||
      sent['content-length'] !== undefined ||
      sent['transfer-encoding'] !== undefined ||
      framingProblem(request) !== undefined
    ) {
      return false
    }
    const key = deps.principal(authorization, request.socket)
    if (key === undefined) return false
    const query = deps.parseQuery(target.query)
    if (!deps.validate(query)) return false
    // Counted last: a request past the limit goes to Fastify, which counts it again and refuses it
    // (a refused request counted twice changes nothing); one within it is Fastify's no more.
    const within = deps.count(key)
    if (within === false) return false
    if (within === true) issue(request, response, target.route, query, started)
    else {
      within.then((yes) =>
        yes ? issue(request, response, target.route, query, started) : toFastify(request, response),
      )
    }
    return true
  }

  return {
    listener: (request, response) => {
      if (!answer(request, response)) fallback(request, response)
    },
    get taken() {
      return taken
    },
  }
}
