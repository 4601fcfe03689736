import assert from 'node:assert/strict'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { issueUrl, openDatabase, TEST_KEY } from '../helpers/build.js'
import { get, transactionalLoad } from '../helpers/load.js'
import { startPrivateMariadb } from '../helpers/private-mariadb.js'
import { issueMany, startServer, waitFor } from '../helpers/processes.js'

// MariaDB stopped and started again under load, as test/postgres/faults.test.ts does with
// PostgreSQL: cleanly (SIGTERM), or killed (SIGKILL: crash recovery must keep every commit).
async function outage(t: TestContext, signal: 'SIGTERM' | 'SIGKILL') {
  const db = await startPrivateMariadb(t)
  const server = await startServer(
    {
      DATABASE_URL: db.url,
      TRACKING_KEY: TEST_KEY,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_QUERY_TIMEOUT_MS: '2000',
    },
    // Two servers of its own and a process on a shared machine: starting may take a while.
    60_000,
  )
  t.after(() => server.kill9())

  const before = await issueMany(server.port, 500, 16)
  assert.equal(before.failures, 0)

  // Stop the database while requests are in flight.
  let down = false
  const during = issueMany(server.port, 1_000_000, 16, () => down)
  const transactional = transactionalLoad(server.port, () => down)
  await new Promise((resolve) => setTimeout(resolve, 500))
  await db.stop(signal)
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

  await db.start()
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
  const rows = await openDatabase(t, db.url)
    .selectFrom('tracking_numbers')
    .select('tracking_number')
    .execute()
  const stored = new Set(rows.map((r) => r.tracking_number))
  assert.deepEqual(
    answered.filter((n) => !stored.has(n)),
    [],
    'every number answered before, during and after the outage is stored',
  )
}

test('MariaDB stopped under load: 503 fast, not ready, still alive; recovers by itself with no loss', (t) =>
  outage(t, 'SIGTERM'))

test('MariaDB killed under load (SIGKILL): every answered number survives its crash recovery', (t) =>
  outage(t, 'SIGKILL'))

test('a hung MariaDB (SIGSTOP): 503 within the timeouts, never a request left waiting; recovers on SIGCONT', async (t) => {
  const db = await startPrivateMariadb(t)
  const server = await startServer(
    {
      DATABASE_URL: db.url,
      TRACKING_KEY: TEST_KEY,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_QUERY_TIMEOUT_MS: '2000',
    },
    60_000,
  )
  t.after(() => server.kill9())
  const before = await issueMany(server.port, 200, 8)
  assert.equal(before.failures, 0)

  db.pause()
  t.after(() => db.resume())
  // Blocks in hand may still answer a few; once they are spent, every request needs the server.
  const hung = await Promise.all(Array.from({ length: 400 }, () => get(server.port, issueUrl())))
  const refused = hung.filter((res) => res.status !== 200)
  assert.ok(refused.length > 0, 'requests needed the hung server')
  for (const res of refused) {
    assert.equal(res.status, 503, JSON.stringify(res.body))
    assert.equal(res.headers.get('retry-after'), '1')
  }
  // Connect timeout (1 s) or query timeout (2 s, and the client's own 1 s later), plus the load.
  const slowest = Math.max(...hung.map((res) => res.ms))
  assert.ok(slowest < 8_000, `the slowest request took ${Math.round(slowest)} ms`)
  assert.equal((await get(server.port, '/ready')).status, 503)
  assert.equal(server.child.exitCode, null, 'still alive')

  db.resume()
  let recovered = false
  for (let i = 0; i < 50 && !recovered; i++) {
    recovered = (await get(server.port, issueUrl())).status === 200
    if (!recovered) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.ok(recovered, 'issuing works again once the server resumes')
  const answered = [
    ...before.numbers,
    ...hung
      .filter((r) => r.status === 200)
      .map((r) => (r.body as { tracking_number: string }).tracking_number),
  ]
  assert.equal(new Set(answered).size, answered.length, 'no duplicate')
  assert.equal(await server.stop(), 0, 'the process never crashed')
})

test("a private server leaves the shared server's temporary tables alone (its own tmpdir)", async (t) => {
  // A starting mariadbd deletes every #sql* file in its tmpdir; the shared test server keeps its
  // queries' temporary tables in /tmp, so a private one started there broke other tests' queries.
  const probe = join(tmpdir(), `#sql-waybill-probe-${process.pid}-${Date.now()}.MAI`)
  writeFileSync(probe, '')
  t.after(() => rmSync(probe, { force: true }))
  await startPrivateMariadb(t)
  assert.ok(existsSync(probe), `${probe} was deleted by the private server's start`)
})
