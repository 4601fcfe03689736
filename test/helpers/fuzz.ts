import type { InjectOptions } from 'fastify'
import { seededUint32 } from './random.js'

// Requests generated from the OpenAPI document, then broken the ways clients and attackers break
// them: hostile values in the query, path, body and headers, and other methods. Shared by the
// bounded fuzz test (test/fuzz.test.ts) and the longer run (npm run fuzz).

type Schema = { properties?: Record<string, Schema>; type?: string; example?: unknown; examples?: unknown[] }
interface Operation {
  parameters?: Array<{ in: string; name: string; schema?: Schema }>
  requestBody?: { content?: Record<string, { schema?: Schema }> }
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>
}

export interface FuzzRoute {
  method: string
  path: string
  params: string[]
  query: string[]
  body: Record<string, Schema> | undefined
}

export interface FuzzCase {
  route: FuzzRoute
  request: InjectOptions & { method: string; url: string }
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/** Every operation of the document (the docs pages excepted). */
export function fuzzRoutes(doc: OpenApiDocument): FuzzRoute[] {
  const routes: FuzzRoute[] = []
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const parameters = operation.parameters ?? []
      routes.push({
        method: method.toUpperCase(),
        path,
        params: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: parameters.filter((p) => p.in === 'query').map((p) => p.name),
        body: operation.requestBody?.content?.['application/json']?.schema?.properties,
      })
    }
  }
  return routes
}

// Text clients send by mistake or on purpose: empty, blank, huge, control characters, lone
// surrogates, prototype names, numbers written oddly, SQL and path tricks, a + for a space.
const HOSTILE_TEXT = [
  '',
  ' ',
  '0',
  '-1',
  '1e3',
  '0x10',
  '1.5',
  '99999999999999999999999',
  'NaN',
  'null',
  'true',
  '__proto__',
  'constructor',
  'toString',
  "' or 1=1 --",
  '%',
  '%zz',
  '..%2F..%2Fetc%2Fpasswd',
  '\u0000',
  'a\nb',
  '\ud800',
  '😀',
  'x'.repeat(300),
  'y'.repeat(5_000),
  '2018-11-20T19:29:32 08:00',
  '2018-11-20T19:29:32+08:00',
  'MY',
  'my',
  'de619854-b59b-425e-9db4-943979e1bd49',
  'PENDING',
  'CONFIRMED',
  'CUST001',
  '1.234',
  '-order_time',
]
// Query text as it appears in a URL: some already percent-encoded, some broken.
const RAW_QUERY = ['%FF', '%E0%A4', '%ED%A0%80', '%00', '+', '%2B08:00', 'a%26b', '%25']
const PATH_VALUES = [
  '1',
  '2',
  '0',
  '-1',
  'abc',
  '2147483648',
  '%FF',
  '%2F',
  'x'.repeat(1_200),
  '__proto__',
  '2B95UEQ5I51PT1SP',
]

