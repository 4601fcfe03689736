import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openDatabase, TEST_KEY, testDatabaseUrl } from '../helpers/build.js'
import {
  type IssueOutcome,
  issueMany,
  type ServerProcess,
  startServer,
  waitFor,
} from '../helpers/processes.js'

// 40,000 in `npm test` (CI's time budget); `npm run soak` runs the full 200,000.
const TOTAL = Number(process.env.SCALE_TOTAL ?? 40_000)
const INSTANCES = 4

test(`four processes on one PostgreSQL, blocks of 10, ${TOTAL} numbers, one killed -9 and restarted`, async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const env = {
    DATABASE_URL: databaseUrl,
    TRACKING_KEY: TEST_KEY,
    TRACKING_BLOCK_MIN: '10',
    TRACKING_BLOCK_MAX: '10',
    DATABASE_POOL_SIZE: '4',
  }
  const servers: ServerProcess[] = await Promise.all(
    Array.from({ length: INSTANCES }, () => startServer(env)),
  )
  t.after(() => Promise.all(servers.map((s) => s.kill9())))

  // Each instance gets a quarter of the load; the victim's share continues on its replacement.
  const perInstance = TOTAL / INSTANCES
  let victimKilled = false
  const loads: Promise<IssueOutcome>[] = servers.slice(1).map((s) => issueMany(s.port, perInstance, 12))
  const victim = servers[0] as ServerProcess
  // Killed once it has answered a good number (not after a fixed time: a busy machine is slow).
  let victimAnswered = 0
  const victimLoad = issueMany(
    victim.port,
    perInstance,
    12,
    () => victimKilled,
    (count) => {
      victimAnswered = count
    },
  )
  await waitFor(() => victimAnswered >= 5_000, 120_000, 50)
  await victim.kill9()
  victimKilled = true
  const beforeKill = await victimLoad
  const replacement = await startServer(env)
  servers.push(replacement)
  const afterKill = await issueMany(replacement.port, perInstance - beforeKill.numbers.length, 12)
  const outcomes = [...(await Promise.all(loads)), beforeKill, afterKill]

  const answered = outcomes.flatMap((o) => o.numbers)
  assert.ok(answered.length >= TOTAL, `only ${answered.length} numbers answered`)
  assert.ok(beforeKill.numbers.length > 1_000, 'the victim was killed mid-load, not before it')
  assert.equal(new Set(answered).size, answered.length, 'zero duplicates across instances and the crash')
  assert.equal(outcomes.slice(0, INSTANCES - 1).reduce((n, o) => n + o.failures, 0) + afterKill.failures, 0)

  const rows = await openDatabase(t, databaseUrl)
    .selectFrom('tracking_numbers')
    .select('tracking_number')
    .execute()
  const stored = new Set(rows.map((r) => r.tracking_number))
  assert.equal(stored.size, rows.length)
  assert.deepEqual(
    answered.filter((n) => !stored.has(n)),
    [],
    'every number a client received is in the database',
  )
})
