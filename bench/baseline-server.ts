// The yardstick for the HTTP benchmark: the cheapest keep-alive JSON server node:http allows, answering
// every request with the exact bytes of one real Waybill reply. The service/baseline ratio then measures
// what Waybill adds on top of Node's HTTP stack on this machine, not the machine itself.
//
//   BASELINE_BODY_FILE=reply.json BASELINE_HEADERS_FILE=reply-headers.json PORT=0 node dist/bench/baseline-server.js
//
// Env: BASELINE_BODY_FILE (path of the body) or BASELINE_BODY (the body itself);
// BASELINE_HEADERS_FILE (optional: the reply's headers as JSON [name, value] pairs, in order, as
// bench/servers.ts's captureReply writes them; else a JSON content type alone); PORT (0 =
// ephemeral); HOST (default 127.0.0.1). Prints {"port":N} on stdout once listening; SIGTERM closes it.
//
// BASELINE_INSIDE_SERVICE=1 first starts Waybill in this same process (dist/src/server.js, configured
// by the same environment, on a port of its own, never sent a request), then serves as above: the same
// handler in a process that also holds the service (bench/perf.js --only=node,node-in-waybill shows
// what that alone costs each request).
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { loadHeaders } from './reply-headers.js'

if (process.env.BASELINE_INSIDE_SERVICE === '1') await import('../src/server.js')

function loadBody(): Buffer {
  const file = process.env.BASELINE_BODY_FILE
  if (file) return readFileSync(file)
  const inline = process.env.BASELINE_BODY
  if (inline) return Buffer.from(inline, 'utf8')
  throw new Error('baseline-server: set BASELINE_BODY_FILE or BASELINE_BODY to the JSON body to serve')
}

const body = loadBody()
const port = Number(process.env.PORT ?? 0)
const host = process.env.HOST || '127.0.0.1'
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  throw new Error(`baseline-server: PORT must be 0-65535, got "${process.env.PORT}"`)
}

// The captured reply's headers, in its order, then the length, as Waybill and Fastify send it.
const headers = [
  ...loadHeaders(process.env.BASELINE_HEADERS_FILE).flat(),
  'content-length',
  String(body.length),
]

const server = createServer((request, response) => {
  // Drain any request body so the keep-alive connection can carry the next request.
  request.resume()
  response.writeHead(200, headers)
  response.end(body)
})
// Fastify's default; Node's 5 s would only matter between runs, but keep the two servers alike.
server.keepAliveTimeout = 72_000

server.listen(port, host, () => {
  const address = server.address()
  const bound = typeof address === 'object' && address ? address.port : port
  process.stdout.write(`${JSON.stringify({ port: bound })}\n`)
})

let closing = false
function shutdown(): void {
  if (closing) return
  closing = true
  server.close(() => process.exit(0))
  // Keep-alive connections would hold close() open until they time out; nothing is in flight worth keeping.
  server.closeAllConnections()
  setTimeout(() => process.exit(0), 2_000).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
