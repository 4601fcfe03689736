import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config.js'
import { isUniqueViolation } from '../../src/db/errors.js'
import { createDatabase } from '../../src/db/index.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import {
  HEAD_WIDTH,
  MEMBER_WIDTH,
  packBatch,
  rowsOf,
  SHARED,
  unpackRows,
} from '../../src/tracking/packing.js'
import { createTrackingRepository, recordsOf } from '../../src/tracking/repository.js'
import { threadedWriter } from '../../src/tracking/writer.js'
import {
  migratedDatabase,
  storedNumbers,
  tempDir,
  testDatabaseUrl,
  testEnv,
  testIssued,
} from '../helpers/build.js'
import { UUID_V4 } from '../helpers/patterns.js'

test('the writer thread reserves and writes on its own connection; errors keep their driver code', async (t) => {
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const writer = threadedWriter(loadConfig(testEnv(url)).database)
  t.after(() => writer.close())

  const a = await writer.reserveBlock(10)
  const b = await writer.reserveBlock(10)
  assert.equal(b.start, a.end, 'blocks follow each other')
  assert.deepEqual(await writer.writeBatch([{ issued: testIssued(a.start) }]), [true])

  const duplicate = await writer
    .writeBatch([{ issued: testIssued(a.start) }])
    .catch((error: unknown) => error)
  assert.ok(duplicate instanceof Error)
  assert.ok(isUniqueViolation(duplicate), `a primary-key violation is recognisable: ${duplicate}`)

  // A closed (or dead) thread is replaced on the next call.
  await writer.close()
  const c = await writer.reserveBlock(10)
  assert.equal(c.start, b.end)
  const rows = await db.selectFrom('tracking_numbers').select('sequence').execute()
  assert.deepEqual(
    rows.map((r) => Number(r.sequence)),
    [a.start],
  )
})

test('expired idempotency keys are deleted through the writer, newer ones kept', async (t) => {
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const writer = threadedWriter(loadConfig(testEnv(url)).database)
  t.after(() => writer.close())
  const entry = (key: string, createdAt: string, sequence: number) => ({
    issued: testIssued(sequence),
    idempotency: { key, requestHash: 'h', createdAt },
  })
  await writer.writeBatch([
    entry('old', '2020-01-01T00:00:00.000Z', 1),
    entry('new', '2030-01-01T00:00:00.000Z', 2),
  ])
  assert.equal(await writer.deleteIdempotencyKeysBefore('2025-01-01T00:00:00.000Z'), 1)
  const keys = await db.selectFrom('idempotency_keys').select('key').execute()
  assert.deepEqual(
    keys.map((k) => k.key),
    ['new'],
  )
})

test('a packed batch unpacks to the rows the entries give directly, its requests sent once each', () => {
  const first = testIssued(1)
  const entries = [
    { issued: first },
    { issued: testIssued(2, 3), idempotency: { key: 'k', requestHash: 'h', createdAt: 'c' } },
    { issued: { ...testIssued(5, 2), customer_name: null, weight_grams: null } },
    // The same request as the one before but for its numbers: its columns are not sent again.
    {
      issued: {
        ...testIssued(7),
        customer_id: testIssued(5).customer_id,
        customer_name: null,
        weight_grams: null,
      },
    },
  ]
  // testIssued makes a new customer each time: the third and fourth share theirs, made equal.
  Object.assign(entries[2]?.issued ?? {}, {
    customer_id: entries[3]?.issued.customer_id,
    created_at: first.created_at,
  })
  Object.assign(entries[3]?.issued ?? {}, { created_at: first.created_at })
  const packed = packBatch(entries)
  assert.deepEqual(unpackRows(packed), rowsOf(entries))
  assert.equal(packed.numbers, entries.flatMap((e) => e.issued.tracking_numbers).join(''))
  assert.deepEqual(packed.repeats, [false, false, false, true])
  assert.equal(
    packed.shared.length,
    3 * SHARED.length,
    'one set of request columns per run of equal requests',
  )
  assert.deepEqual(packed.rows, [1, 3, 2, 1])
  assert.deepEqual(packed.keys, [{ entry: 1, key: 'k', requestHash: 'h', createdAt: 'c' }])
})

