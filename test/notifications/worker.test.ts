import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { loadConfig } from '../../src/config.js'
import type { Database } from '../../src/db/index.js'
import { createSmsGateway } from '../../src/notifications/africastalking.js'
import {
  claimDue,
  enqueueNotification,
  listNotifications,
  markFailed,
  markRetry,
  markSent,
  outboxCounts,
  requeueFailed,
} from '../../src/notifications/outbox.js'
import {
  createNotificationWorker,
  type NotificationWorkerOptions,
  retryDelay,
} from '../../src/notifications/worker.js'
import { migratedDatabase, openDatabase, testDatabaseUrl } from '../helpers/build.js'
import { type FakeAfricasTalking, startFakeAfricasTalking } from '../helpers/fake-africastalking.js'

type Logged = { level: string; args: unknown[] }

function captureLog(logs: Logged[]): NotificationWorkerOptions['log'] {
  const at =
    (level: string) =>
    (...args: unknown[]) =>
      logs.push({ level, args })
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

// Small settings so that retries and claim expiries take milliseconds.
const timing = { maxAttempts: 5, retryBaseMs: 10, retryMaxMs: 100, pollIntervalMs: 10, claimTimeoutMs: 200 }

async function setup(t: TestContext) {
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const fake = await startFakeAfricasTalking()
  t.after(() => fake.close())
  const logs: Logged[] = []
  const worker = (
    overrides: Partial<NotificationWorkerOptions> & { apiKey?: string; timeoutMs?: number } = {},
  ) => {
    const { apiKey = fake.apiKey, timeoutMs = 2_000, ...rest } = overrides
    const gateway = createSmsGateway({
      baseUrl: fake.baseUrl,
      username: 'waybill',
      apiKey,
      senderId: 'WAYBILL',
      timeoutMs,
    })
    const w = createNotificationWorker({
      db,
      gateway,
      log: captureLog(logs),
      ...timing,
      ...rest,
    })
    t.after(() => w.stop())
    return w
  }
  return { url, db, fake, logs, worker }
}

function enqueue(db: Database, count: number, orderId = 1) {
  return db.transaction().execute(async (trx) => {
    const ids: number[] = []
    for (let i = 0; i < count; i++) {
      ids.push(
        await enqueueNotification(trx, {
          orderId,
          event: `event-${i}`,
          recipient: `+2547110${String(i).padStart(5, '0')}`,
          message: `order ${orderId} message ${i}`,
        }),
      )
    }
    return ids
  })
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(5)
  }
}

const rows = (db: Database) => db.selectFrom('notifications').selectAll().orderBy('id').execute()

function assertEachSentOnce(fake: FakeAfricasTalking, messages: string[]) {
  const sent = fake.requests.map((r) => r.message).sort()
  assert.deepEqual(sent, [...messages].sort())
}

test('one SMS per event, enqueued with the order transaction', async (t) => {
  const { db, fake, worker } = await setup(t)
  await enqueue(db, 3, 42)
  // A rolled-back transaction leaves no notification behind.
  await assert.rejects(
    db.transaction().execute(async (trx) => {
      await enqueueNotification(trx, {
        orderId: 43,
        event: 'created',
        recipient: '+254711999999',
        message: 'no',
      })
      throw new Error('order rolled back')
    }),
  )
  const w = worker()
  assert.equal(await w.runOnce(), 3)
  assert.equal(await w.runOnce(), 0)
  assert.deepEqual(
    fake.requests.map(({ username, to, message, from }) => ({ username, to, message, from })),
    [0, 1, 2].map((i) => ({
      username: 'waybill',
      to: `+2547110${String(i).padStart(5, '0')}`,
      message: `order 42 message ${i}`,
      from: 'WAYBILL',
    })),
  )
  const listed = await listNotifications(db, 42)
  assert.deepEqual(
    listed.map((n) => [n.event, n.status, n.attempts, n.last_error]),
    [0, 1, 2].map((i) => [`event-${i}`, 'sent', 1, null]),
  )
  assert.ok(listed.every((n) => n.message_id?.startsWith('ATXid_') && n.sent_at))
  assert.deepEqual(await listNotifications(db, 43), [])
  assert.deepEqual(await outboxCounts(db), { pending: 0, failed: 0, sent: 3 })
})

