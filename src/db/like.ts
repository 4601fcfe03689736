/**
 * A LIKE pattern matching `term` anywhere, with `%`, `_` and backslashes taken literally: each is
 * escaped with a backslash (PostgreSQL's default escape; SQLite needs the ESCAPE clause).
 */
export function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}
