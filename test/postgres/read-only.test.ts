import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, issueUrl, openDatabase, postgresAdmin } from '../helpers/build.js'

// The test's own database (test/helpers/build.ts: one per test file), made read-only the way a
// DBA or a managed service does it when the disk fills up. ALTER DATABASE applies to sessions
// opened after it: the pool's sessions are ended so that it reconnects, as it would over time.
async function endSessions(database: string): Promise<void> {
  await postgresAdmin(
    `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}' and pid <> pg_backend_pid()`,
  )
  await sleep(100) // the pool drops its idle clients as their connections close
}

test('a read-only database: issue 503, not ready (25006), ready again by itself once writable', async (t) => {
  // Blocks of ten: the refused requests below also need new blocks, whose reservations fail too.
  const app = await build(t, { TRACKING_BLOCK_MIN: '10', TRACKING_BLOCK_MAX: '10' })
  const database = new URL(app.databaseUrl).pathname.slice(1)
  const ready = async () => {
    const res = await app.inject({ url: '/ready' })
    return { status: res.statusCode, body: res.json() as Record<string, string> }
  }
  const issue = async () => (await app.inject({ url: issueUrl() })).statusCode
  assert.equal(await issue(), 200)
  assert.equal((await ready()).status, 200)

  await postgresAdmin(`alter database ${database} set default_transaction_read_only = on`)
  t.after(() => postgresAdmin(`alter database ${database} reset default_transaction_read_only`))
  await endSessions(database)
  const refused = await Promise.all(Array.from({ length: 300 }, issue))
  assert.ok(
    refused.every((status) => status === 503),
    `every issue request is refused: ${[...new Set(refused)]}`,
  )
  let answer = await ready()
  assert.equal(answer.status, 503, 'select 1 still answers, but writes fail')
  assert.equal(answer.body.status, 'database writes failing')
  // The reason is the probe's once the last refusal is a second old: still read-only.
  await sleep(1_100)
  answer = await ready()
  assert.deepEqual([answer.status, answer.body.reason], [503, '25006'])
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200)

  await postgresAdmin(`alter database ${database} reset default_transaction_read_only`)
  await endSessions(database)
  // No issue traffic: /ready's own probe finds the database writable again.
  for (let i = 0; i < 20 && answer.status !== 200; i++) {
    await sleep(250)
    answer = await ready()
  }
  // On PostgreSQL /ready also says how many synchronous standbys confirm commits (none here).
  assert.deepEqual(answer, { status: 200, body: { status: 'ready', synchronous_standbys: 0 } })
  assert.equal(await issue(), 200)
  const rows = await openDatabase(t, app.databaseUrl)
    .selectFrom('tracking_numbers')
    .select('sequence')
    .execute()
  assert.equal(rows.length, 2, 'nothing stored while read-only, by requests or by probes')
})
