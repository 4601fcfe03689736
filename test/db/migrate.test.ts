import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isLostMigrationRace } from '../../src/db/errors.js'
import { migrateToLatest, migrationNames } from '../../src/db/migrate.js'
import { openDatabase, testDatabaseUrl } from '../helpers/build.js'

test('processes migrating one fresh database at once all succeed, and migrate it once', async (t) => {
  for (let round = 0; round < 10; round++) {
    const url = await testDatabaseUrl(t)
    const connections = Array.from({ length: 4 }, () => openDatabase(t, url))
    const results = await Promise.all(connections.map((db) => migrateToLatest(db)))
    assert.deepEqual(
      results.flat().sort(),
      migrationNames,
      `round ${round}: each migration was applied exactly once`,
    )
    const counters = await (connections[0] as (typeof connections)[0])
      .selectFrom('counters')
      .selectAll()
      .execute()
    assert.equal(counters.length, 1, 'the seed row exists once')
  }
})

test('migrating an up-to-date database applies nothing', async (t) => {
  const db = openDatabase(t, await testDatabaseUrl(t))
  assert.deepEqual(await migrateToLatest(db), migrationNames)
  assert.ok(migrationNames.includes('0001-tracking'))
  assert.deepEqual(await migrateToLatest(db), [])
})

test('SQLite: another process having applied the same migration first is recognised, whatever it did', () => {
  // What better-sqlite3 throws when the other process won: a table, an index or a column (0008).
  for (const message of [
    'table users already exists',
    'index orders_status already exists',
    'duplicate column name: generation',
  ]) {
    const error = Object.assign(new Error(message), { code: 'SQLITE_ERROR' })
    assert.ok(isLostMigrationRace(error), message)
  }
  assert.ok(!isLostMigrationRace(Object.assign(new Error('no such table: x'), { code: 'SQLITE_ERROR' })))
})
