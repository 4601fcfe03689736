import { type Kysely, SqliteAdapter, sql } from 'kysely'
import { dialectOf } from './dialect.js'

// Substring search over order items (GET /api/orders/search/?q=) with an index: a LIKE '%term%'
// that no b-tree serves took about a second over a million orders. Trigrams serve it on both
// databases: SQLite's FTS5 trigram tokenizer (an external-content table kept by triggers), and
// PostgreSQL's pg_trgm (a trusted extension: the database owner may create it). MySQL and
// MariaDB: a plain index on item, which a search reads whole instead of the table (MariaDB has no
// ngram parser; MySQL 8's ngram FULLTEXT is not used yet: docs/databases.md says why and what it
// needs, and has the fallback's measured cost).
export async function up(db: Kysely<unknown>): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    await sql`create index orders_item on orders (item)`.execute(db)
    return
  }
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await sql`create virtual table orders_item_search using fts5(item, content='orders', content_rowid='id', tokenize='trigram')`.execute(
      db,
    )
    await sql`insert into orders_item_search (rowid, item) select id, item from orders`.execute(db)
    await sql`create trigger orders_item_search_insert after insert on orders begin
      insert into orders_item_search (rowid, item) values (new.id, new.item);
    end`.execute(db)
    await sql`create trigger orders_item_search_delete after delete on orders begin
      insert into orders_item_search (orders_item_search, rowid, item) values ('delete', old.id, old.item);
    end`.execute(db)
    await sql`create trigger orders_item_search_update after update of item on orders begin
      insert into orders_item_search (orders_item_search, rowid, item) values ('delete', old.id, old.item);
      insert into orders_item_search (rowid, item) values (new.id, new.item);
    end`.execute(db)
    return
  }
  await sql`create extension if not exists pg_trgm`.execute(db)
  // The extension lives in one schema per database, maybe not this connection's: name it.
  const { rows } = await sql<{ schema: string }>`
    select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pg_trgm'`.execute(db)
  const schema = rows[0]?.schema
  if (!schema) throw new Error('pg_trgm is not installed')
  await sql`create index orders_item_trigrams on orders using gin (lower(item) ${sql.id(schema)}.gin_trgm_ops)`.execute(
    db,
  )
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    await sql`drop index orders_item on orders`.execute(db)
    return
  }
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    for (const trigger of ['insert', 'delete', 'update']) {
      await sql.raw(`drop trigger orders_item_search_${trigger}`).execute(db)
    }
    await sql`drop table orders_item_search`.execute(db)
    return
  }
  await sql`drop index orders_item_trigrams`.execute(db)
}
