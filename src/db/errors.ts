// Driver errors, classified here so that nothing outside db/ inspects dialect-specific codes.

/** The driver's (or Node's) code of an error, e.g. SQLITE_FULL or 25006 (also for logs and /ready). */
export function driverCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined
}

export function isUniqueViolation(error: unknown): boolean {
  const code = driverCode(error)
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
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
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
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

// SQLite cannot write: disk full, a read-only file, folder or connection, an I/O error.
const SQLITE_CANNOT_WRITE = /^SQLITE_(BUSY|FULL|READONLY|IOERR)/

/**
 * The database cannot answer now (down, restarting, overloaded, locked past the busy timeout) or
 * refuses every write (disk full, read-only): a 503 to retry, not a 500. PostgreSQL classes 08
 * (connection), 53 (resources, 53100 disk full among them), 57P0x (shutdown), 57014 (statement
 * timeout) and 25006 (read-only transaction: default_transaction_read_only, a standby).
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
      SQLITE_CANNOT_WRITE.test(code))
  ) {
    return true
  }
  return error instanceof Error && PG_GAVE_UP.test(error.message)
}
