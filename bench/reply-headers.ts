// The headers the reference servers (baseline-server.ts, fastify-server.ts) send besides those every
// node:http server writes itself: the captured Waybill reply's, as bench/servers.ts's captureReply
// writes them, so that all three servers send the same bytes.
import { readFileSync } from 'node:fs'

const JSON_ONLY: [string, string][] = [['content-type', 'application/json; charset=utf-8']]

/** The [name, value] pairs in `file` (JSON), in order; without a file, a JSON content type alone. */
export function loadHeaders(file: string | undefined): [string, string][] {
  if (!file) return JSON_ONLY
  const pairs: unknown = JSON.parse(readFileSync(file, 'utf8'))
  const valid =
    Array.isArray(pairs) &&
    pairs.every(
      (pair) => Array.isArray(pair) && pair.length === 2 && pair.every((part) => typeof part === 'string'),
    )
  if (!valid) throw new Error(`${file}: expected a JSON array of [name, value] string pairs`)
  return pairs as [string, string][]
}
