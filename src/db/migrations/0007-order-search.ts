import { type Kysely, SqliteAdapter, sql } from 'kysely'
import { dialectOf } from './dialect.js'

// Substring search over order items (GET /api/orders/search/?q=) with an index: a LIKE '%term%'
// that no b-tree serves took about a second over a million orders. Trigrams serve it on both
// databases: SQLite's FTS5 trigram tokenizer (an external-content table kept by triggers), and
// PostgreSQL's pg_trgm (a trusted extension: the database owner may create it). MySQL 8: a
// FULLTEXT index with its ngram parser. MariaDB has no ngram parser: a plain index on item, which
// a search reads whole instead of the table (docs/databases.md has its measured cost).
export async function up(db: Kysely<unknown>): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    const { rows } = await sql<{ version: string }>`select version() as version`.execute(db)
    if (/mariadb/i.test(rows[0]?.version ?? '')) {
      await sql`create index orders_item on orders (item)`.execute(db)
    } else {
      // With the default stopword list the ngram parser drops every piece that contains a
      // stopword ('a', 'i', …): most two-letter pieces. The setting applies when the index is built.
      await sql`set session innodb_ft_enable_stopword = 0`.execute(db)
      await sql`create fulltext index orders_item_ngrams on orders (item) with parser ngram`.execute(db)
    }
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
    const { rows } = await sql<{ name: string }>`
      select index_name as name from information_schema.statistics
      where table_schema = database() and table_name = 'orders' and index_name in ('orders_item', 'orders_item_ngrams')`.execute(
      db,
    )
    for (const { name } of rows) await sql`drop index ${sql.id(name)} on orders`.execute(db)
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
