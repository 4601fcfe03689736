import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../src/config.js'
import { isUniqueViolation } from '../../src/db/errors.js'
import { threadedWriter } from '../../src/tracking/writer.js'
import { migratedDatabase, testDatabaseUrl, testEnv, testRecord } from '../helpers/build.js'

test('the writer thread reserves and writes on its own connection; errors keep their driver code', async (t) => {
  const url = await testDatabaseUrl(t)
  const db = await migratedDatabase(t, url)
  const writer = threadedWriter(loadConfig(testEnv(url)).database)
  t.after(() => writer.close())

  const a = await writer.reserveBlock(10)
  const b = await writer.reserveBlock(10)
  assert.equal(b.start, a.end, 'blocks follow each other')
  assert.deepEqual(await writer.writeBatch([{ records: [testRecord(a.start)] }]), [true])

  const duplicate = await writer
    .writeBatch([{ records: [testRecord(a.start)] }])
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
    records: [testRecord(sequence)],
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
