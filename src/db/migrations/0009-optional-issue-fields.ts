import { type Kysely, sql } from 'kysely'
import { dialectOf } from './dialect.js'

// The seven request fields of a tracking number may be absent (TRACKING_REQUIRED_FIELDS, and POST
// /tracking/generate from older clients): their columns take NULL. The sequence, number, uuid and
// issue time stay required.
export const OPTIONAL = [
  'origin_country',
  'destination_country',
  'weight_grams',
  'order_created_at',
  'customer_id',
  'customer_name',
  'customer_slug',
] as const

/**
 * SQLite cannot drop a NOT NULL: the table is rebuilt as SQLite's documentation describes (a new
 * table, the rows copied, the old one dropped, the new one renamed), in one transaction (the
 * migrator's, or its own when called alone), so a failure leaves the old table as it was.
 * Nothing references tracking_numbers and it has no index or trigger beyond its primary key.
 * `nullable` says which shape to build.
 */
async function rebuildSqlite(db: Kysely<unknown>, nullable: boolean): Promise<void> {
  if (!db.isTransaction) return db.transaction().execute((trx) => rebuildSqlite(trx, nullable))
  const text = (name: string) => sql.raw(`${name} text${nullable ? '' : ' not null'}`)
  await sql`create table tracking_numbers_rebuilt (
    sequence integer primary key,
    tracking_number text not null,
    uuid text not null,
    ${text('origin_country')},
    ${text('destination_country')},
    ${sql.raw(`weight_grams integer${nullable ? '' : ' not null'} check (weight_grams > 0)`)},
    ${text('order_created_at')},
    ${text('customer_id')},
    ${text('customer_name')},
    ${text('customer_slug')},
    created_at text not null
  )`.execute(db)
  await sql`insert into tracking_numbers_rebuilt select sequence, tracking_number, uuid, origin_country,
    destination_country, weight_grams, order_created_at, customer_id, customer_name, customer_slug,
    created_at from tracking_numbers`.execute(db)
  await sql`drop table tracking_numbers`.execute(db)
  await sql`alter table tracking_numbers_rebuilt rename to tracking_numbers`.execute(db)
}

/**
 * MySQL/MariaDB: MODIFY restates each column whole. The weight's check is restated with it, as
 * MariaDB keeps a column-level CHECK in the column's definition.
 */
async function modifyMysql(db: Kysely<unknown>, nullable: boolean): Promise<void> {
  const nullness = nullable ? 'null' : 'not null'
  const columns = OPTIONAL.map((column) =>
    column === 'weight_grams'
      ? `modify weight_grams integer ${nullness} check (weight_grams > 0)`
      : `modify ${column} text ${nullness}`,
  )
  await sql.raw(`alter table tracking_numbers ${columns.join(', ')}`).execute(db)
}

export async function up(db: Kysely<unknown>): Promise<void> {
  switch (dialectOf(db)) {
    case 'sqlite':
      return rebuildSqlite(db, true)
    case 'postgres':
      for (const column of OPTIONAL)
        await db.schema
          .alterTable('tracking_numbers')
          .alterColumn(column, (c) => c.dropNotNull())
          .execute()
      return
    case 'mysql':
      return modifyMysql(db, true)
  }
}

/** Back to required columns: only possible while every row has every field. */
export async function down(db: Kysely<unknown>): Promise<void> {
  switch (dialectOf(db)) {
    case 'sqlite':
      return rebuildSqlite(db, false)
    case 'postgres':
      for (const column of OPTIONAL)
        await db.schema
          .alterTable('tracking_numbers')
          .alterColumn(column, (c) => c.setNotNull())
          .execute()
      return
    case 'mysql':
      return modifyMysql(db, false)
  }
}
