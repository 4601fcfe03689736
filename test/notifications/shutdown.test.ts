import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { enqueueNotification } from '../../src/notifications/outbox.js'
import { migratedDatabase, testDatabaseUrl } from '../helpers/build.js'
import { startFakeAfricasTalking } from '../helpers/fake-africastalking.js'
import { startServer, waitFor } from '../helpers/processes.js'

// SIGTERM while the gateway is still answering an SMS: the process waits for the answer as long as
// SHUTDOWN_TIMEOUT_MS allows, and names the SMS it had to leave unanswered (it may be sent twice:
// its claim expires and another process sends it again).

async function sendingWhenStopped(t: TestContext, options: { answerMs: number; shutdownMs: number }) {
  const gateway = await startFakeAfricasTalking()
  t.after(() => gateway.close())
  gateway.queue({ slowMs: options.answerMs })
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const server = await startServer({
    DATABASE_URL: url,
    AT_USERNAME: 'sandbox',
    AT_API_KEY: gateway.apiKey,
    AT_BASE_URL: gateway.baseUrl,
    SMS_POLL_INTERVAL_MS: '50',
    SHUTDOWN_TIMEOUT_MS: String(options.shutdownMs),
  })
  t.after(() => server.kill9())
  const id = await enqueueNotification(db, {
    orderId: 1,
    event: 'created',
    recipient: '+254722000000',
    message: 'Your order is PENDING',
  })
  await waitFor(() => gateway.requests.length === 1, 10_000)
  assert.equal(gateway.requests.length, 1, 'the gateway is answering the SMS')
  const code = await server.stop()
  const [row] = await db.selectFrom('notifications').selectAll().execute()
  const messages = server.logs.map((log) => log.msg)
  return { code, row, id, messages, logs: server.logs }
}

const MAY_BE_SENT_TWICE = 'stopped with an SMS in flight: it may be sent twice'

test('SIGTERM waits for a slow gateway within SHUTDOWN_TIMEOUT_MS and records the answer', async (t) => {
  // The answer comes 2.5 s after the request: past half of the 4 s budget, within the rest of it.
  const { code, row, messages } = await sendingWhenStopped(t, { answerMs: 2_500, shutdownMs: 4_000 })
  assert.equal(code, 0)
  assert.equal(row?.status, 'sent', 'recorded: no other process will send it again')
  assert.ok(!messages.includes(MAY_BE_SENT_TWICE))
  const sent = messages.indexOf('SMS sent')
  assert.ok(sent >= 0 && sent < messages.indexOf('shutdown complete'), messages.join(', '))
})

test('SIGTERM with an answer beyond SHUTDOWN_TIMEOUT_MS names the SMS that may be sent twice', async (t) => {
  const { code, row, id, logs } = await sendingWhenStopped(t, { answerMs: 20_000, shutdownMs: 1_000 })
  assert.equal(code, 0)
  const warned = logs.filter((log) => log.msg === MAY_BE_SENT_TWICE)
  assert.deepEqual(
    warned.map((log) => [log.level, log.notification]),
    [[40, id]],
  )
  assert.equal(row?.status, 'sending', 'its claim holds until it expires')
})
