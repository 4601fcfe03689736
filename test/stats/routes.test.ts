import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createStatsRepository } from '../../src/stats/repository.js'
import { createStatsService } from '../../src/stats/service.js'
import { bearer, build, issueUrl, migratedDatabase, testEnv, validIssue } from '../helpers/build.js'
import { createOrder, withCustomer } from '../helpers/orders.js'

test('stats: numbers issued by every instance, orders by status, the outbox', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const other = await buildApp(loadConfig(testEnv(app.databaseUrl)))
  t.after(() => other.close())
  const client = await bearer('client')
  for (let i = 0; i < 3; i++)
    assert.equal((await app.inject({ url: issueUrl(), headers: client })).statusCode, 200)
  const batch = await other.inject({
    method: 'POST',
    url: '/tracking-numbers/batch',
    headers: client,
    payload: { ...validIssue, count: 5 },
  })
  assert.equal(batch.statusCode, 201)
  await other.close() // its counts are stored when it closes
  await withCustomer(app)
  const { id } = await createOrder(app)
  await createOrder(app)
  await app.inject({ method: 'PATCH', url: `/api/orders/${id}/`, payload: { status: 'CONFIRMED' } })

  const res = await app.inject({ url: '/api/stats/' })
  assert.equal(res.statusCode, 200, res.body)
  const stats = res.json()
  assert.equal(stats.tracking.issued_total, 10, '3 + 5 API numbers and 2 order numbers')
  assert.equal(stats.tracking.issued_today, 10)
  assert.equal(stats.tracking.per_minute.length, 30)
  const charted = stats.tracking.per_minute.reduce((sum: number, m: { count: number }) => sum + m.count, 0)
  assert.equal(charted, 10)
  assert.deepEqual(stats.orders.by_status, {
    PENDING: 1,
    CONFIRMED: 1,
    SHIPPED: 0,
    DELIVERED: 0,
    CANCELLED: 0,
  })
  assert.deepEqual(stats.outbox, { pending: 3, failed: 0, sent: 0 })
  assert.equal((await app.inject({ url: '/api/stats/', headers: client })).statusCode, 403)
})

test('per-minute counts land in their minute, across flushes, zero-filled', async (t) => {
  const db = await migratedDatabase(t)
  let clock = Date.parse('2026-11-22T10:00:30.000Z')
  const service = createStatsService({
    repository: createStatsRepository(db),
    outbox: async () => ({ pending: 0, failed: 0, sent: 0 }),
    flushIntervalMs: 60_000,
    onFlushError: (error) => assert.fail(String(error)),
    now: () => clock,
  })
  t.after(() => service.close())
  service.issued(2)
  clock += 60_000
  service.issued(3)
  await service.summary() // flushes
  service.issued(4)
  const { tracking } = await service.summary()
  const last = tracking.per_minute.slice(-2)
  assert.deepEqual(last, [
    { minute: '2026-11-22T10:00:00.000Z', count: 2 },
    { minute: '2026-11-22T10:01:00.000Z', count: 7 },
  ])
  assert.equal(tracking.per_minute[0]?.count, 0)
  assert.equal(tracking.issued_total, 9)
})

test('old minutes roll up into one row a day; totals do not change', async (t) => {
  const db = await migratedDatabase(t)
  const repository = createStatsRepository(db)
  await repository.addIssueCounts('a', [
    { minute: '2026-11-01T10:00:00.000Z', count: 2 },
    { minute: '2026-11-01T23:59:00.000Z', count: 3 },
    { minute: '2026-11-02T00:00:00.000Z', count: 4 },
    { minute: '2026-11-05T12:00:00.000Z', count: 5 },
  ])
  await repository.addIssueCounts('b', [{ minute: '2026-11-01T10:00:00.000Z', count: 1 }])
  await repository.rollUp('2026-11-03T00:00:00.000Z')
  await repository.rollUp('2026-11-03T00:00:00.000Z') // again: nothing left to fold
  await repository.addIssueCounts('c', [{ minute: '2026-11-02T08:00:00.000Z', count: 6 }]) // a late flush
  await repository.rollUp('2026-11-03T00:00:00.000Z')
  assert.equal(await repository.issuedSince(), 21)
  const rows = await db.selectFrom('issue_counts').selectAll().orderBy('minute').execute()
  assert.deepEqual(
    rows.map((r) => [r.minute, r.instance, Number(r.count)]),
    [
      ['2026-11-01T00:00:00.000Z', 'daily', 6],
      ['2026-11-02T00:00:00.000Z', 'daily', 10],
      ['2026-11-05T12:00:00.000Z', 'a', 5],
    ],
  )
})
