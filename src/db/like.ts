import { type Kysely, type RawBuilder, sql } from 'kysely'
import { dialectOf } from './dialect.js'

/**
 * A LIKE pattern matching `term` anywhere, with `%`, `_` and backslashes taken literally: each is
 * escaped with a backslash (PostgreSQL's default escape; SQLite needs the ESCAPE clause).
 */
export function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/**
 * The ESCAPE clause for containsPattern's patterns (SQLite has no default escape character).
 * MySQL reads a backslash in a string literal as an escape too: there the literal doubles it.
 */
export function likeEscape(db: Pick<Kysely<never>, 'getExecutor'>): RawBuilder<unknown> {
  return sql.raw(dialectOf(db) === 'mysql' ? "escape '\\\\'" : "escape '\\'")
}