test('rows made directly keep the UUIDs an entry came with and give every other number a fresh one', () => {
  const { uuids: _a, ...three } = testIssued(1, 3)
  const given = testIssued(4, 2)
  const { uuids: _b, ...one } = testIssued(6)
  const rows = rowsOf([{ issued: three }, { issued: given }, { issued: one }])
  // The UUID is the third value of a head and of a member, heads entry by entry, members likewise.
  const heads = [0, 1, 2].map((e) => rows.heads[e * HEAD_WIDTH + 2])
  const members = [0, 1, 2].map((m) => rows.members[m * MEMBER_WIDTH + 2])
  assert.deepEqual([heads[1], members[2]], given.uuids, 'the UUIDs sent are kept, in order')
  const made = [heads[0], members[0], members[1], heads[2]]
  for (const uuid of made) assert.match(String(uuid), UUID_V4)
  assert.equal(new Set([...made, ...given.uuids]).size, 6, 'every number its own UUID')
})

test("a request's columns are stored once, on its first number's row; every number reads back whole", async (t) => {
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const writer = threadedWriter(loadConfig(testEnv(url)).database)
  t.after(() => writer.close())
  const repository = createTrackingRepository(db)
  const single = testIssued(1)
  const batch = { ...testIssued(10, 4), customer_slug: null }
  const other = testIssued(20, 2)
  // Through the writer thread (packed) and on this connection (direct): the same rows.
  assert.deepEqual(await writer.writeBatch([{ issued: single }, { issued: batch }]), [true, true])
  assert.deepEqual(await repository.writeBatch([{ issued: other }]), [true])
  const raw = await db.selectFrom('tracking_numbers').selectAll().orderBy('sequence').execute()
  assert.deepEqual(
    raw.map((r) => [
      Number(r.sequence),
      r.request_sequence === null ? null : Number(r.request_sequence),
      r.customer_id,
    ]),
    [
      [1, null, single.customer_id],
      [10, null, batch.customer_id],
      [11, 10, null],
      [12, 10, null],
      [13, 10, null],
      [20, null, other.customer_id],
      [21, 20, null],
    ],
  )
  const expected = [...recordsOf(single), ...recordsOf(batch), ...recordsOf(other)]
  assert.deepEqual(await repository.findBySequences([1, 10, 11, 12, 13, 20, 21]), expected)

  // Numbers issued without their UUIDs (no reply shows them) get theirs where they are written.
  const { uuids: _a, ...threaded } = testIssued(30, 3)
  const { uuids: _b, ...direct } = testIssued(40, 2)
  assert.deepEqual(await writer.writeBatch([{ issued: threaded }]), [true])
  assert.deepEqual(await repository.writeBatch([{ issued: direct }]), [true])
  const made = await repository.findBySequences([30, 31, 32, 40, 41])
  assert.deepEqual(
    made.map((r) => r.tracking_number),
    [...threaded.tracking_numbers, ...direct.tracking_numbers],
  )
  const uuids = made.map((r) => r.uuid)
  assert.ok(
    uuids.every((u) => UUID_V4.test(u)),
    `${uuids}`,
  )
  assert.equal(new Set(uuids).size, uuids.length)
  // A number looked up alone (its request's row not asked for) still has its request's columns.
  assert.deepEqual(await repository.findBySequences([12]), [expected[3]])
  // The view for people and reports shows the same.
  const view = await db
    .selectFrom('tracking_records')
    .selectAll()
    .where('sequence', '<', 30)
    .orderBy('sequence')
    .execute()
  assert.deepEqual(
    view.map((r) => ({
      ...r,
      sequence: Number(r.sequence),
      weight_grams: r.weight_grams === null ? null : Number(r.weight_grams),
    })),
    expected,
  )
  assert.deepEqual(await repository.findBySequences([21, 13]), [expected[4], expected[6]])
})