test('backoff grows exponentially with jitter, capped', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((n) => retryDelay(n, 100, 1_000, () => 0)),
    [50, 100, 200, 400, 500],
  )
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((n) => retryDelay(n, 100, 1_000, () => 0.999999)),
    [100, 200, 400, 800, 1_000],
  )
  assert.equal(
    retryDelay(5_000, 100, 1_000, () => 0.5),
    750,
    'huge attempt counts stay capped',
  )
})

test('failures are retried with growing delays, then the SMS goes out once', async (t) => {
  const { db, fake, worker, logs } = await setup(t)
  fake.queue({ http: 500 }, { recipient: 500 }, { destroy: true })
  await enqueue(db, 1)
  // random = 0.5: each wait is 3/4 of the exponential step 40 * 2^(attempt-1) ms.
  worker({ retryBaseMs: 40, retryMaxMs: 1_000, random: () => 0.5 }).start()
  await until(async () => (await rows(db))[0]?.status === 'sent')
  assert.equal(fake.requests.length, 4)
  const planned = logs
    .filter((l) => l.args[1] === 'SMS not sent, will retry')
    .map((l) => (l.args[0] as { retryInMs: number }).retryInMs)
  assert.deepEqual(planned, [30, 60, 120])
  // No retry came early (later is fine: a loaded machine polls late).
  const gaps = fake.requests.slice(1).map((r, i) => r.at - (fake.requests[i]?.at ?? 0))
  gaps.forEach((gap, i) => {
    assert.ok(gap >= (planned[i] ?? 0) - 2, `retry ${i + 1} came after ${gap} ms: ${gaps}`)
  })
  const [row] = await rows(db)
  assert.deepEqual([row?.attempts, row?.last_error], [4, null])
})

test('permanent failures (invalid number, blacklisted) stop after one attempt', async (t) => {
  const { db, fake, worker, logs } = await setup(t)
  fake.behaviour = (request) => ({ recipient: request.to.endsWith('0') ? 403 : 406 })
  await enqueue(db, 2)
  const w = worker()
  assert.equal(await w.runOnce(), 2)
  await sleep(50)
  assert.equal(await w.runOnce(), 0)
  assert.equal(fake.requests.length, 2)
  assert.deepEqual(
    (await rows(db)).map((r) => [r.status, r.attempts, r.last_error, r.claim_token]),
    [
      ['failed', 1, "Africa's Talking 403 InvalidPhoneNumber", null],
      ['failed', 1, "Africa's Talking 406 UserInBlacklist", null],
    ],
  )
  assert.deepEqual(await outboxCounts(db), { pending: 0, failed: 2, sent: 0 })
  assert.deepEqual(
    logs.filter((l) => l.args[1] === 'SMS failed for good').map((l) => l.level),
    ['error', 'error'],
  )
})

test('the retry limit ends in failed, logged as an error', async (t) => {
  const { db, fake, worker, logs } = await setup(t)
  fake.behaviour = () => ({ http: 502, body: 'Bad Gateway' })
  const [id] = await enqueue(db, 1)
  worker({ maxAttempts: 3 }).start()
  await until(async () => (await rows(db))[0]?.status === 'failed')
  await sleep(100)
  assert.equal(fake.requests.length, 3)
  const [row] = await rows(db)
  assert.equal(row?.attempts, 3)
  assert.equal(row?.last_error, 'gave up after 3 attempts: HTTP 502: Bad Gateway')
  const failed = logs.filter((l) => l.args[1] === 'SMS failed for good')
  assert.deepEqual(
    failed.map((l) => [l.level, (l.args[0] as { notification: number }).notification]),
    [['error', id]],
  )
})

test('the default retry schedule rides out a gateway outage of four hours', () => {
  const { maxAttempts, retryBaseMs, retryMaxMs } = loadConfig({}).sms
  // The waits after attempts 1 … maxAttempts-1, the last attempt being followed by none.
  const total = (random: () => number) =>
    Array.from({ length: maxAttempts - 1 }, (_, i) =>
      retryDelay(i + 1, retryBaseMs, retryMaxMs, random),
    ).reduce((sum, delay) => sum + delay, 0)
  const hours = (ms: number) => ms / 3_600_000
  assert.ok(hours(total(() => 0)) >= 4, `at least ${hours(total(() => 0))} h, with the shortest waits`)
  assert.ok(hours(total(() => 0.5)) >= 6, `about ${hours(total(() => 0.5))} h on average`)
  assert.ok(hours(total(() => 0.999999)) <= 8.1, `at most ${hours(total(() => 0.999999))} h`)
  assert.equal(
    retryDelay(maxAttempts - 1, retryBaseMs, retryMaxMs, () => 0.999999),
    retryMaxMs,
  )
})

