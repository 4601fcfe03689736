import { type Kysely, sql } from 'kysely'
import { createTable, dialectOf, keyText } from './dialect.js'

export async function up(db: Kysely<unknown>): Promise<void> {
  const dialect = dialectOf(db)
  await createTable(db, 'orders')
    .addColumn('id', 'integer', (c) =>
      dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
    )
    // No cascade: a customer with orders cannot be deleted (the service says so first).
    // MySQL ignores a REFERENCES clause on a column: there the key is the table's.
    .addColumn('customer_id', 'integer', (c) =>
      dialect === 'mysql' ? c.notNull() : c.notNull().references('customers.id').onDelete('restrict'),
    )
    // Up to 200 characters (the API's limit); on MySQL a VARCHAR, which an index can hold whole.
    .addColumn('item', keyText(db, 200), (c) => c.notNull())
    // Minor units (cents): exact, never a float.
    .addColumn('amount_minor', 'bigint', (c) => c.notNull().check(sql`amount_minor >= 0`))
    .addColumn('origin_country', 'text')
    .addColumn('destination_country', 'text')
    .addColumn('weight_grams', 'integer')
    // From the same counter and codec as every tracking number: unique by construction; the
    // unique index also serves the lookup by number.
    .addColumn('tracking_sequence', 'bigint', (c) => c.notNull().unique())
    .addColumn('tracking_number', keyText(db, 64), (c) => c.notNull().unique())
    .addColumn('status', keyText(db, 16), (c) =>
      c.notNull().check(sql`status in ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED')`),
    )
    .addColumn('order_time', keyText(db, 40), (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .$call((t) =>
      dialect === 'mysql'
        ? t.addForeignKeyConstraint('orders_customer_id', ['customer_id'], 'customers', ['id'], (fk) =>
            fk.onDelete('restrict'),
          )
        : t,
    )
    .execute()

  // Lists are newest first, filtered by date range, status and customer: each filter has an index
  // whose order is the list's order, so a page reads only its own rows.
  await db.schema.createIndex('orders_order_time').on('orders').columns(['order_time', 'id']).execute()
  await db.schema
    .createIndex('orders_status_order_time')
    .on('orders')
    .columns(['status', 'order_time', 'id'])
    .execute()
  await db.schema
    .createIndex('orders_customer_order_time')
    .on('orders')
    .columns(['customer_id', 'order_time', 'id'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('orders').execute()
}
