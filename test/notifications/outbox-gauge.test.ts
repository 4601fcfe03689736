import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { AggregatorRegistry, Registry } from 'prom-client'
import { claimDue, enqueueNotification, markFailed, markSent } from '../../src/notifications/outbox.js'
import { registerOutboxGauge } from '../../src/notifications/outbox-gauge.js'
import { build, migratedDatabase, openDatabase } from '../helpers/build.js'

/** The gauge's samples as the scrape shows them: {state: value}. */
async function scrape(registry: Pick<Registry, 'metrics'>): Promise<Record<string, number>> {
  const text = await registry.metrics()
  return Object.fromEntries(
    [...text.matchAll(/^sms_outbox_notifications\{state="(\w+)"\} (\d+)$/gm)].map(([, state, value]) => [
      state,
      Number(value),
    ]),
  )
}

test('sms_outbox_notifications counts the outbox by state at each scrape', async (t) => {
  const db = await migratedDatabase(t)
  const registry = new Registry()
  registerOutboxGauge(registry, db)
  assert.deepEqual(await scrape(registry), { pending: 0, failed: 0, sent: 0 })

  for (let i = 0; i < 5; i++) {
    await enqueueNotification(db, { orderId: 1, event: `e${i}`, recipient: '+254722000000', message: 'm' })
  }
  const [sent, failed, sending] = await claimDue(db, { limit: 3, now: new Date(), claimTimeoutMs: 60_000 })
  assert.ok(sent && failed && sending)
  await markSent(db, { id: sent.id, claimToken: sent.claim_token }, { messageId: 'ATXid_1', cost: '1' })
  await markFailed(db, { id: failed.id, claimToken: failed.claim_token }, 'InvalidPhoneNumber')
  // Two waiting and one being sent: all three not delivered yet.
  assert.deepEqual(await scrape(registry), { pending: 3, failed: 1, sent: 1 })
  const text = await registry.metrics()
  assert.match(text, /^# TYPE sms_outbox_notifications gauge$/m)

  // WEB_CONCURRENCY > 1: the primary merges every worker's registry; each counted the same rows.
  const worker2 = new Registry()
  registerOutboxGauge(worker2, db)
  const merged = AggregatorRegistry.aggregate([
    await registry.getMetricsAsJSON(),
    await worker2.getMetricsAsJSON(),
  ])
  assert.deepEqual(await scrape(merged), { pending: 3, failed: 1, sent: 1 }, 'not twice the rows')
})

test('with the outbox unreadable the scrape still answers, without stale outbox figures', async (t) => {
  const db = await migratedDatabase(t)
  const registry = new Registry()
  registerOutboxGauge(registry, db)
  assert.deepEqual(await scrape(registry), { pending: 0, failed: 0, sent: 0 })
  // Every count now fails, as it would while the database is down.
  await sql`alter table notifications rename to notifications_away`.execute(db)
  const text = await registry.metrics()
  assert.match(text, /^# TYPE sms_outbox_notifications gauge$/m)
  assert.deepEqual(await scrape(registry), {}, 'no figure rather than the last one')
})

test("the app's /metrics shows the outbox", async (t) => {
  const app = await build(t, {}, { as: null })
  // SMS is disabled (no credentials): what is enqueued waits, and shows as pending.
  await enqueueNotification(openDatabase(t, app.databaseUrl), {
    orderId: 1,
    event: 'created',
    recipient: '+254722000000',
    message: 'm',
  })
  const res = await app.inject({ url: '/metrics' })
  assert.equal(res.statusCode, 200)
  assert.match(res.body, /^sms_outbox_notifications\{state="pending"\} 1$/m)
  assert.match(res.body, /^sms_outbox_notifications\{state="failed"\} 0$/m)
  // PostgreSQL's standbys only on PostgreSQL: elsewhere a 0 would set off an alert on it.
  const standbys = /^database_synchronous_standbys \d+$/m.test(res.body)
  assert.equal(standbys, process.env.WAYBILL_TEST_DIALECT === 'postgres', res.body.slice(0, 200))
})
