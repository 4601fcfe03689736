import { type Kysely, sql } from 'kysely'
import { createTable, dialectOf, keyText } from './dialect.js'

export async function up(db: Kysely<unknown>): Promise<void> {
  const dialect = dialectOf(db)

  await createTable(db, 'users')
    .addColumn('id', 'integer', (c) =>
      dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
    )
    .addColumn('username', keyText(db, 200), (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('client', 'operator', 'admin')`))
    // 0 or 1: one type that both dialects compare the same way.
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    // Access tokens issued before this instant are refused, even after the user is enabled again.
    .addColumn('tokens_valid_after', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()

  // Refresh tokens are opaque random strings; only their SHA-256 is stored. Every rotation adds a
  // row to the same family; presenting a used token again revokes the whole family.
  await createTable(db, 'refresh_tokens')
    .addColumn('token_hash', keyText(db, 128), (c) => c.primaryKey())
    .addColumn('family_id', keyText(db, 128), (c) => c.notNull())
    // MySQL ignores a REFERENCES clause on a column: there the key is the table's.
    .addColumn('user_id', 'integer', (c) =>
      dialect === 'mysql' ? c.notNull() : c.notNull().references('users.id'),
    )
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .addColumn('revoked_at', 'text')
    .$call((t) =>
      dialect === 'mysql'
        ? t.addForeignKeyConstraint('refresh_tokens_user_id', ['user_id'], 'users', ['id'])
        : t,
    )
    .execute()
  await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute()
  await db.schema.createIndex('refresh_tokens_user').on('refresh_tokens').column('user_id').execute()

  // Access tokens revoked before they expire: by token (`jti`) or by sign-in (`sid:<family>`, every
  // access token of a sign-in whose refresh token was spent twice or signed out). Polled by every
  // instance.
  await createTable(db, 'revoked_tokens')
    .addColumn('token_id', keyText(db, 200), (c) => c.primaryKey())
    .addColumn('expires_at', keyText(db, 40), (c) => c.notNull())
    .execute()
  await db.schema.createIndex('revoked_tokens_expires_at').on('revoked_tokens').column('expires_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['revoked_tokens', 'refresh_tokens', 'users']) {
    await db.schema.dropTable(table).execute()
  }
}
