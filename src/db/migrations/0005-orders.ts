import { type Kysely, SqliteAdapter, sql } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  await db.schema
    .createTable('orders')
    .addColumn('id', 'integer', (c) =>
      sqlite ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity(),
    )
    // No cascade: a customer with orders cannot be deleted (the service says so first).
    .addColumn('customer_id', 'integer', (c) => c.notNull().references('customers.id').onDelete('restrict'))
    .addColumn('item', 'text', (c) => c.notNull())
    // Minor units (cents): exact, never a float.
    .addColumn('amount_minor', 'bigint', (c) => c.notNull().check(sql`amount_minor >= 0`))
    .addColumn('origin_country', 'text')
    .addColumn('destination_country', 'text')
    .addColumn('weight_grams', 'integer')
    // From the same counter and codec as every tracking number: unique by construction; the
    // unique index also serves the lookup by number.
    .addColumn('tracking_sequence', 'bigint', (c) => c.notNull().unique())
    .addColumn('tracking_number', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED')`),
    )
    .addColumn('order_time', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
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