test('failed SMS go back in the queue on request, due now with no attempt used; nothing else does', async (t) => {
  const { db, fake, worker } = await setup(t)
  // Messages 0-2 fail for good; message 3 is sent.
  fake.behaviour = (request) => (request.message.endsWith('3') ? { recipient: 101 } : { http: 502 })
  const ids = await enqueue(db, 4)
  const w = worker({ maxAttempts: 1 })
  assert.equal(await w.runOnce(), 4)
  assert.deepEqual(await outboxCounts(db), { pending: 0, failed: 3, sent: 1 })
  fake.behaviour = () => ({ recipient: 101 })

  assert.equal(await requeueFailed(db, { id: ids[0] ?? 0 }), 1)
  assert.equal(await requeueFailed(db, { id: ids[0] ?? 0 }), 0, 'now pending: nothing to do')
  assert.equal(await requeueFailed(db, { id: ids[3] ?? 0 }), 0, 'a sent SMS is never sent again')
  assert.equal(await requeueFailed(db, { id: 999_999 }), 0)
  const [first] = await rows(db)
  assert.deepEqual(
    [first?.status, first?.attempts, first?.claim_token],
    ['pending', 0, null],
    'due now, with all its attempts',
  )
  assert.ok(Date.parse(first?.next_attempt_at ?? '') <= Date.now())
  assert.match(first?.last_error ?? '', /^gave up after 1 attempts: HTTP 502/, 'why it had failed')
  assert.equal(await requeueFailed(db, 'all'), 2)
  assert.equal(await requeueFailed(db, 'all'), 0)

  assert.equal(await w.runOnce(), 3)
  assert.deepEqual(
    (await rows(db)).map((r) => [r.status, r.attempts, r.last_error]),
    Array.from({ length: 4 }, () => ['sent', 1, null]),
  )
  const times = (i: number) => fake.requests.filter((r) => r.message === `order 1 message ${i}`).length
  assert.deepEqual([0, 1, 2, 3].map(times), [2, 2, 2, 1], 'each failed one once more, the sent one never')
})

test('a bad API key is retried beyond the limit, logged as an error, and sent once the key is fixed', async (t) => {
  const { db, fake, worker, logs } = await setup(t)
  await enqueue(db, 1)
  const misconfigured = worker({ apiKey: 'atsk_revoked_key', maxAttempts: 2, retryMaxMs: 20 })
  misconfigured.start()
  await until(() => fake.requests.length >= 4)
  await misconfigured.stop()
  const [row] = await rows(db)
  assert.equal(row?.status, 'pending')
  assert.match(row?.last_error ?? '', /^HTTP 401 /)
  assert.ok(!(row?.last_error ?? '').includes('atsk_revoked_key'))
  assert.ok(logs.some((l) => l.level === 'error' && l.args[1] === 'SMS not sent, will retry'))
  // The operator fixes the key and restarts.
  worker().start()
  await until(async () => (await rows(db))[0]?.status === 'sent')
  assert.equal(fake.requests.filter((r) => r.apiKey === fake.apiKey).length, 1)
})

test('operator faults do not use up attempts: after a long empty balance, a passing fault is retried', async (t) => {
  const { db, fake, worker } = await setup(t)
  let answered = 0
  // Five answers of InsufficientBalance (more than maxAttempts), then one 503, then success.
  fake.behaviour = () => {
    answered++
    if (answered <= 5) return { recipient: 405 }
    return answered === 6 ? { http: 503 } : { recipient: 101 }
  }
  await enqueue(db, 1)
  worker({ maxAttempts: 3, retryMaxMs: 20 }).start()
  await until(async () => (await rows(db))[0]?.status === 'sent')
  const [row] = await rows(db)
  assert.equal(row?.attempts, 2, 'the 405s gave their attempts back: the 503 and the success count')
})

test('a gateway slower than timeoutMs is a retry', async (t) => {
  const { db, fake, worker } = await setup(t)
  fake.queue({ slowMs: 10_000 })
  await enqueue(db, 1)
  const w = worker({ timeoutMs: 100 })
  const started = Date.now()
  assert.equal(await w.runOnce(), 1)
  assert.ok(Date.now() - started < 5_000, 'gave up long before the answer')
  const [row] = await rows(db)
  assert.deepEqual([row?.status, row?.last_error], ['pending', 'no answer within 100 ms'])
  await sleep(30)
  assert.equal(await w.runOnce(), 1)
  assert.equal((await rows(db))[0]?.status, 'sent')
})

