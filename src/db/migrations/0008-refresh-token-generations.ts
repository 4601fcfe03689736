import { type Kysely, sql } from 'kysely'

// A refresh token belongs to the token generation of its sign-in (users.tokens_valid_after as it
// was when the user signed in; null: never disabled) and is usable only while its user is enabled
// in that generation. A disable's revocation of refresh tokens can miss one stored concurrently
// (by a sign-in or a refresh that read the user just before); the generation cannot.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('refresh_tokens').addColumn('generation', 'text').execute()
  // The tokens of today stay usable: they belong to their user's current generation.
  await sql`update refresh_tokens set generation =
    (select tokens_valid_after from users where users.id = refresh_tokens.user_id)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('refresh_tokens').dropColumn('generation').execute()
}
