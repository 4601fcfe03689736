import type { Kysely } from 'kysely'
import { createTable, dialectOf, keyText } from './dialect.js'

// Customers of the shop or carrier. code and phone_number are unique: the service names the
// field from these constraints when a create or an update collides with another customer.
export async function up(db: Kysely<unknown>): Promise<void> {
  // As users.id: SQLite's AUTOINCREMENT never reuses the id of a deleted row (ids are shown in
  // the API); PostgreSQL gets an identity column.
  await createTable(db, 'customers')
    .addColumn('id', 'integer', (c) =>
      dialectOf(db) === 'postgres'
        ? c.primaryKey().generatedByDefaultAsIdentity()
        : c.primaryKey().autoIncrement(),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('code', keyText(db, 200), (c) => c.notNull().unique())
    // E.164, e.g. +254722000000: one spelling per number, so the unique constraint holds.
    .addColumn('phone_number', keyText(db, 64), (c) => c.notNull().unique())
    .addColumn('email', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('customers').execute()
}
