import type pg from 'pg'

export interface ReplicationStatus {
  /** The primary's synchronous_standby_names ('' = every commit is acknowledged asynchronously). */
  synchronousStandbyNames: string
  /** Standbys attached now whose confirmation each commit waits for (sync_state sync or quorum). */
  synchronousStandbys: number
}

// pg_stat_replication shows sync_state only to superusers and members of pg_read_all_stats; for
// others the count reads 0, which errs on the side of "no synchronous standby".
const SQL = `select current_setting('synchronous_standby_names') as names,
  (select count(*)::int from pg_stat_replication where sync_state in ('sync', 'quorum')) as sync`

/** What the primary's commits wait for now. */
export async function replicationStatus(pool: Pick<pg.Pool, 'query'>): Promise<ReplicationStatus> {
  const { rows } = await pool.query(SQL)
  const row = rows[0] as { names: string; sync: number }
  return { synchronousStandbyNames: row.names, synchronousStandbys: row.sync }
}
