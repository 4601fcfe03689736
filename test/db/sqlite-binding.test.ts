// SQLite's prepared statements take a query's parameter array as separate arguments, which
// better-sqlite3 binds faster (src/db/index.ts). These queries go through Kysely and the statement
// cache as every query does, and check that what is bound, and what is refused, is unchanged.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { CompiledQuery } from 'kysely'
import { openDatabase, tempDir } from '../helpers/build.js'

function sqliteDb(t: Parameters<typeof tempDir>[0]) {
  return openDatabase(t, `sqlite:${join(tempDir(t), 'binding.db')}`)
}

test('scalars, nulls and bytes bind as the values they are', async (t) => {
  const db = sqliteDb(t)
  const query = CompiledQuery.raw('select ? as a, ? as b, ? as c, ? as d, ? as e', [
    1,
    'x',
    null,
    Buffer.from([1, 2]),
    2.5,
  ])
  for (let i = 0; i < 3; i++) {
    // the same statement again, from the cache
    const { rows } = await db.executeQuery(query)
    assert.deepEqual(rows, [{ a: 1, b: 'x', c: null, d: Buffer.from([1, 2]), e: 2.5 }])
  }
  const none = await db.executeQuery(CompiledQuery.raw('select 7 as seven', []))
  assert.deepEqual(none.rows, [{ seven: 7 }])
})

test('an array or an object among the values is refused, as better-sqlite3 refuses it in an array', async (t) => {
  const db = sqliteDb(t)
  // As arguments, [1] would be taken as more values (binding 1 and 2) and { x: 1 } as named ones.
  await assert.rejects(db.executeQuery(CompiledQuery.raw('select ? as a, ? as b', [[1], 2])), TypeError)
  await assert.rejects(db.executeQuery(CompiledQuery.raw('select @x as x', [{ x: 1 }])), TypeError)
  // Anywhere among them: spread, [1, [2]] would bind 1 and 2.
  await assert.rejects(db.executeQuery(CompiledQuery.raw('select ? as a, ? as b', [1, [2]])), TypeError)
  await assert.rejects(db.executeQuery(CompiledQuery.raw('select ? as a, ? as b', [1, { x: 1 }])), TypeError)
})

test('a multi-row insert of many parameters binds every value in order', async (t) => {
  const db = sqliteDb(t)
  await db.executeQuery(CompiledQuery.raw('create table t (a integer, b text)', []))
  const rows = 5_000 // 10,000 parameters in one statement
  const values = Array.from({ length: rows }, (_, i) => [i, `v${i}`]).flat()
  await db.executeQuery(
    CompiledQuery.raw(
      `insert into t values ${Array.from({ length: rows }, () => '(?, ?)').join(', ')}`,
      values,
    ),
  )
  const { rows: stored } = await db.executeQuery<{ a: number; b: string }>(
    CompiledQuery.raw('select a, b from t order by a', []),
  )
  assert.equal(stored.length, rows)
  assert.ok(stored.every((row, i) => row.a === i && row.b === `v${i}`))
})
