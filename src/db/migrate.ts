import { type Migration, type MigrationProvider, Migrator } from 'kysely'
import { isBusy } from './errors.js'
import type { Database } from './index.js'
import * as m0001 from './migrations/0001-tracking.js'

// Migrations are imported, not read from a folder, so they work the same from src/ and dist/.
const migrations: Record<string, Migration> = {
  '0001-tracking': m0001,
}

const provider: MigrationProvider = { getMigrations: async () => migrations }

export async function migrateToLatest(db: Database): Promise<string[]> {
  const migrator = new Migrator({ db, provider })
  // Two processes starting at once on one SQLite file: the loser of the write lock retries.
  for (let attempt = 1; ; attempt++) {
    const { error, results = [] } = await migrator.migrateToLatest()
    if (!error) return results.filter((r) => r.status === 'Success').map((r) => r.migrationName)
    if (!isBusy(error) || attempt >= 20) throw error
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt))
  }
}
