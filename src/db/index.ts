import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  sql,
} from 'kysely'
import pg from 'pg'
import type { Config } from '../config.js'
import { failoverClient } from './failover-client.js'
import { createMysqlDatabase, mysqlDurabilityWarnings } from './mysql.js'
import { HostLocator, parsePostgresUrl } from './postgres-hosts.js'
import { type ReplicationStatus, replicationStatus } from './replication.js'
import type { Tables } from './schema.js'

export type { Tables } from './schema.js'
export type Database = Kysely<Tables>
export type PreparedExecutor = (name: string, sql: string, parameters: readonly unknown[]) => Promise<void>

export interface DatabaseHandle {
  db: Database
  kind: Config['database']['target']['kind']
  /** The driver runs queries synchronously (SQLite): heavy writes belong off the event loop. */
  blocksEventLoop: boolean
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>
  /**
   * Runs a statement on its own (autocommit), kept prepared under `name`: on PostgreSQL the
   * server parses and plans it once per connection instead of once per call. The same name must
   * always come with the same SQL. On SQLite every statement is kept prepared already.
   */
  executePrepared: PreparedExecutor
  /**
   * SQLite: copies what the write-ahead log holds into the database file, as far as readers allow
   * (PASSIVE: never waits). Nothing to do on PostgreSQL.
   */
  checkpoint(): Promise<void>
  close(): Promise<void>
  /** PostgreSQL: where the primary of a (multi-host) URL is, and which server and timeline it is. */
  server?: HostLocator
  /** PostgreSQL: whether the primary has a synchronous standby now. */
  replication?: () => Promise<ReplicationStatus>
}

export interface DatabaseOptions {
  /**
   * `elsewhere`: this SQLite connection never checkpoints; another (the writer thread's) does.
   * A checkpoint copies up to thousands of pages and fsyncs the file: 10-100 ms measured here,
   * which on the event loop would stall every request. Default `auto`: SQLite's own, at 1,000 pages.
   */
  checkpoints?: 'auto' | 'elsewhere'
}

const PG_INT8 = 20

