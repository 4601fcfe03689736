import type { Kysely } from 'kysely'

// PostgreSQL: the server timeline of the counter's last reservation. A reservation on another
// timeline (the database failed over) moves the counter ahead by a fixed gap first, so values the
// old primary handed out but never replicated are not handed out again, by any instance (see
// reserveBlock). SQLite and MySQL leave it null.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('counters').addColumn('timeline', 'bigint').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('counters').dropColumn('timeline').execute()
}
