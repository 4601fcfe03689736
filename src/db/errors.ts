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
    ((code === 'SQLITE_ERROR' || code === 'SQLITE_SCHEMA') && /already exists/.test(String(error)))
  )
}
