import { type Kysely, MysqlAdapter, SqliteAdapter } from 'kysely'

export type Dialect = 'sqlite' | 'postgres' | 'mysql'

/** Which SQL dialect a Kysely instance speaks: for the few queries that differ (repositories, migrations). */
export function dialectOf(db: Pick<Kysely<never>, 'getExecutor'>): Dialect {
  const adapter = db.getExecutor().adapter
  if (adapter instanceof SqliteAdapter) return 'sqlite'
  return adapter instanceof MysqlAdapter ? 'mysql' : 'postgres'
}
