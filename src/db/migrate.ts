import { type Migration, type MigrationProvider, Migrator, PostgresAdapter, sql } from 'kysely'
import { isLostMigrationRace } from './errors.js'
import type { Database } from './index.js'
import * as m0001 from './migrations/0001-tracking.js'
import * as m0002 from './migrations/0002-auth.js'
import * as m0003 from './migrations/0003-notifications.js'
import * as m0004 from './migrations/0004-customers.js'
import * as m0005 from './migrations/0005-orders.js'
import * as m0006 from './migrations/0006-issue-counts.js'
import * as m0007 from './migrations/0007-order-search.js'
import * as m0008 from './migrations/0008-refresh-token-generations.js'
import * as m0009 from './migrations/0009-optional-issue-fields.js'
import * as m0010 from './migrations/0010-counter-timeline.js'
import * as m0011 from './migrations/0011-request-once.js'

// Migrations are imported, not read from a folder, so they work the same from src/ and dist/.
const migrations: Record<string, Migration> = {
  '0001-tracking': m0001,
  '0002-auth': m0002,
  '0003-notifications': m0003,
  '0004-customers': m0004,
  '0005-orders': m0005,
  '0006-issue-counts': m0006,
  '0007-order-search': m0007,
  '0008-refresh-token-generations': m0008,
  '0009-optional-issue-fields': m0009,
  '0010-counter-timeline': m0010,
  '0011-request-once': m0011,
}

export const migrationNames = Object.keys(migrations).sort()

const provider: MigrationProvider = { getMigrations: async () => migrations }

/**
 * On PostgreSQL the bookkeeping tables live in the connection's current schema: Kysely's
 * existence check would otherwise find another schema's copy on the same server.
 */
async function migrationTableSchema(db: Database): Promise<string | undefined> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return undefined
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  return rows[0]?.schema
}

export async function migrateToLatest(db: Database): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableSchema: await migrationTableSchema(db) })
  // Two processes starting at once on one SQLite file: the pending migrations run in one BEGIN
  // IMMEDIATE transaction (db/index.ts), so the second waits for the first's, then finds nothing
  // to apply. What remains to retry: Kysely creating its own tables before that transaction, and a
  // wait past the busy timeout. (On PostgreSQL, Kysely takes an advisory lock; on MySQL, GET_LOCK.)
  for (let attempt = 1; ; attempt++) {
    const { error, results = [] } = await migrator.migrateToLatest()
    if (!error) return results.filter((r) => r.status === 'Success').map((r) => r.migrationName)
    if (!isLostMigrationRace(error) || attempt >= 20) throw error
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt))
  }
}
