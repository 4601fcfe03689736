import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { type Kysely, Migrator } from 'kysely'
import { isLostMigrationRace } from '../../src/db/errors.js'
import { migrateToLatest, migrationNames } from '../../src/db/migrate.js'
import * as m0009 from '../../src/db/migrations/0009-optional-issue-fields.js'
import * as m0011 from '../../src/db/migrations/0011-request-once.js'
import { createTrackingRepository, recordsOf } from '../../src/tracking/repository.js'
import { dialect, openDatabase, testDatabaseUrl, testEnv, testIssued, testRecord } from '../helpers/build.js'
import { program } from '../helpers/programs.js'
import { ROOT } from '../helpers/root.js'

/** `waybill migrate` in a process of its own: its exit code, and the migrations it says it applied. */
function migrateInProcess(
  databaseUrl: string,
): Promise<{ code: number | null; applied: string[]; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...program('cli'), 'migrate'], {
      cwd: ROOT,
      env: { ...process.env, ...testEnv(databaseUrl) },
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      const applied = /^applied: (.*)$/m.exec(output)?.[1]?.split(', ') ?? []
      resolve({ code, applied, output })
    })
  })
}

test('processes migrating one fresh database at once all succeed, and migrate it once', async (t) => {
  // SQLite's connections in one process would wait for each other's lock synchronously, each
  // blocking the other's event loop: there, only separate processes (cluster workers, a second
  // instance on the same file) race. Elsewhere each connection stands for a process.
  const rounds = dialect === 'sqlite' ? 6 : 10
  for (let round = 0; round < rounds; round++) {
    const url = await testDatabaseUrl(t)
    let applied: string[][]
    if (dialect === 'sqlite') {
      const runs = await Promise.all(Array.from({ length: 4 }, () => migrateInProcess(url)))
      for (const run of runs) assert.equal(run.code, 0, `round ${round}: ${run.output}`)
      applied = runs.map((run) => run.applied)
    } else {
      const connections = Array.from({ length: 4 }, () => openDatabase(t, url))
      applied = await Promise.all(connections.map((db) => migrateToLatest(db)))
    }
    assert.deepEqual(
      applied.flat().sort(),
      migrationNames,
      `round ${round}: each migration was applied exactly once`,
    )
    const counters = await openDatabase(t, url).selectFrom('counters').selectAll().execute()
    assert.equal(counters.length, 1, 'the seed row exists once')
  }
})

test('a migration that fails leaves nothing of the run behind: the migrations before it in the run are undone too', async (t) => {
  // SQLite and PostgreSQL run a start's pending migrations in one transaction, so another process
  // never sees (nor races with) half of them. MySQL commits each DDL statement by itself.
  const db = openDatabase(t, await testDatabaseUrl(t))
  const migrator = new Migrator({
    db,
    provider: {
      getMigrations: async () => ({
        '0001-made': {
          up: (db: Kysely<unknown>) => db.schema.createTable('made').addColumn('id', 'integer').execute(),
        },
        '0002-fails': { up: async () => Promise.reject(new Error('this migration fails')) },
      }),
    },
  })
  const { error, results } = await migrator.migrateToLatest()
  assert.match(String(error), /this migration fails/)
  assert.deepEqual(
    results?.map((r) => [r.migrationName, r.status]),
    [
      ['0001-made', 'Success'],
      ['0002-fails', 'Error'],
    ],
  )
  const tables = (await db.introspection.getTables()).map((table) => table.name)
  if (dialect === 'mysql') assert.ok(tables.includes('made'), 'MySQL keeps what committed')
  else
    assert.ok(!tables.includes('made'), `the first migration's table was rolled back: ${tables.join(', ')}`)
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
