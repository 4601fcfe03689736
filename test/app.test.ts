import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { test } from 'node:test'
import { bearer, build, issueUrl } from './helpers/build.js'

test('shutdown: a keep-alive connection busy when closing starts is closed after its reply', async (t) => {
  const app = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  // A client that would keep its connection open for a long time, like a proxy's keep-alive pool.
  const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 })
  t.after(() => agent.destroy())
  const headers = await bearer('client')

  // Close as soon as the request has arrived (it then waits for its group commit).
  let closed: Promise<undefined> | undefined
  let started = 0
  app.server.once('request', () =>
    setImmediate(() => {
      started = performance.now()
      closed = app.close()
    }),
  )
  const reply = new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: issueUrl(), agent, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }))
    })
      .on('error', reject)
      .end()
  })
  const { status, connection } = await reply
  assert.equal(status, 200, 'the request in flight is answered')
  assert.equal(connection, 'close', 'and told that the connection ends')
  assert.ok(closed, 'close() was called while the request was in flight')
  await closed
  // The keep-alive timeout is 72 s: a close that waited for it would take that long. 10 s leaves
  // room for a busy machine.
  assert.ok(performance.now() - started < 10_000, 'close() did not wait for the idle keep-alive connection')
})
