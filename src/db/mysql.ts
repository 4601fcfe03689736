import {
  CompiledQuery,
  type DialectAdapter,
  Kysely,
  type MigrationLockOptions,
  MysqlAdapter,
  MysqlDialect,
  type MysqlPool,
  type MysqlPoolConnection,
  sql,
} from 'kysely'
import { createPool, type Pool, type PoolConnection } from 'mysql2'
import type { Config } from '../config.js'
import type { Database, DatabaseHandle } from './index.js'
import type { Tables } from './schema.js'

// MySQL 8 and MariaDB 10.6+ through mysql2, the driver Kysely's MysqlDialect is written against.

/**
 * Every session: strict (a value that does not fit is an error, never silently cut), UTC, and
 * READ COMMITTED as on PostgreSQL (InnoDB's default REPEATABLE READ takes gap locks that make
 * concurrent inserts and the outbox claims deadlock-prone). No NO_BACKSLASH_ESCAPES: mysql2
 * escapes parameters with backslashes, and LIKE patterns escape with a backslash (db/like.ts).
 */
const SESSION = [
  "set session sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE'",
  "set session time_zone = '+00:00'",
  'set session transaction isolation level read committed',
]

/** The server-side statement timeout: MariaDB's covers every statement, MySQL's only SELECTs. */
function timeoutStatements(ms: number): string[] {
  return [`set session max_statement_time = ${ms / 1000}`, `set session max_execution_time = ${ms}`]
}

/** The code an error gets when a connection was not free within the connect timeout. */
export const POOL_TIMEOUT_CODE = 'WAYBILL_POOL_TIMEOUT'

/**
 * Kysely's pool interface over mysql2's, adding what mysql2 lacks:
 * - a bound on the wait for a free connection (mysql2 queues forever), as pg's connectionTimeoutMillis;
 * - a client-side timeout per query that destroys the connection: the server may be gone, and a
 *   connection whose reply is still due cannot be reused. The server-side timeout (a little
 *   shorter) normally answers first, with ER_STATEMENT_TIMEOUT, and keeps the connection.
 */
function boundedPool(pool: Pool, connectTimeoutMs: number, queryTimeoutMs: number): MysqlPool {
  const wrapped = new WeakMap<PoolConnection, MysqlPoolConnection>()
  const wrap = (raw: PoolConnection): MysqlPoolConnection => {
    let connection = wrapped.get(raw)
    if (!connection) {
      const query = (text: string, values: unknown[], callback?: (error: unknown, result: never) => void) => {
        const options = { sql: text, values, timeout: queryTimeoutMs + 1_000 }
        if (!callback) return raw.query(options, values)
        raw.query(options, (error: (Error & { code?: string }) | null, result: unknown) => {
          if (error?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') raw.destroy()
          callback(error, result as never)
        })
      }
      connection = { query, release: () => raw.release() } as MysqlPoolConnection
      wrapped.set(raw, connection)
    }
    return connection
  }
  return {
    getConnection(callback) {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        const error = Object.assign(new Error(`no database connection within ${connectTimeoutMs} ms`), {
          code: POOL_TIMEOUT_CODE,
        })
        callback(error, undefined as never)
      }, connectTimeoutMs)
      pool.getConnection((error, raw) => {
        if (settled) {
          raw?.release()
          return
        }
        settled = true
        clearTimeout(timer)
        callback(error, error ? (undefined as never) : wrap(raw))
      })
    },
    end: (callback) => pool.end(callback),
  }
}

/**
 * Kysely's MySQL migration lock is one GET_LOCK for the whole server, waited on for an hour in a
 * single statement: every database on a server would migrate one at a time, and the wait would
 * outlast the query timeout. This one is per database, and waits a second at a time.
 */
class WaybillMysqlAdapter extends MysqlAdapter {
  override async acquireMigrationLock(db: Kysely<unknown>, _options: MigrationLockOptions): Promise<void> {
    for (;;) {
      const { rows } = await sql<{ locked: number | null }>`
        select get_lock(concat('waybill_migrations:', database()), 1) as locked`.execute(db)
      if (rows[0]?.locked === 1) return
    }
  }

  override async releaseMigrationLock(db: Kysely<unknown>, _options: MigrationLockOptions): Promise<void> {
    await sql`select release_lock(concat('waybill_migrations:', database()))`.execute(db)
  }
}

class WaybillMysqlDialect extends MysqlDialect {
  override createAdapter(): DialectAdapter {
    return new WaybillMysqlAdapter()
  }
}

export function createMysqlDatabase(options: Config['database'], url: string): DatabaseHandle {
  const pool = createPool({
    uri: url,
    connectionLimit: options.poolSize,
    maxIdle: options.poolSize,
    connectTimeout: options.connectTimeoutMs,
    enableKeepAlive: true,
    charset: 'utf8mb4',
    timezone: 'Z',
    // DECIMAL results (SUM over integers) as numbers, as int8 is read on PostgreSQL.
    decimalNumbers: true,
  })
  // A connection lost to an outage must never crash the process: mysql2 emits 'error' on the
  // connection, and its pool listens only once. The query in flight still rejects (a 503).
  pool.on('connection', (connection) => {
    connection.on('error', () => {})
    for (const statement of [...SESSION, ...timeoutStatements(options.queryTimeoutMs)]) {
      // The server knows only one of the two timeout variables; the other's error is expected.
      connection.query(statement, () => {})
    }
  })
  const db = new Kysely<Tables>({
    dialect: new WaybillMysqlDialect({
      pool: boundedPool(pool, options.connectTimeoutMs, options.queryTimeoutMs),
    }),
  })
  return {
    db,
    kind: 'mysql',
    blocksEventLoop: false,
    ping: async () => {
      await sql`select 1`.execute(db)
    },
    // mysql2's query() sends the parameters inline, so there is nothing the server could keep.
    executePrepared: async (_name, text, parameters) => {
      await db.executeQuery(CompiledQuery.raw(text, [...parameters]))
    },
    checkpoint: async () => {},
    close: () => db.destroy(),
  }
}

/** The settings that make a commit durable before its reply, each one this server has weaker. */
export async function mysqlDurabilityWarnings(db: Database): Promise<string[]> {
  const { rows } = await sql<{ flush: unknown; sync_binlog: unknown; log_bin: unknown }>`
    select @@global.innodb_flush_log_at_trx_commit as flush, @@global.sync_binlog as sync_binlog,
      @@global.log_bin as log_bin`.execute(db)
  const row = rows[0]
  const warnings: string[] = []
  if (String(row?.flush) !== '1') {
    warnings.push(
      `innodb_flush_log_at_trx_commit is ${row?.flush}, not 1: a crash of the server can lose committed block reservations and records (set it to 1)`,
    )
  }
  // The binary log matters only when it is on (replication, point-in-time recovery); a commit
  // then waits for both logs, and sync_binlog=1 makes the binary log's part reach the disk too.
  if (String(row?.log_bin) === '1' && String(row?.sync_binlog) !== '1') {
    warnings.push(
      `sync_binlog is ${row?.sync_binlog}, not 1, with log_bin on: a crash can lose committed transactions from the binary log that replicas and recovery read (set it to 1)`,
    )
  }
  return warnings
}
