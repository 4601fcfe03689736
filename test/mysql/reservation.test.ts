import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../src/config.js'
import { createDatabase, durabilityWarnings } from '../../src/db/index.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { createTrackingRepository } from '../../src/tracking/repository.js'
import { testDatabaseUrl, testEnv, testIssued } from '../helpers/build.js'
import { startPrivateMariadb } from '../helpers/private-mariadb.js'

function open(t: import('node:test').TestContext, url: string, poolSize = 8) {
  // Generous timeouts: 600 reservations queue for one row lock, on a shared machine; this file
  // tests what they return, test/mysql/faults.test.ts the timeouts.
  const env = {
    DATABASE_POOL_SIZE: String(poolSize),
    DATABASE_CONNECT_TIMEOUT_MS: '30000',
    DATABASE_QUERY_TIMEOUT_MS: '30000',
  }
  const handle = createDatabase(loadConfig(testEnv(url, env)).database)
  t.after(() => handle.close())
  return handle
}

test('blocks reserved at once by many connections of several instances never overlap, none is lost', async (t) => {
  const url = await testDatabaseUrl(t)
  await migrateToLatest(open(t, url, 2).db)
  // Three "instances", each a pool of 8 connections, 600 reservations of varied sizes at once:
  // each block's end must be the value its own UPDATE wrote, never another connection's.
  const instances = [open(t, url), open(t, url), open(t, url)].map((h) => createTrackingRepository(h.db))
  const sizes = Array.from({ length: 600 }, (_, i) => 1 + (i % 37))
  const blocks = await Promise.all(
    sizes.map((size, i) => (instances[i % instances.length] as (typeof instances)[0]).reserveBlock(size)),
  )
  const sorted = [...blocks].sort((a, b) => a.start - b.start)
  let next = 1
  for (const block of sorted) {
    assert.equal(block.start, next, `blocks are contiguous and disjoint: ${JSON.stringify(block)}`)
    next = block.end
  }
  assert.equal(next, 1 + sizes.reduce((a, b) => a + b, 0))
  const counter = await open(t, url, 1)
    .db.selectFrom('counters')
    .select('next_value')
    .where('name', '=', 'tracking')
    .executeTakeFirstOrThrow()
  assert.equal(Number(counter.next_value), next, 'the counter is past every block handed out')
})

test('an idempotency key written by two instances at once is taken by exactly one (INSERT IGNORE)', async (t) => {
  const url = await testDatabaseUrl(t)
  await migrateToLatest(open(t, url, 2).db)
  const [a, b] = [open(t, url), open(t, url)].map((h) => createTrackingRepository(h.db))
  const idempotency = { key: 'client k1', requestHash: 'h', createdAt: new Date().toISOString() }
  const results = await Promise.all([
    (a as NonNullable<typeof a>).writeBatch([{ issued: testIssued(1), idempotency }]),
    (b as NonNullable<typeof b>).writeBatch([{ issued: testIssued(2), idempotency }]),
  ])
  assert.deepEqual(results.map((r) => r[0]).sort(), [false, true])
  const rows = await open(t, url, 1).db.selectFrom('tracking_numbers').select('sequence').execute()
  assert.equal(rows.length, 1, 'only the winner stored its records')
})

test('durability: a server with weaker settings is named at start, one warning per setting', async (t) => {
  // The shared test server runs with innodb_flush_log_at_trx_commit=1 and no binary log.
  const shared = open(t, await testDatabaseUrl(t), 1)
  assert.deepEqual(await durabilityWarnings(shared), [])

  const weak = await startPrivateMariadb(t, [
    '--innodb-flush-log-at-trx-commit=2',
    '--log-bin=binlog',
    '--server-id=1',
    '--sync-binlog=0',
  ])
  const warnings = await durabilityWarnings(open(t, weak.url, 1))
  assert.equal(warnings.length, 2, warnings.join('\n'))
  assert.match(warnings[0] as string, /^innodb_flush_log_at_trx_commit is 2, not 1/)
  assert.match(warnings[1] as string, /^sync_binlog is 0, not 1, with log_bin on/)
})
