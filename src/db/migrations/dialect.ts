import { type ColumnDataType, type CreateTableBuilder, type Kysely, sql } from 'kysely'
import { dialectOf } from '../dialect.js'

// What the one migration set needs to know about the dialect it runs on: SQLite and PostgreSQL
// share most types; MySQL and MariaDB differ in a few places, each one named here.

export { dialectOf } from '../dialect.js'

/**
 * A text column that is part of a key or an index. MySQL indexes TEXT only by a prefix of a
 * stated length, so there it is a VARCHAR long enough for every value the API accepts (in
 * utf8mb4 an index key holds at most 3072 bytes: 768 characters).
 */
export function keyText(db: Kysely<unknown>, length: number): ColumnDataType {
  return dialectOf(db) === 'mysql' ? (`varchar(${length})` as ColumnDataType) : 'text'
}

/**
 * `db.schema.createTable(name)`, with, on MySQL, InnoDB (transactions, row locks, crash safety)
 * and a binary collation: unique keys and comparisons then tell 'Abc' from 'abc', as SQLite and
 * PostgreSQL do (the servers' default collations ignore case and accents).
 */
export function createTable(db: Kysely<unknown>, name: string): CreateTableBuilder<string, never> {
  const builder = db.schema.createTable(name)
  return dialectOf(db) === 'mysql'
    ? builder.modifyEnd(sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin`)
    : builder
}
