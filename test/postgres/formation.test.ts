import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { TEST_KEY } from '../helpers/build.js'
import { failoverLoad } from '../helpers/failover-load.js'
import { type Formation, startFormation } from '../helpers/formation.js'
import { type ServerProcess, startServer } from '../helpers/processes.js'

// One pg_auto_failover formation (monitor + two nodes) for the file: it takes a minute or two to
// come up here, a failover a few seconds. Loads last a few seconds.

let formation: Formation
let servers: ServerProcess[] = []

before(async () => {
  formation = await startFormation()
  servers = await Promise.all(
    [1, 2, 3].map(() =>
      startServer(
        {
          DATABASE_URL: formation.uri, // exactly as pg_autoctl prints it
          PGUSER: 'postgres',
          TRACKING_KEY: TEST_KEY,
          DATABASE_CONNECT_TIMEOUT_MS: '1000',
          DATABASE_QUERY_TIMEOUT_MS: '3000',
          TRACKING_BLOCK_MIN: '20',
          TRACKING_BLOCK_MAX: '200',
          SMS_WORKER: 'false',
        },
        60_000,
      ),
    ),
  )
})

after(async () => {
  await Promise.all(servers.map((s) => s.kill9()))
  await formation?.stop()
})

async function onPrimary(numbers: string[]): Promise<number> {
  const primary = await formation.primary()
  const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${primary.port}/waybill` })
  await client.connect()
  try {
    const { rows } = await client.query(
      'select count(*)::int as n from tracking_numbers where tracking_number = any($1)',
      [numbers],
    )
    return rows[0].n as number
  } finally {
    await client.end()
  }
}

/** Load on all three servers; `disrupt` runs after a second of it, the load ends `settleMs` after it. */
async function underLoad(disrupt: () => Promise<void>, settleMs = 3_000) {
  let stopping = false
  const load = failoverLoad(
    servers.map((s) => s.port),
    () => stopping,
  )
  await new Promise((r) => setTimeout(r, 1_000))
  const lostAt = Date.now()
  await disrupt()
  await new Promise((r) => setTimeout(r, settleMs))
  stopping = true
  const result = await load
  const numbers = result.answered.map((a) => a.number)
  const firstAfter = result.answered.find((a) => a.at > Math.max(lostAt, ...result.refusedAt))
  return {
    ...result,
    numbers,
    lostAt,
    resumedMs: firstAfter ? firstAfter.at - lostAt : Number.POSITIVE_INFINITY,
  }
}

let switchoverRefused: number | undefined

// Before the failover test: a switchover needs both nodes, and the failover leaves one dead.
test('planned switchover under load: the same guarantees, fewer refusals', async () => {
  const primary = await formation.primary()
  const run = await underLoad(() => formation.switchover())
  assert.notEqual((await formation.primary()).name, primary.name, 'the standby was promoted')
  assert.equal(new Set(run.numbers).size, run.numbers.length, 'no number answered twice')
  assert.equal(
    await onPrimary(run.numbers),
    run.numbers.length,
    'every answered number is on the new primary',
  )
  assert.ok(run.resumedMs < 60_000, `issuing resumed ${run.resumedMs} ms after the switchover began`)
  switchoverRefused = run.refused
})

test('failover under load: the primary killed, every number answered is on the new primary, none repeats', async () => {
  const primary = await formation.primary()
  const run = await underLoad(async () => {
    formation.kill9(primary)
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const now = await formation.primary().catch(() => undefined)
      if (now && now.name !== primary.name) return
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error('no promotion within a minute')
  })
  assert.equal(new Set(run.numbers).size, run.numbers.length, 'no number answered twice')
  assert.equal(
    await onPrimary(run.numbers),
    run.numbers.length,
    'every answered number is on the new primary',
  )
  assert.ok(run.refused > 0, 'the loss was seen')
  if (switchoverRefused !== undefined) {
    assert.ok(
      run.refused >= switchoverRefused,
      `failover ${run.refused} refusals, switchover ${switchoverRefused}`,
    )
  }
  assert.ok(run.resumedMs < 60_000, `issuing resumed ${run.resumedMs} ms after the loss`)
  const first = servers[0] as ServerProcess
  const ready = await fetch(`http://127.0.0.1:${first.port}/ready`).catch((error: Error) => {
    // Say why: the process gone (and what it said last), or a connection refused or reset.
    throw new Error(
      `/ready unreachable (${String(error.cause ?? error)}); server exit ${first.child.exitCode} ${first.child.signalCode}: ${first.output.join('').slice(-2_000)}`,
    )
  })
  assert.equal(ready.status, 200)
})