test('batches larger than one INSERT, with and without keys, are written whole; a taken key skips its records', async (t) => {
  const db = await migratedDatabase(t)
  const repository = createTrackingRepository(db)
  const many = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i)
  const singles = (from: number, count: number) => many(from, count).map((s) => ({ issued: testIssued(s) }))
  assert.deepEqual(
    await repository.writeBatch([...singles(0, 1_500), { issued: testIssued(1_500, 1_000) }]),
    [...singles(0, 1_500).map(() => true), true],
  )
  const key = (name: string) => ({ key: name, requestHash: 'h', createdAt: '2030-01-01T00:00:00.000Z' })
  assert.deepEqual(await repository.writeBatch([{ issued: testIssued(5_000, 10), idempotency: key('k1') }]), [
    true,
  ])
  const outcome = await repository.writeBatch([
    { issued: testIssued(10_000, 1_200) },
    { issued: testIssued(20_000, 3), idempotency: key('k1') }, // taken above: none of its records
    { issued: testIssued(30_000, 2), idempotency: key('k2') },
  ])
  assert.deepEqual(outcome, [true, false, true])
  const stored = await db.selectFrom('tracking_numbers').select('sequence').orderBy('sequence').execute()
  const expected = [...many(0, 2_500), ...many(5_000, 10), ...many(10_000, 1_200), ...many(30_000, 2)]
  assert.deepEqual(
    stored.map((r) => Number(r.sequence)),
    expected,
  )
  const k2 = await repository.findIdempotencyKey('k2')
  assert.equal(k2?.sequences, '30000,30001')
})

test('group commits through prepared statements: each size prepared once, reused, on every connection', async (t) => {
  const url = await testDatabaseUrl(t)
  await migratedDatabase(t, url)
  const database = createDatabase(loadConfig(testEnv(url, { DATABASE_POOL_SIZE: '3' })).database)
  t.after(() => database.close())
  const prepared: string[] = []
  const repository = createTrackingRepository(database.db, (name, text, parameters) => {
    prepared.push(name)
    return database.executePrepared(name, text, parameters)
  })
  const sizes = [1, 3, 3, 64, 65, 3, 1]
  let next = 0
  // Group commits of `size` single numbers, and one of a request of 5 numbers.
  const batches = sizes.map((size) => Array.from({ length: size }, () => ({ issued: testIssued(next++) })))
  batches.push([{ issued: testIssued(next, 5) }])
  next += 5
  // Concurrently, so that the pool's connections each prepare the statements they run.
  const outcomes = await Promise.all(batches.map((entries) => repository.writeBatch(entries)))
  assert.deepEqual(
    outcomes,
    batches.map((entries) => entries.map(() => true)),
  )
  const stored = await database.db
    .selectFrom('tracking_numbers')
    .select('sequence')
    .orderBy('sequence')
    .execute()
  assert.deepEqual(
    stored.map((r) => Number(r.sequence)),
    Array.from({ length: next }, (_, i) => i),
  )
  // On PostgreSQL every group commit goes as one array per column through one statement, prepared
  // (its SQL does not depend on the batch's size), and one with a request of several numbers
  // through another. Elsewhere a statement is prepared per size up to 64 requests, and a request
  // of several numbers takes two INSERTs in a transaction, unprepared.
  assert.deepEqual(
    [...new Set(prepared)].sort(),
    database.kind === 'postgres'
      ? ['waybill_insert_tracking_both', 'waybill_insert_tracking_unnest']
      : ['waybill_insert_tracking_1', 'waybill_insert_tracking_3', 'waybill_insert_tracking_64'],
  )
  // A duplicate in a prepared batch fails the whole batch, as an unprepared one does.
  const duplicate = await repository
    .writeBatch([{ issued: testIssued(next) }, { issued: testIssued(0) }])
    .catch((e: unknown) => e)
  assert.ok(isUniqueViolation(duplicate), `${duplicate}`)
  assert.equal(await storedNumbers(database.db), next)
})

