import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FENCE_GAP } from '../../src/tracking/repository.js'
import { bearer, issueUrl, TEST_KEY } from '../helpers/build.js'
import { issueMany, startServer, waitFor } from '../helpers/processes.js'
import { type Node, startReplicaPair } from '../helpers/replica-pair.js'

// A primary and its streaming standby of the test's own (pg_basebackup, pg_ctl promote): the
// failover cases that need no pg_auto_failover monitor, in seconds.

const env = (url: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: url,
  TRACKING_KEY: TEST_KEY,
  DATABASE_CONNECT_TIMEOUT_MS: '1000',
  DATABASE_QUERY_TIMEOUT_MS: '3000',
  TRACKING_BLOCK_MIN: '20',
  TRACKING_BLOCK_MAX: '20',
  SMS_WORKER: 'false',
  ...extra,
})

test('the URL lists the standby first: Waybill writes to the primary', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  const url = `postgres://postgres@127.0.0.1:${standby.port},127.0.0.1:${primary.port}/postgres?target_session_attrs=read-write&sslmode=prefer`
  const server = await startServer(env(url))
  t.after(() => server.kill9())
  const { numbers, failures } = await issueMany(server.port, 60, 8)
  assert.equal(failures, 0)
  const { rows } = await primary.query(
    'select count(*)::int as n from tracking_numbers where tracking_number = any($1)',
    [numbers],
  )
  assert.equal(rows[0].n, 60)
  const ready = await fetch(`http://127.0.0.1:${server.port}/ready`)
  assert.equal(ready.status, 200)
  assert.equal(((await ready.json()) as { synchronous_standbys?: number }).synchronous_standbys, 0)
})

const counterOn = async (node: {
  query: (text: string) => Promise<{ rows: Array<{ next_value: string }> }>
}) =>
  Number((await node.query(`select next_value from counters where name = 'tracking'`)).rows[0]?.next_value)

/** Waits until the standby has replayed every reservation the primary committed so far. */
async function replayed(primary: Node, standby: Node): Promise<number> {
  const target = await counterOn(primary)
  const deadline = Date.now() + 15_000
  while ((await counterOn(standby)) !== target && Date.now() < deadline) await waitFor(() => false, 100)
  assert.equal(await counterOn(standby), target, 'the standby replayed the reservations so far')
  return target
}

// The error a reservation logs when it finds the database on a new timeline.
const isJump = (log: Record<string, unknown>) =>
  String(log.msg).startsWith('the database is on a new timeline')

/** Issues until `wanted` numbers are answered (the new primary may take a few seconds to accept writes). */
async function issueUntil(port: number, wanted: number, answered: string[]): Promise<number> {
  const deadline = Date.now() + 30_000
  let count = 0
  while (count < wanted && Date.now() < deadline) {
    const round = await issueMany(port, Math.min(50, wanted - count), 8)
    count += round.numbers.length
    answered.push(...round.numbers)
  }
  return count
}

test('asynchronous failover: the promoted standby lost reservations; the counter is moved on, no number repeats', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`
  const server = await startServer(env(url))
  t.after(() => server.kill9())
  const answered: string[] = []
  const before = await issueMany(server.port, 100, 8)
  answered.push(...before.numbers)
  await replayed(primary, standby)
  standby.stop('fast')
  // Reserved and answered on the primary alone: lost with it.
  const lost = await issueMany(server.port, 100, 8)
  answered.push(...lost.numbers)
  const reserved = await counterOn(primary)
  primary.stop('immediate')
  standby.start()
  // The precondition, explicitly: the standby about to be promoted lacks reservations.
  assert.ok((await counterOn(standby)) < reserved, 'the standby missed the last reservations')
  standby.promote()
  const after = await issueUntil(server.port, 100, answered)
  assert.ok(after >= 100, `issuing resumed on the promoted standby (${after} answered)`)
  assert.equal(new Set(answered).size, answered.length, 'no number answered twice')
  assert.ok(
    lost.numbers.length > 40,
    `blocks were reserved on the primary alone (${lost.numbers.length} answered)`,
  )
  // Log lines are written in chunks, at least once a second: the line may still be on its way.
  await waitFor(() => server.logs.some(isJump), 5_000)
  const notable = server.logs.filter((log) => Number(log.level) >= 40).map((log) => log.msg)
  const jump = server.logs.find(isJump)
  assert.ok(jump, `the jump past the lost reservations is logged; logged: ${JSON.stringify(notable)}`)
  assert.equal(jump.level, 50)
  assert.deepEqual([jump.previousTimeline, jump.timeline], [1, 2])
  assert.ok((await counterOn(standby)) > reserved + FENCE_GAP, 'the counter is past every lost value')
})

test('asynchronous failover, two live instances and a new one: the one that lost nothing reserves first, no number repeats', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`
  const [kept, losing] = await Promise.all([startServer(env(url)), startServer(env(url))])
  t.after(() => kept.kill9())
  t.after(() => losing.kill9())
  const answered: string[] = []
  answered.push(...(await issueMany(kept.port, 60, 8)).numbers)
  const replicated = await replayed(primary, standby)
  standby.stop('fast')
  // `losing` reserves its first blocks now, on the primary alone, and answers from them.
  const lost = await issueMany(losing.port, 100, 8)
  answered.push(...lost.numbers)
  assert.ok(lost.numbers.length > 40, `blocks were reserved on the primary alone (${lost.numbers.length})`)
  const reserved = await counterOn(primary)
  primary.stop('immediate')
  standby.start()
  assert.equal(
    await counterOn(standby),
    replicated,
    'the standby has every block of `kept`, none of `losing`',
  )
  assert.ok(replicated < reserved)
  standby.promote()
  // `kept` has nothing to move the counter past (its own blocks were replicated): without the
  // database's fence its next blocks would be those `losing` answered from.
  assert.equal(await issueUntil(kept.port, 20, answered), 20, 'issuing resumed on `kept`')
  // A process started after the failover knows of no earlier block at all.
  const fresh = await startServer(env(url))
  t.after(() => fresh.kill9())
  assert.equal(await issueUntil(fresh.port, 60, answered), 60, 'the new instance issues')
  assert.equal(await issueUntil(losing.port, 60, answered), 60, 'issuing resumed on `losing`')
  assert.equal(new Set(answered).size, answered.length, 'no number answered twice')
  await waitFor(() => kept.logs.some(isJump), 5_000)
  const jumps = [kept, losing, fresh].flatMap((server) => server.logs.filter(isJump))
  assert.equal(jumps.length, 1, 'one reservation, the first on the new timeline, moved the counter')
  assert.ok(kept.logs.some(isJump), 'by `kept`, which reserved first')
  assert.equal(jumps[0]?.level, 50)
})

