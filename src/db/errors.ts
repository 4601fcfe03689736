// Driver errors, classified here so that nothing outside db/ inspects dialect-specific codes.

/** The driver's (or Node's) code of an error, e.g. SQLITE_FULL or 25006 (also for logs and /ready). */
export function driverCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined
}

export function isUniqueViolation(error: unknown): boolean {
  const code = driverCode(error)
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'ER_DUP_ENTRY'
  )
}

export function isBusy(error: unknown): boolean {
  return driverCode(error)?.startsWith('SQLITE_BUSY') ?? false
}

/** What a process sees when another one applied the same migration first (SQLite has no migration lock). */
export function isLostMigrationRace(error: unknown): boolean {
  const code = driverCode(error)
  // SQLITE_SCHEMA: the other process changed the schema under a statement prepared before it did.
  return (
    isBusy(error) ||
    ((code === 'SQLITE_ERROR' || code === 'SQLITE_SCHEMA') &&
      /already exists|duplicate column name/.test(String(error)))
  )
}

export function isForeignKeyViolation(error: unknown): boolean {
  const code = driverCode(error)
  return (
    code === '23503' ||
    code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ||
    code === 'ER_NO_REFERENCED_ROW_2' ||
    code === 'ER_ROW_IS_REFERENCED_2'
  )
}

// Node's socket errors, and what pg throws when it gives up waiting.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])
const PG_GAVE_UP =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error/

// mysql2's codes when a connection is lost, cannot be made, or times out (POOL_TIMEOUT_CODE of
// db/mysql.ts: no free connection in time), and the server's when it cannot serve now: too many
// connections, shutting down, a lock wait or statement past its timeout, a deadlock victim,
// read-only (read_only, super_read_only, innodb_read_only: ER_OPTION_PREVENTS_STATEMENT), disk or
// table full, out of memory. A deadlock victim's transaction was rolled back: retrying is safe.
const MYSQL_UNAVAILABLE = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'WAYBILL_POOL_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_SHUTDOWN_COMPLETE',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_STATEMENT_TIMEOUT',
  'ER_QUERY_TIMEOUT',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE',
  'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION',
  'ER_RECORD_FILE_FULL',
  'ER_DISK_FULL',
  'ER_OUTOFMEMORY',
  'ER_OUT_OF_RESOURCES',
  'ER_CANT_CREATE_THREAD',
  'ER_ERROR_ON_WRITE',
  'ER_HOST_IS_BLOCKED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
])
// SQLSTATE 70100: the statement was interrupted (killed, or past max_statement_time on MariaDB,
// whose error number 1969 mysql2 has no code for). 08S01: the connection failed mid-statement.
const MYSQL_UNAVAILABLE_STATES = new Set(['70100', '08S01'])

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'sqlState' in error
    ? String(error.sqlState)
    : undefined
}

// SQLite cannot write: disk full, a read-only file, folder or connection, an I/O error.
const SQLITE_CANNOT_WRITE = /^SQLITE_(BUSY|FULL|READONLY|IOERR)/

/**
 * The database cannot answer now (down, restarting, overloaded, locked past the busy timeout) or
 * refuses every write (disk full, read-only): a 503 to retry, not a 500. PostgreSQL classes 08
 * (connection), 53 (resources, 53100 disk full among them), 57P0x (shutdown), 57014 (statement
 * timeout) and 25006 (read-only transaction: default_transaction_read_only, a standby); MySQL's
 * are listed above.
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof AggregateError) return error.errors.some(isUnavailable)
  const code = driverCode(error)
  if (
    code &&
    (NETWORK_CODES.has(code) ||
      /^(08|53|57P0)/.test(code) ||
      code === '57014' ||
      code === '25006' ||
      MYSQL_UNAVAILABLE.has(code) ||
      code === 'NO_SYNC_STANDBY' ||
      SQLITE_CANNOT_WRITE.test(code))
  ) {
    return true
  }
  if (MYSQL_UNAVAILABLE_STATES.has(sqlState(error) ?? '')) return true
  return error instanceof Error && PG_GAVE_UP.test(error.message)
}
