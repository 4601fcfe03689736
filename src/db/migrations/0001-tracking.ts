import { type Kysely, SqliteAdapter, sql } from 'kysely'
import { createTable, keyText } from './dialect.js'

// One migration set for SQLite, PostgreSQL and MySQL: only types and statements all understand
// (MySQL's few differences are in ./dialect.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  // SQLite's INTEGER PRIMARY KEY is the rowid itself (64-bit): no second index on every insert.
  // tracking_number has no index: the codec is a keyed bijection, so a number decodes to its
  // sequence (the primary key) and is unique because the sequence is. A unique index on random
  // text would double the pages each group commit writes.
  const sequenceType = db.getExecutor().adapter instanceof SqliteAdapter ? 'integer' : 'bigint'
  await createTable(db, 'counters')
    .addColumn('name', keyText(db, 64), (c) => c.primaryKey())
    .addColumn('next_value', 'bigint', (c) => c.notNull())
    .execute()
  await db
    .insertInto('counters' as never)
    .values({ name: 'tracking', next_value: 1 } as never)
    .execute()

  await createTable(db, 'settings')
    .addColumn('name', keyText(db, 64), (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute()

  await createTable(db, 'tracking_numbers')
    .addColumn('sequence', sequenceType, (c) => c.primaryKey())
    .addColumn('tracking_number', 'text', (c) => c.notNull())
    .addColumn('uuid', 'text', (c) => c.notNull())
    .addColumn('origin_country', 'text', (c) => c.notNull())
    .addColumn('destination_country', 'text', (c) => c.notNull())
    .addColumn('weight_grams', 'integer', (c) => c.notNull().check(sql`weight_grams > 0`))
    .addColumn('order_created_at', 'text', (c) => c.notNull())
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('customer_name', 'text', (c) => c.notNull())
    .addColumn('customer_slug', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()

  await createTable(db, 'idempotency_keys')
    // The client's subject and its Idempotency-Key header (up to 255 characters each).
    .addColumn('key', keyText(db, 700), (c) => c.primaryKey())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('sequences', 'text', (c) => c.notNull())
    .addColumn('created_at', keyText(db, 40), (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('idempotency_keys_created_at')
    .on('idempotency_keys')
    .column('created_at')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['idempotency_keys', 'tracking_numbers', 'settings', 'counters']) {
    await db.schema.dropTable(table).execute()
  }
}