function int8(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} exceeds the safe integer range`)
  return n
}

/**
 * Kysely prepares every query anew; on SQLite that is a measurable share of a group commit.
 * Statements are reused by their SQL text (the connection is used by one caller at a time).
 */
function withStatementCache(sqlite: SQLite.Database, capacity = 256): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>()
  const prepare = sqlite.prepare.bind(sqlite)
  sqlite.prepare = ((source: string) => {
    let statement = cache.get(source)
    if (!statement) {
      statement = bindingArraysAsArguments(prepare(source))
      if (cache.size >= capacity) cache.delete(cache.keys().next().value as string)
      cache.set(source, statement)
    }
    return statement
  }) as SQLite.Database['prepare']
  return sqlite
}

const EXECUTING = ['run', 'get', 'all', 'iterate'] as const

/**
 * Whether every value is one better-sqlite3 binds as one parameter, as an array element and as an
 * argument alike. A loop, not `values.every(...)`: Kysely freezes a query's parameters, and V8's
 * Array.prototype.every reads a frozen array's elements through its runtime, about 40 ns each
 * against 7 (for a batch's 5,000 parameters, 13 % of the writer thread's samples).
 */
function allScalars(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) return false
  }
  return true
}

/**
 * Kysely hands better-sqlite3 a query's parameters as one array, whose values better-sqlite3 then
 * reads one C++ property lookup at a time; given as separate arguments, it binds them straight from
 * the call. For a 999-row INSERT the statement took 1.00-1.15 µs a row so, against 1.20-1.76 (the
 * writer thread's CPU per number in batches: 2.07 -> 1.83 µs; docs/benchmarks.md). Only an array
 * of scalars is passed on so: an argument that is an array or an object means something else to
 * better-sqlite3 (more values, named parameters), where as an element it is refused, and must stay
 * refused. SQLite takes at most 32,766 parameters, well within what a call's arguments may hold.
 */
function bindingArraysAsArguments(statement: SQLite.Statement): SQLite.Statement {
  const target = statement as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const method of EXECUTING) {
    const execute = (target[method] as (...args: unknown[]) => unknown).bind(statement)
    target[method] = (...args: unknown[]) => {
      const values = args[0]
      return args.length === 1 && Array.isArray(values) && allScalars(values)
        ? execute(...values)
        : execute(...args)
    }
  }
  return statement
}

/** SQLite's DDL is transactional, though Kysely's adapter reports otherwise. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

/**
 * SQLite transactions take the write lock when they begin (BEGIN IMMEDIATE), waiting for it up to
 * the busy timeout. Kysely's plain BEGIN is deferred: a transaction that reads first and writes
 * later (a status change, a sign-in's rotation) then fails at once with SQLITE_BUSY whenever
 * another connection (the writer thread, another process) committed in between, since its
 * snapshot is stale and waiting cannot help. Seen as 503s on orders while numbers were issued.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  /**
   * Migrations run in one such transaction too. Kysely runs SQLite's outside one and takes no lock
   * (it assumes one connection), so two processes starting on a fresh file (WEB_CONCURRENCY, a
   * second instance) could interleave them: one dropping the table the other had just built a
   * view on. In a transaction the second waits for the first, then finds nothing left to apply.
   */
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter()
  }

  override createDriver(): Driver {
    const driver = super.createDriver()
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'))
    }
    return driver
  }
}

export function createDatabase(
  options: Config['database'],
  { checkpoints = 'auto' }: DatabaseOptions = {},
): DatabaseHandle {
  const { target } = options
  if (target.kind === 'sqlite') {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true })
    // timeout = busy timeout: a second process holding the write lock makes us wait, not fail.
    const sqlite = withStatementCache(new SQLite(target.path, { timeout: options.queryTimeoutMs }))
    sqlite.pragma('journal_mode = WAL')
    // Every commit reaches the disk before it returns. Not configurable: with NORMAL a power loss
    // can roll back a committed block reservation, and the counter would hand out again numbers
    // that customers already hold.
    sqlite.pragma('synchronous = FULL')
    sqlite.pragma('foreign_keys = ON')
    if (checkpoints === 'elsewhere') sqlite.pragma('wal_autocheckpoint = 0')
    const db = new Kysely<Tables>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) })
    return handle(
      db,
      'sqlite',
      async (_name, text, parameters) => {
        await db.executeQuery(CompiledQuery.raw(text, [...parameters]))
      },
      async () => {
        await sql`pragma wal_checkpoint(PASSIVE)`.execute(db)
      },
    )
  }
  if (target.kind === 'mysql') return createMysqlDatabase(options, target.url)

  const locator = new HostLocator(parsePostgresUrl(target.url), options.connectTimeoutMs)
  const pool = new pg.Pool({
    ...locator.url.base,
    // Each new connection goes to the current primary of the URL's hosts (pg takes only one).
    Client: failoverClient(locator),
    max: options.poolSize,
    // Fail fast when the server is down or slow: a request gets a 503, never an endless wait.
    connectionTimeoutMillis: options.connectTimeoutMs,
    query_timeout: options.queryTimeoutMs,
    // Connections are replaced every few minutes (when idle): a session that became read-only (a
    // primary demoted to standby, default_transaction_read_only) does not stay in the pool forever.
    maxLifetimeSeconds: 300,
    statement_timeout: options.queryTimeoutMs,
    // int8 columns (sequence values) as JS numbers; they stay far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text') =>
        oid === PG_INT8 ? int8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  })
  // A connection lost to an outage must never crash the process. pg-pool listens for errors on
  // idle clients only; a client checked out into a transaction needs a listener of its own. The
  // query in flight still rejects, and the request becomes a logged 503; the pool reconnects.
  pool.on('error', () => {})
  pool.on('connect', (client) => {
    client.on('error', () => {})
  })
  return {
    ...handle(
      new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) }),
      'postgres',
      async (name, text, values) => {
        await pool.query({ name, text, values: [...values] })
      },
      async () => {},
    ),
    server: locator,
    replication: () => replicationStatus(pool),
  }
}

/** Server settings weaker than "durable before the reply" needs, one message each (MySQL's; SQLite's are set above). */
export function durabilityWarnings(database: DatabaseHandle): Promise<string[]> {
  return database.kind === 'mysql' ? mysqlDurabilityWarnings(database.db) : Promise.resolve([])
}

function handle(
  db: Database,
  kind: DatabaseHandle['kind'],
  executePrepared: PreparedExecutor,
  checkpoint: () => Promise<void>,
): DatabaseHandle {
  return {
    db,
    kind,
    executePrepared,
    checkpoint,
    blocksEventLoop: kind === 'sqlite',
    ping: async () => {
      await sql`select 1`.execute(db)
    },
    close: () => db.destroy(),
  }
}
