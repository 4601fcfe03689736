import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { isForeignKeyViolation, isUnavailable, isUniqueViolation } from '../../src/db/errors.js'
import { migratedDatabase, testRecord } from '../helpers/build.js'

// The errors MariaDB really raises, classified as on the other databases: each provoked here.

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  assert.fail('the statement was expected to fail')
}

test('a duplicate key and a missing referenced row are recognised (ER_DUP_ENTRY, ER_NO_REFERENCED_ROW_2)', async (t) => {
  const db = await migratedDatabase(t)
  await db.insertInto('tracking_numbers').values(testRecord(1)).execute()
  const duplicate = await failure(() => db.insertInto('tracking_numbers').values(testRecord(1)).execute())
  assert.equal(isUniqueViolation(duplicate), true, String(duplicate))
  assert.equal(isUnavailable(duplicate), false)
  const now = new Date().toISOString()
  const orphan = await failure(() =>
    db
      .insertInto('orders')
      .values({
        customer_id: 999,
        item: 'x',
        amount_minor: 1,
        origin_country: null,
        destination_country: null,
        weight_grams: null,
        tracking_sequence: 5,
        tracking_number: 'X',
        status: 'PENDING',
        order_time: now,
        updated_at: now,
      })
      .execute(),
  )
  assert.equal(isForeignKeyViolation(orphan), true, String(orphan))
})

test('a lock wait past its timeout, a statement past max_statement_time and a read-only transaction are unavailable', async (t) => {
  const db = await migratedDatabase(t)
  // One connection holds the counter's row lock; another waits at most a second for it.
  await db.connection().execute(async (holder) => {
    await sql`begin`.execute(holder)
    await sql`update counters set next_value = next_value + 1`.execute(holder)
    const waited = await failure(() =>
      db.connection().execute(async (waiter) => {
        await sql`set session innodb_lock_wait_timeout = 1`.execute(waiter)
        await sql`update counters set next_value = next_value + 1`.execute(waiter)
      }),
    )
    await sql`rollback`.execute(holder)
    assert.equal(isUnavailable(waited), true, `lock wait: ${String(waited)}`)
  })
  const slow = await failure(() =>
    db.connection().execute(async (c) => {
      await sql`set session max_statement_time = 0.2`.execute(c)
      await sql`select sleep(2) from counters`.execute(c)
    }),
  )
  assert.equal(isUnavailable(slow), true, `statement timeout: ${String(slow)}`)
  const readOnly = await failure(() =>
    db.connection().execute(async (c) => {
      await sql`start transaction read only`.execute(c)
      try {
        await sql`update counters set next_value = next_value + 1`.execute(c)
      } finally {
        await sql`rollback`.execute(c)
      }
    }),
  )
  assert.equal(isUnavailable(readOnly), true, `read-only: ${String(readOnly)}`)
})
