import assert from 'node:assert/strict'
import { test } from 'node:test'
import { issueUrl, openDatabase, postgresServerUrl, TEST_KEY } from '../helpers/build.js'
import { get, transactionalLoad } from '../helpers/load.js'
import { startPrivatePostgres } from '../helpers/private-postgres.js'
import { issueMany, startServer, waitFor } from '../helpers/processes.js'

test('database outage: fail fast with 503, not ready, still alive; recovers by itself with no loss', async (t) => {
  const pg = await startPrivatePostgres(t)
  const server = await startServer({
    DATABASE_URL: pg.url,
    TRACKING_KEY: TEST_KEY,
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    DATABASE_QUERY_TIMEOUT_MS: '2000',
  })
  t.after(() => server.kill9())

  const before = await issueMany(server.port, 500, 16)
  assert.equal(before.failures, 0)

  // Stop the database while requests are in flight.
  let down = false
  const during = issueMany(server.port, 1_000_000, 16, () => down)
  const transactional = transactionalLoad(server.port, () => down)
  await new Promise((resolve) => setTimeout(resolve, 500))
  pg.stop('fast')
  down = true
  const inFlight = await during
  const inTransactions = await transactional
  assert.equal(server.child.exitCode, null, `the process died during the outage:\n${server.output.join('')}`)

  const outage = await Promise.all(Array.from({ length: 20 }, () => get(server.port, issueUrl())))
  for (const res of outage) {
    assert.equal(res.status, 503)
    assert.equal(res.headers.get('retry-after'), '1')
    assert.equal(res.body.code, 'unavailable')
    assert.ok(res.body.correlation_id)
    assert.ok(res.ms < 3_000, `answered in ${Math.round(res.ms)} ms`)
  }
  assert.equal((await get(server.port, '/ready')).status, 503)
  assert.equal((await get(server.port, '/health')).status, 200)
  // Logged once in full, then counted: a few lines, which may wait for the logs' 1 s flush.
  const logged = () =>
    server.logs.some((l) => l.level === 50 && l.msg === 'The database is unavailable; try again shortly')
  await waitFor(logged, 3_000)
  assert.ok(logged(), 'the outage is logged')

  pg.start()
  // Recovers without a restart: retry until the pool reconnects.
  let recovered = false
  for (let i = 0; i < 50 && !recovered; i++) {
    recovered = (await get(server.port, issueUrl())).status === 200
    if (!recovered) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.ok(recovered, 'issuing works again once the database is back')
  assert.equal((await get(server.port, '/ready')).status, 200)
  const after = await issueMany(server.port, 500, 16)
  assert.equal(after.failures, 0)
  assert.equal(await server.stop(), 0, 'the process never crashed')

  const answered = [...before.numbers, ...inFlight.numbers, ...inTransactions, ...after.numbers]
  assert.equal(new Set(answered).size, answered.length, 'no duplicate across the outage')
  const rows = await openDatabase(t, pg.url)
    .selectFrom('tracking_numbers')
    .select('tracking_number')
    .execute()
  const stored = new Set(rows.map((r) => r.tracking_number))
  assert.deepEqual(
    answered.filter((n) => !stored.has(n)),
    [],
    'every number answered before, during and after the outage is stored',
  )
})

test('an unreachable database at start is a clear error, not a hang', async (t) => {
  const pg = await startPrivatePostgres(t)
  pg.stop('fast')
  const started = performance.now()
  await assert.rejects(
    startServer({ DATABASE_URL: pg.url, DATABASE_CONNECT_TIMEOUT_MS: '1000' }),
    (error: Error & { code?: number }) => {
      assert.equal(error.code, 1)
      assert.match(error.message, /waybill: DATABASE_URL: cannot reach the database \(ECONNREFUSED/)
      assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace')
      return true
    },
  )
  assert.ok(performance.now() - started < 15_000)
})

test('a database or role that does not exist is a clear error naming DATABASE_URL', async () => {
  const server = new URL(postgresServerUrl())
  const noDatabase = new URL(server)
  noDatabase.pathname = '/waybill_no_such_database'
  const noRole = new URL(server)
  noRole.username = 'waybill_no_such_role'
  for (const [url, expected] of [
    [
      noDatabase,
      /waybill: DATABASE_URL: database "waybill_no_such_database" does not exist \(PostgreSQL 3D000\)/,
    ],
    [noRole, /waybill: DATABASE_URL: .*"waybill_no_such_role".*\(PostgreSQL 28/],
  ] as const) {
    await assert.rejects(startServer({ DATABASE_URL: url.href }), (error: Error & { code?: number }) => {
      assert.equal(error.code, 1)
      assert.match(error.message, expected)
      assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace')
      return true
    })
  }
})

test('WEB_CONCURRENCY: a worker lost during an outage is replaced once the database is back', async (t) => {
  const pg = await startPrivatePostgres(t)
  const server = await startServer({
    DATABASE_URL: pg.url,
    TRACKING_KEY: TEST_KEY,
    WEB_CONCURRENCY: '2',
    DATABASE_CONNECT_TIMEOUT_MS: '500',
  })
  t.after(() => server.kill9())
  // Each worker's own ready line may reach the pipe just after the primary's.
  const readyWorkers = () => server.logs.filter((l) => l.msg === 'worker ready').map((l) => l.pid as number)
  for (let i = 0; i < 40 && readyWorkers().length < 2; i++)
    await new Promise((resolve) => setTimeout(resolve, 50))
  const workers = readyWorkers()
  assert.equal(workers.length, 2)

  pg.stop('fast')
  process.kill(workers[0] as number, 'SIGKILL')
  // Its replacement cannot start while the database is down; the service must not give up.
  await new Promise((resolve) => setTimeout(resolve, 2_500))
  assert.equal(server.child.exitCode, null, `the primary gave up:\n${server.output.join('')}`)

  pg.start()
  let replaced = false
  for (let i = 0; i < 60 && !replaced; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    replaced = readyWorkers().length >= 3
  }
  assert.ok(replaced, 'a replacement worker became ready')
  const after = await issueMany(server.port, 200, 8)
  assert.equal(after.failures, 0)
  assert.equal(await server.stop(), 0)
})
