import { type Kysely, SqliteAdapter, sql } from 'kysely'
import { createTable, dialectOf, keyText } from './dialect.js'

// The SMS outbox. Rows are written in the same transaction as the order change they announce, so
// a committed change always has its notification and a rolled-back one never does.
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT is the rowid, and never reuses the id of a deleted
  // row (ids are shown in the API). PostgreSQL: an identity column; int8 is read as a JS number.
  // order_id has the same type as the id, ready for the orders table (no foreign key: it comes later).
  const idType = sqlite ? 'integer' : 'bigint'
  await createTable(db, 'notifications')
    .addColumn('id', idType, (c) =>
      dialectOf(db) === 'postgres'
        ? c.primaryKey().generatedByDefaultAsIdentity()
        : c.primaryKey().autoIncrement(),
    )
    .addColumn('order_id', idType, (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('status', keyText(db, 16), (c) =>
      c.notNull().check(sql`status in ('pending', 'sending', 'sent', 'failed')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', keyText(db, 40), (c) => c.notNull())
    .addColumn('claim_token', 'text')
    .addColumn('claimed_until', 'text')
    .addColumn('last_error', 'text')
    .addColumn('message_id', 'text')
    .addColumn('cost', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute()
  // The claim query: status in (pending, sending) and next_attempt_at <= now, oldest first.
  await db.schema
    .createIndex('notifications_due')
    .on('notifications')
    .columns(['status', 'next_attempt_at'])
    .execute()
  await db.schema.createIndex('notifications_order_id').on('notifications').column('order_id').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('notifications').execute()
}
