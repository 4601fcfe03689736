// The framework's own ceiling for the HTTP benchmark: Fastify, as Waybill uses it, with one route and
// nothing else (no logger, no hooks, no validation, no database), answering every request with the
// exact bytes of one real Waybill reply, headers included. Between the node:http baseline and this,
// the ratio shows what the framework costs on this machine; between this and the service, what
// Waybill's own work costs.
//
//   BASELINE_BODY_FILE=reply.json BASELINE_HEADERS_FILE=reply-headers.json PORT=0 node dist/bench/fastify-server.js
//
// Same environment and output as baseline-server.js: prints {"port":N} on stdout once listening.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { loadHeaders } from './reply-headers.js'

const file = process.env.BASELINE_BODY_FILE
if (!file) throw new Error('fastify-server: set BASELINE_BODY_FILE to the JSON body to serve')
const body = readFileSync(file, 'utf8')
// Set as Waybill's own hooks set them: one reply.headers() call (Fastify adds content-length).
const headers = Object.fromEntries(loadHeaders(process.env.BASELINE_HEADERS_FILE))
const port = Number(process.env.PORT ?? 0)
const host = process.env.HOST || '127.0.0.1'

const app = Fastify({ logger: false })
app.get('/next-tracking-number', (_request, reply) => {
  reply.headers(headers).send(body)
})
await app.listen({ port, host })
const address = app.server.address()
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : port })}\n`,
)

let closing = false
function shutdown(): void {
  if (closing) return
  closing = true
  app.server.closeAllConnections()
  app.close().then(() => process.exit(0))
  setTimeout(() => process.exit(0), 2_000).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