/** Percent-encoded; a lone surrogate (which encodeURIComponent refuses) as its UTF-8-like bytes. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text)
  } catch {
    return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '')).concat('%ED%A0%80')
  }
}

function asText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)
}

export interface Fuzzer {
  next(): FuzzCase
}

export function createFuzzer(routes: FuzzRoute[], seed: number, tokens: Record<string, string>): Fuzzer {
  const random = seededUint32(seed)
  const below = (n: number) => random() % n
  const chance = (p: number) => random() / 2 ** 32 < p
  const pick = <T>(items: readonly T[]): T => items[below(items.length)] as T

  function value(schema: Schema | undefined): unknown {
    const example = schema?.example ?? schema?.examples?.[0]
    if (example !== undefined && chance(0.4)) return example
    switch (below(9)) {
      case 0:
        return below(2_000) - 1_000
      case 1:
        return pick([null, true, false, 1.5, -0, 1e308])
      case 2:
        return [pick(HOSTILE_TEXT)]
      case 3:
        return { __proto__: null, nested: pick(HOSTILE_TEXT) }
      default:
        return pick(HOSTILE_TEXT)
    }
  }

  function queryText(route: FuzzRoute): string {
    const parts: string[] = []
    for (const name of route.query) if (chance(0.5)) parts.push(`${name}=${encode(asText(value(undefined)))}`)
    if (chance(0.3)) parts.push(`${pick(route.query.length > 0 ? route.query : ['q'])}=${pick(RAW_QUERY)}`)
    if (chance(0.2))
      parts.push(
        `${pick(['__proto__', 'constructor', 'customer_id', 'unknown', '', '%FF'])}=${pick(RAW_QUERY)}`,
      )
    if (chance(0.1) && route.query[0]) parts.push(`${route.query[0]}=1`, `${route.query[0]}=2`)
    if (chance(0.05)) parts.push('&&=&')
    return parts.join('&')
  }

  function body(route: FuzzRoute): { payload?: string; contentType?: string } {
    const roll = below(20)
    if (roll === 0) return {}
    if (roll === 1) return { payload: `${'['.repeat(500 + below(5_000))}`, contentType: 'application/json' }
    if (roll === 2) return { payload: '{"__proto__":{"admin":true}}', contentType: 'application/json' }
    if (roll === 3) return { payload: '{"a":', contentType: 'application/json' }
    if (roll === 4)
      return {
        payload: 'count=1',
        contentType: pick([
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=latin1',
        ]),
      }
    const fields: Record<string, unknown> = {}
    for (const [name, schema] of Object.entries(route.body ?? {}))
      if (chance(0.7)) fields[name] = value(schema)
    if (chance(0.1)) fields[pick(['extra', 'constructor', 'toString'])] = value(undefined)
    return { payload: JSON.stringify(chance(0.05) ? [fields] : fields), contentType: 'application/json' }
  }

  function headers(contentType: string | undefined): Record<string, string> {
    const result: Record<string, string> = {}
    const roll = below(12)
    const token = tokens[pick(Object.keys(tokens))] as string
    if (roll < 8) result.authorization = `Bearer ${token}`
    else if (roll === 8) result.authorization = `bearer  ${token}  `
    else if (roll === 9)
      result.authorization = pick(['Bearer', 'Basic YTpi', 'Bearer x.y.z', `Bearer ${token}x`])
    if (contentType) result['content-type'] = contentType
    if (chance(0.1)) result['idempotency-key'] = pick(['', 'k', 'x'.repeat(300), '\u00e9t\u00e9'])
    if (chance(0.05)) result['content-encoding'] = 'gzip'
    if (chance(0.05)) result['x-request-id'] = pick(['', 'x'.repeat(500), 'a b'])
    return result
  }

  return {
    next() {
      const route = pick(routes)
      const method = chance(0.85) ? route.method : pick(METHODS)
      let path = route.path
      for (const name of route.params)
        path = path.replace(`{${name}}`, chance(0.7) ? pick(PATH_VALUES.slice(0, 3)) : pick(PATH_VALUES))
      if (chance(0.3)) path = `${path}/`
      const query = queryText(route)
      const sent = method === 'GET' || method === 'HEAD' || chance(0.1) ? {} : body(route)
      const request: FuzzCase['request'] = {
        method,
        url: query ? `${path}?${query}` : path,
        headers: headers(sent.contentType),
        ...(sent.payload !== undefined && { payload: sent.payload }),
      }
      return { route, request }
    },
  }
}

export interface FuzzReply {
  statusCode: number
  headers: Record<string, unknown>
  body: string
}

/** What is wrong with a reply, or undefined: no 5xx, and every error in the one envelope. */
export function replyProblem(method: string, reply: FuzzReply): string | undefined {
  if (reply.statusCode >= 500) return `status ${reply.statusCode}: ${reply.body.slice(0, 300)}`
  if (reply.statusCode < 400 || method === 'HEAD') return undefined
  let envelope: Record<string, unknown>
  try {
    envelope = JSON.parse(reply.body)
  } catch {
    return `status ${reply.statusCode} not JSON: ${reply.body.slice(0, 200)}`
  }
  const details = envelope.details as Record<string, unknown> | undefined
  const ok =
    typeof envelope.error === 'string' &&
    typeof envelope.code === 'string' &&
    typeof envelope.correlation_id === 'string' &&
    typeof details === 'object' &&
    details !== null &&
    Object.values(details).every(
      (messages) => Array.isArray(messages) && messages.every((m) => typeof m === 'string'),
    )
  return ok ? undefined : `status ${reply.statusCode} outside the envelope: ${reply.body.slice(0, 300)}`
}
