import { ConfigError, loadConfig, loadEnvFile } from './config.js'
import { createDatabase } from './db/index.js'
import { migrateToLatest } from './db/migrate.js'

const USAGE = `Usage: npm run cli -- <command>

Commands:
  migrate    apply pending database migrations (also done at every start)`

async function migrate(): Promise<void> {
  const config = loadConfig()
  const database = createDatabase(config.database)
  try {
    const applied = await migrateToLatest(database.db)
    console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database is up to date')
  } finally {
    await database.close()
  }
}

const commands: Record<string, () => Promise<void>> = { migrate }

async function run(args: string[]): Promise<void> {
  const command = args[0] ? commands[args[0]] : undefined
  if (!command) {
    console.error(USAGE)
    process.exit(2)
  }
  loadEnvFile()
  await command()
}

run(process.argv.slice(2)).catch((error) => {
  console.error(error instanceof ConfigError ? `waybill: ${error.message}` : error)
  process.exit(1)
})
