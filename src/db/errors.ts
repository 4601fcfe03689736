// Driver errors, classified here so that nothing outside db/ inspects dialect-specific codes.

function codeOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined
}

export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error)
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}

export function isBusy(error: unknown): boolean {
  return codeOf(error)?.startsWith('SQLITE_BUSY') ?? false
}

/** What a process sees when another one applied the same migration first (SQLite has no migration lock). */
export function isLostMigrationRace(error: unknown): boolean {
  const code = codeOf(error)
  // SQLITE_SCHEMA: the other process changed the schema under a statement prepared before it did.
  return (
    isBusy(error) ||
    ((code === 'SQLITE_ERROR' || code === 'SQLITE_SCHEMA') &&
      /already exists|duplicate column name/.test(String(error)))
  )
}

export function isForeignKeyViolation(error: unknown): boolean {
  const code = codeOf(error)
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

/**
 * The database cannot answer now (down, restarting, overloaded, locked past the busy timeout): a
 * 503 to retry, not a 500. PostgreSQL classes 08 (connection), 53 (resources), 57P0x (shutdown)
 * and 57014 (statement timeout).
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof AggregateError) return error.errors.some(isUnavailable)
  const code = codeOf(error)
  if (
    code &&
    (NETWORK_CODES.has(code) ||
      /^(08|53|57P0)/.test(code) ||
      code === '57014' ||
      code.startsWith('SQLITE_BUSY'))
  ) {
    return true
  }
  return error instanceof Error && PG_GAVE_UP.test(error.message)
}