test('a commit whose wait for the synchronous standby is cancelled is not answered 200', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  await primary.query(`alter system set synchronous_standby_names = '*'`)
  await primary.query('select pg_reload_conf()')
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`
  const server = await startServer(env(url, { DATABASE_QUERY_TIMEOUT_MS: '60000' }))
  t.after(() => server.kill9())
  const auth = await bearer('client')
  const first = await fetch(`http://127.0.0.1:${server.port}${issueUrl()}`, { headers: auth })
  assert.equal(first.status, 200)
  standby.stop('fast')
  const pending = fetch(`http://127.0.0.1:${server.port}${issueUrl()}`, { headers: auth })
  // Wait until Waybill's commit waits for the standby, then cancel that wait (as an operator would).
  let cancelled = 0
  const deadline = Date.now() + 15_000
  while (cancelled === 0 && Date.now() < deadline) {
    const { rows } = await primary.query(
      `select pg_cancel_backend(pid) from pg_stat_activity where wait_event = 'SyncRep'`,
    )
    cancelled = rows.length
    if (cancelled === 0) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.ok(cancelled > 0, 'a commit waited for the standby')
  const answer = await pending
  assert.equal(answer.status, 503)
  assert.ok(answer.headers.get('retry-after'))
})

test('a commit stuck waiting for a standby that stopped answering is a 503 within the query timeout', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  await primary.query(`alter system set synchronous_standby_names = '*'`)
  await primary.query('select pg_reload_conf()')
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`
  const server = await startServer(env(url, { DATABASE_QUERY_TIMEOUT_MS: '2000' }))
  t.after(() => server.kill9())
  const auth = await bearer('client')
  const first = await fetch(`http://127.0.0.1:${server.port}${issueUrl()}`, { headers: auth })
  assert.equal(first.status, 200)
  // statement_timeout does not end a wait for synchronous replication: only the client can.
  standby.stop('fast')
  const started = performance.now()
  const stuck = await fetch(`http://127.0.0.1:${server.port}${issueUrl()}`, { headers: auth })
  const ms = performance.now() - started
  assert.equal(stuck.status, 503, await stuck.text())
  assert.ok(stuck.headers.get('retry-after'))
  assert.ok(ms < 10_000, `answered after ${ms.toFixed(0)} ms (query timeout 2000 ms)`)
})

test('DATABASE_REQUIRE_SYNC_STANDBY: no issuing and not ready until a synchronous standby is attached', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`
  const server = await startServer(env(url, { DATABASE_REQUIRE_SYNC_STANDBY: 'true' }))
  t.after(() => server.kill9())
  const auth = await bearer('client')
  const refused = await fetch(`http://127.0.0.1:${server.port}${issueUrl()}`, { headers: auth })
  assert.equal(refused.status, 503)
  assert.ok(refused.headers.get('retry-after'))
  const notReady = await fetch(`http://127.0.0.1:${server.port}/ready`)
  assert.equal(notReady.status, 503)
  assert.deepEqual(await notReady.json(), {
    status: 'no synchronous standby',
    reason: 'NO_SYNC_STANDBY',
    synchronous_standbys: 0,
  })
  await primary.query(`alter system set synchronous_standby_names = '*'`)
  await primary.query('select pg_reload_conf()')
  let status = 0
  const deadline = Date.now() + 15_000
  while (status !== 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    status = (await fetch(`http://127.0.0.1:${server.port}${issueUrl()}`, { headers: auth })).status
  }
  assert.equal(status, 200, 'issuing resumes once the standby is synchronous')
  const ready = await fetch(`http://127.0.0.1:${server.port}/ready`)
  assert.equal(((await ready.json()) as { synchronous_standbys?: number }).synchronous_standbys, 1)
  const warned = server.logs.find((log) => String(log.msg).startsWith('PostgreSQL: no synchronous standby'))
  assert.ok(warned, 'the missing synchronous standby is logged')
})