test('a transaction that reads, then writes, is not failed by a commit on another connection meanwhile', async (t) => {
  // SQLite: a deferred BEGIN would give this transaction a snapshot at its first read; the writer
  // thread's commit would make it stale, and its write would fail at once with SQLITE_BUSY.
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const writer = threadedWriter(loadConfig(testEnv(url)).database)
  t.after(() => writer.close())
  await writer.reserveBlock(1) // the thread is up

  let reservation: Promise<unknown> | undefined
  await db.transaction().execute(async (trx) => {
    await trx.selectFrom('counters').selectAll().execute()
    reservation = writer.reserveBlock(10) // another connection writes now, or waits for us
    await new Promise((resolve) => setTimeout(resolve, 100))
    await trx.insertInto('settings').values({ name: 'read then write', value: 'ok' }).execute()
  })
  await reservation
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('name', '=', 'read then write')
    .executeTakeFirst()
  assert.equal(row?.value, 'ok')
})

test('SQLite: the main connection never checkpoints; the writer thread does, within seconds', async (t) => {
  const path = join(tempDir(t), 'checkpoints.db')
  const config = loadConfig(testEnv(`sqlite:${path}`)).database
  const main = createDatabase(config, { checkpoints: 'elsewhere' })
  t.after(() => main.close())
  await migrateToLatest(main.db)
  const pages = () => statSync(path).size / 4096

  // Far more than SQLite's automatic threshold (1,000 pages), written on the main connection,
  // one commit at a time: none of it may reach the database file from there.
  const before = pages()
  const text = 'x'.repeat(2_000)
  for (let i = 0; i < 300; i++) {
    await main.db.transaction().execute(async (trx) => {
      for (let j = 0; j < 10; j++) {
        await trx
          .insertInto('settings')
          .values({ name: `filler ${i}.${j}`, value: text })
          .execute()
      }
    })
  }
  assert.ok(statSync(`${path}-wal`).size / 4096 > 1_000, 'the log passed the automatic threshold')
  assert.equal(pages(), before, 'the main connection did not checkpoint')

  const writer = threadedWriter(config)
  t.after(() => writer.close())
  const deadline = Date.now() + 10_000
  while (pages() < before + 1_000 && Date.now() < deadline) await sleep(100)
  assert.ok(pages() >= before + 1_000, `the writer thread checkpointed (${before} → ${pages()} pages)`)
})

test('request values stored as sent through every insert path: text that reads as NULL, quotes, commas, braces', async (t) => {
  const url = await testDatabaseUrl(t)
  await migratedDatabase(t, url)
  const database = createDatabase(loadConfig(testEnv(url)).database)
  t.after(() => database.close())
  const repository = createTrackingRepository(database.db, database.executePrepared)
  const odd = { customer_slug: 'null', customer_name: 'NULL', order_created_at: 'Null' }
  const quoted = { customer_slug: 'a,b', customer_name: 'x "y" {z} \\ w', order_created_at: '' }
  // 70 requests of one number (on PostgreSQL one statement with arrays, as every commit there;
  // elsewhere more rows than the prepared VALUES statements take), then requests of several
  // numbers, each alone and in a transaction.
  const singles = Array.from({ length: 70 }, (_, i) => ({
    issued: { ...testIssued(i), ...(i % 2 ? odd : quoted) },
  }))
  const batches = [
    { issued: { ...testIssued(100, 3), ...odd } },
    { issued: { ...testIssued(200, 2), ...quoted } },
  ]
  const keyed = [
    {
      issued: { ...testIssued(300, 2), ...odd },
      idempotency: { key: 'k', requestHash: 'h', createdAt: 'c' },
    },
  ]
  for (const entries of [singles, batches, keyed]) {
    assert.deepEqual(
      await repository.writeBatch(entries),
      entries.map(() => true),
    )
  }
  const all = [...singles, ...batches, ...keyed].flatMap((e) => recordsOf(e.issued))
  const stored = await repository.findBySequences(all.map((r) => r.sequence))
  assert.deepEqual(
    stored.map((r) => [r.customer_slug, r.customer_name, r.order_created_at]),
    all.map((r) => [r.customer_slug, r.customer_name, r.order_created_at]),
  )
})
