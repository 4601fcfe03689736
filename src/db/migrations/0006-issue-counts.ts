import type { Kysely } from 'kysely'
import { createTable, keyText } from './dialect.js'

// Tracking numbers issued per minute, per process: each process adds only to its own rows every
// few seconds, so counting never contends with other instances nor slows the group commits.
export async function up(db: Kysely<unknown>): Promise<void> {
  await createTable(db, 'issue_counts')
    .addColumn('minute', keyText(db, 32), (c) => c.notNull())
    .addColumn('instance', keyText(db, 200), (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('issue_counts_pkey', ['minute', 'instance'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('issue_counts').execute()
}