test('two workers on two connections send each of 50 notifications exactly once', async (t) => {
  const { url, db, fake, worker } = await setup(t)
  fake.behaviour = () => ({ slowMs: 3 })
  const ids = await enqueue(db, 50)
  const handled = [0, 0]
  const workers = [0, 1].map((i) =>
    worker({
      db: openDatabase(t, url),
      claimTimeoutMs: 5_000,
      batchSize: 4,
      onOutcome: () => {
        handled[i] = (handled[i] ?? 0) + 1
      },
    }),
  )
  const drain = async (w: (typeof workers)[number]) => {
    while ((await w.runOnce()) > 0);
  }
  await Promise.all(workers.map(drain))
  assertEachSentOnce(
    fake,
    ids.map((_, i) => `order 1 message ${i}`),
  )
  assert.ok((handled[0] ?? 0) > 0 && (handled[1] ?? 0) > 0, `both workers took part: ${handled}`)
  assert.deepEqual(await outboxCounts(db), { pending: 0, failed: 0, sent: 50 })
})

test('concurrent claims on two connections never hand out a row twice', async (t) => {
  const { url, db } = await setup(t)
  await enqueue(db, 50)
  const connections = [openDatabase(t, url), openDatabase(t, url)]
  const now = new Date()
  const claims = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      claimDue(connections[i % 2] as Database, { limit: 4, now, claimTimeoutMs: 60_000 }),
    ),
  )
  // SKIP LOCKED may leave a claimer short while others hold rows; a last claim takes what is left.
  claims.push(await claimDue(db, { limit: 100, now, claimTimeoutMs: 60_000 }))
  const claimed = claims.flat().map((c) => c.id)
  assert.equal(new Set(claimed).size, claimed.length, 'no row claimed twice')
  assert.equal(claimed.length, 50)
})

test('a crash between claim and send neither loses nor duplicates', async (t) => {
  const { url, db, fake, worker } = await setup(t)
  await enqueue(db, 5)
  // The crashing worker claims on its own connection and dies before sending anything.
  const crashed = await claimDue(openDatabase(t, url), {
    limit: 10,
    now: new Date(),
    claimTimeoutMs: 400,
  })
  assert.equal(crashed.length, 5)
  const survivor = worker()
  assert.equal(await survivor.runOnce(), 0, 'claimed rows are left alone until the claim expires')
  assert.equal(fake.requests.length, 0)
  await sleep(420)
  assert.equal(await survivor.runOnce(), 5)
  await sleep(250)
  assert.equal(await survivor.runOnce(), 0, 'a sent row is never claimed again')
  assertEachSentOnce(
    fake,
    [0, 1, 2, 3, 4].map((i) => `order 1 message ${i}`),
  )
  assert.deepEqual(
    (await rows(db)).map((r) => [r.status, r.attempts]),
    Array.from({ length: 5 }, () => ['sent', 2]),
  )
})

test('outcome writes apply only under the claim that holds the row', async (t) => {
  const { db } = await setup(t)
  const [id] = await enqueue(db, 1)
  const start = new Date()
  const [first] = await claimDue(db, { limit: 1, now: start, claimTimeoutMs: 100 })
  assert.equal(first?.id, id)
  assert.deepEqual(await claimDue(db, { limit: 1, now: start, claimTimeoutMs: 100 }), [])
  const [second] = await claimDue(db, { limit: 1, now: new Date(start.getTime() + 101), claimTimeoutMs: 100 })
  assert.ok(first && second && first.claim_token !== second.claim_token)
  const late = { id: first.id, claimToken: first.claim_token }
  const owner = { id: second.id, claimToken: second.claim_token }
  assert.equal(await markSent(db, late, { messageId: 'late', cost: '1' }), false)
  assert.equal(await markRetry(db, late, new Date(), 'late'), false)
  assert.equal(await markFailed(db, late, 'late'), false)
  assert.equal(await markSent(db, owner, { messageId: 'owner', cost: 'KES 0.8' }), true)
  assert.equal(await markFailed(db, owner, 'twice'), false, 'a settled row takes no second outcome')
  const [row] = await rows(db)
  assert.deepEqual(
    [row?.status, row?.message_id, row?.claim_token, row?.last_error],
    ['sent', 'owner', null, null],
  )
})

