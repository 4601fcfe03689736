import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Kysely } from 'kysely'
import { isLostMigrationRace } from '../../src/db/errors.js'
import { migrateToLatest, migrationNames } from '../../src/db/migrate.js'
import * as m0009 from '../../src/db/migrations/0009-optional-issue-fields.js'
import * as m0011 from '../../src/db/migrations/0011-request-once.js'
import { createTrackingRepository, recordsOf } from '../../src/tracking/repository.js'
import { openDatabase, testDatabaseUrl, testIssued, testRecord } from '../helpers/build.js'

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

test('0009 makes the seven request columns of tracking_numbers nullable and keeps every row', async (t) => {
  const db = openDatabase(t, await testDatabaseUrl(t))
  await migrateToLatest(db)
  const unknownDb = db as unknown as Kysely<unknown>
  await m0011.down(unknownDb)
  await m0009.down(unknownDb) // the shape before 0009
  const rows = [testRecord(1), testRecord(2)]
  await db.insertInto('tracking_numbers').values(rows).execute()
  const absent = { ...testRecord(3), weight_grams: null, customer_name: null }
  await assert.rejects(db.insertInto('tracking_numbers').values(absent).execute(), /null/i)

  await m0009.up(unknownDb)
  await m0011.up(unknownDb)
  const kept = (await db.selectFrom('tracking_numbers').selectAll().orderBy('sequence').execute()).map(
    ({ request_sequence, ...row }) => {
      assert.equal(request_sequence, null)
      return row
    },
  )
  assert.deepEqual(
    kept.map((row) => ({ ...row, sequence: Number(row.sequence), weight_grams: Number(row.weight_grams) })),
    rows,
  )
  await db.insertInto('tracking_numbers').values(absent).execute()
  const stored = await db
    .selectFrom('tracking_numbers')
    .select(['weight_grams', 'customer_name', 'customer_slug'])
    .where('sequence', '=', 3)
    .executeTakeFirstOrThrow()
  assert.deepEqual(stored, { weight_grams: null, customer_name: null, customer_slug: absent.customer_slug })
  // The weight's check still holds for a weight that is sent.
  await assert.rejects(
    db
      .insertInto('tracking_numbers')
      .values({ ...testRecord(4), weight_grams: 0 })
      .execute(),
    /check|constraint/i,
  )
})

test("0011 down copies each request's columns back onto its other numbers' rows; up again reads the same", async (t) => {
  const db = openDatabase(t, await testDatabaseUrl(t))
  await migrateToLatest(db)
  const repository = createTrackingRepository(db)
  const batch = { ...testIssued(10, 3), weight_grams: null }
  await repository.writeBatch([{ issued: testIssued(1) }, { issued: batch }])
  const expected = [...recordsOf(testIssued(1)), ...recordsOf(batch)].map((r) => r.sequence)
  const before = await repository.findBySequences(expected)
  assert.equal(before.length, 4)

  const unknownDb = db as unknown as Kysely<unknown>
  await m0011.down(unknownDb)
  const flat = await db.selectFrom('tracking_numbers').selectAll().orderBy('sequence').execute()
  assert.deepEqual(
    flat.map((row) => ({
      ...row,
      sequence: Number(row.sequence),
      weight_grams: row.weight_grams === null ? null : Number(row.weight_grams),
    })),
    before,
    'every row holds its request again, the column gone',
  )
  await m0011.up(unknownDb)
  assert.deepEqual(await repository.findBySequences(expected), before)
})