test('without a gateway nothing is sent, rows stay pending, and it says so once', async (t) => {
  const { db, logs, worker } = await setup(t)
  await enqueue(db, 2)
  const w = worker({ gateway: undefined })
  w.start()
  w.wake()
  assert.equal(await w.runOnce(), 0)
  await w.stop()
  assert.deepEqual(await outboxCounts(db), { pending: 2, failed: 0, sent: 0 })
  assert.deepEqual(
    logs.map((l) => [l.level, ...l.args]),
    [['warn', 'SMS is disabled (AT_USERNAME and AT_API_KEY are not set): notifications stay pending']],
  )
})

test('wake() sends at once, and stop() waits for the send in flight', async (t) => {
  const { db, fake, worker } = await setup(t)
  fake.queue({ slowMs: 150 })
  const w = worker({ pollIntervalMs: 60_000 })
  w.start()
  await sleep(30) // the first pass found nothing; the next poll is a minute away
  await enqueue(db, 1)
  w.wake()
  await until(() => fake.requests.length === 1, 1_000)
  await w.stop()
  assert.equal((await rows(db))[0]?.status, 'sent', 'the outcome was recorded before stop() resolved')
})

test('stop(timeoutMs) waits for a slow answer within its time and records it', async (t) => {
  const { db, fake, worker, logs } = await setup(t)
  fake.queue({ slowMs: 500 })
  await enqueue(db, 1)
  const w = worker({ timeoutMs: 5_000, claimTimeoutMs: 10_000 })
  w.start()
  await until(() => fake.requests.length === 1)
  const started = Date.now()
  await w.stop(3_000)
  assert.ok(Date.now() - started >= 300, 'it waited for the answer')
  assert.equal((await rows(db))[0]?.status, 'sent')
  assert.deepEqual(
    logs.filter((l) => l.level !== 'info'),
    [],
  )
})

test('stop(timeoutMs) abandons a send still unanswered at the end, naming it in a warning', async (t) => {
  const { db, fake, worker, logs } = await setup(t)
  fake.queue({ slowMs: 2_000 })
  const [id] = await enqueue(db, 1)
  const w = worker({ timeoutMs: 5_000, claimTimeoutMs: 10_000 })
  w.start()
  await until(() => fake.requests.length === 1)
  const started = Date.now()
  await w.stop(200)
  const waited = Date.now() - started
  assert.ok(waited >= 190 && waited < 1_500, `stopped after ${waited} ms`)
  assert.deepEqual(
    logs.map((l) => [l.level, (l.args[0] as { notification?: number }).notification, l.args[1]]),
    [['warn', id, 'stopped with an SMS in flight: it may be sent twice']],
  )
  const [row] = await rows(db)
  assert.equal(row?.status, 'sending', 'still claimed: once the claim expires another worker sends it')
  assert.equal(await w.stop(), undefined, 'a second stop() is the first one')
})

test('stop() names an SMS the gateway took but the database would not record', async (t) => {
  const { db, logs, worker } = await setup(t)
  const [id] = await enqueue(db, 1)
  const w = worker({
    gateway: {
      async send() {
        // The outbox becomes unwritable while the gateway sends the message.
        await sql`alter table notifications rename to notifications_away`.execute(db)
        return { kind: 'sent', messageId: 'ATXid_lost', status: 'Success', cost: 'KES 0.8000' }
      },
    },
  })
  assert.equal(await w.runOnce(), 1)
  await w.stop()
  const warned = logs.filter((l) => l.level === 'warn')
  assert.deepEqual(
    warned.map((l) => [(l.args[0] as { notification?: number }).notification, l.args[1]]),
    [[id, 'stopped with an SMS sent but not recorded: it will be sent twice']],
  )
})

test('database errors are logged and retried at the next poll, never an unhandled rejection', async (t) => {
  const { logs, fake, worker } = await setup(t)
  // A database without the outbox table: every claim fails, as it would while the server is down.
  const broken = openDatabase(t, await testDatabaseUrl(t))
  const w = worker({ db: broken })
  w.start()
  await until(() => logs.filter((l) => l.level === 'error').length >= 3)
  await w.stop()
  assert.ok(logs.every((l) => l.args[1] === 'notification worker pass failed; retrying at the next poll'))
  assert.equal(fake.requests.length, 0)
})
