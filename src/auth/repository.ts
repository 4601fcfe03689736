import type { ExpressionBuilder, Selectable } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import { isUniqueViolation } from '../db/errors.js'
import type { Database, Tables } from '../db/index.js'
import type { UsersTable } from '../db/schema.js'
import { AppError } from '../http/errors.js'
import type { TokenState } from './authenticator.js'
import type { Role } from './roles.js'
import { revokedSignIn } from './tokens.js'

export interface User {
  id: number
  username: string
  role: Role
  disabled: boolean
  created_at: string
  updated_at: string
}

/** A user as signing in needs them: with the password hash and the generation of their tokens. */
export type Account = User & { password_hash: string; tokenGeneration: number }

export type RotateOutcome =
  /** `user` carries the generation of the sign-in, which the new pair belongs to. */
  | { kind: 'rotated'; user: Account; familyId: string }
  /** The token was already used: someone holds a copy. Its whole family is now revoked. */
  | { kind: 'reused'; familyId: string }
  | { kind: 'invalid' }

const USER_COLUMNS = ['id', 'username', 'role', 'disabled', 'created_at', 'updated_at'] as const

function toUser<T extends { disabled: number }>(
  row: T,
): Omit<T, 'disabled' | 'tokens_valid_after'> & { disabled: boolean } {
  const { tokens_valid_after: _, ...user } = row as T & { tokens_valid_after?: unknown }
  return { ...user, disabled: row.disabled === 1 }
}

/**
 * `tokens_valid_after` holds the instant of the user's last disable: that is their token
 * generation (TokenState), in ms; null (never disabled) is generation 0.
 */
function generationOf(tokensValidAfter: string | null): number {
  return tokensValidAfter === null ? 0 : Date.parse(tokensValidAfter)
}

/** The inverse of generationOf: how `tokens_valid_after` (and a refresh token's) stores it. */
function storedGeneration(generation: number): string | null {
  return generation === 0 ? null : new Date(generation).toISOString()
}

function toAccount(row: Selectable<UsersTable>): Account {
  return { ...toUser(row), tokenGeneration: generationOf(row.tokens_valid_after) }
}

export type SetDisabledOutcome =
  | { kind: 'updated'; user: User; tokens: TokenState }
  | { kind: 'not_found' }
  /** Refused: the user is the last enabled admin (only when asked to keep one). */
  | { kind: 'last_admin' }

/** Revokes a token id (`jti`, or `sid:<family>` for a whole sign-in) until `until`. */
async function revoke(db: Database, tokenId: string, until: string): Promise<void> {
  const insert = db.insertInto('revoked_tokens').values({ token_id: tokenId, expires_at: until })
  // MySQL has no ON CONFLICT: INSERT IGNORE skips a token id revoked already.
  await (dialectOf(db) === 'mysql'
    ? insert.ignore()
    : insert.onConflict((oc) => oc.column('token_id').doNothing())
  ).execute()
}

/**
 * Ends a sign-in: its refresh tokens are revoked, and its access tokens until the longest of them
 * has expired.
 */
async function endSignIn(db: Database, familyId: string, now: string, accessExpiry: string): Promise<void> {
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute()
  await revoke(db, revokedSignIn(familyId), accessExpiry)
}

export function createAuthRepository(db: Database) {
  // MySQL and MariaDB have no RETURNING: rows are read back, under the locks the write took.
  const mysql = dialectOf(db) === 'mysql'
  return {
    async insertUser(user: {
      username: string
      passwordHash: string
      role: Role
      now: string
    }): Promise<User> {
      try {
        const insert = db.insertInto('users').values({
          username: user.username,
          password_hash: user.passwordHash,
          role: user.role,
          disabled: 0,
          created_at: user.now,
          updated_at: user.now,
        })
        if (mysql) {
          // No RETURNING on MySQL: the row is read back by the id the insert reports.
          const { insertId } = await insert.executeTakeFirstOrThrow()
          const row = await db
            .selectFrom('users')
            .select(USER_COLUMNS)
            .where('id', '=', Number(insertId))
            .executeTakeFirstOrThrow()
          return toUser(row)
        }
        return toUser(await insert.returning(USER_COLUMNS).executeTakeFirstOrThrow())
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new AppError('validation_failed', 'The request is invalid', {
            username: ['is already taken'],
          })
        }
        throw error
      }
    },

    async findUserByUsername(username: string): Promise<Account | undefined> {
      const row = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
      return row && toAccount(row)
    },

    /** Whether any user exists, disabled ones too: the first run creates one only when none does. */
    async hasUsers(): Promise<boolean> {
      const row = await db.selectFrom('users').select('id').limit(1).executeTakeFirst()
      return row !== undefined
    },

    async listUsers(): Promise<User[]> {
      const rows = await db.selectFrom('users').select(USER_COLUMNS).orderBy('username').execute()
      return rows.map(toUser)
    },

    /**
     * Disables or enables a user. Disabling starts a new token generation (so every access token
     * issued so far stops working, for good) and revokes every refresh token the user holds.
     * With `keepAnAdmin`, disabling the last enabled admin is refused.
     */
    async setDisabled(
      username: string,
      disabled: boolean,
      now: string,
      options: { keepAnAdmin?: boolean } = {},
    ): Promise<SetDisabledOutcome> {
      return db.transaction().execute(async (trx): Promise<SetDisabledOutcome> => {
        const guard = disabled && options.keepAnAdmin === true
        // A write that changes nothing, first: it locks the user's row (and, when guarding, every
        // enabled admin's), so a concurrent disable waits for this transaction and then sees its
        // outcome; on SQLite the transaction holds the write lock from here.
        const lockedColumns = ['username', 'role', 'disabled', 'tokens_valid_after'] as const
        const which = (eb: ExpressionBuilder<Tables, 'users'>) =>
          guard
            ? eb.or([
                eb('username', '=', username),
                eb.and([eb('role', '=', 'admin'), eb('disabled', '=', 0)]),
              ])
            : eb('username', '=', username)
        // On MySQL a locking read (FOR UPDATE) takes the same row locks; it has no RETURNING.
        const locked = mysql
          ? await trx.selectFrom('users').select(lockedColumns).where(which).forUpdate().execute()
          : await trx
              .updateTable('users')
              .set((eb) => ({ disabled: eb.ref('disabled') }))
              .where(which)
              .returning(lockedColumns)
              .execute()
        const before = locked.find((r) => r.username === username)
        if (!before) return { kind: 'not_found' }
        const enabledAdmins = locked.filter((r) => r.role === 'admin' && r.disabled === 0)
        if (guard && before.role === 'admin' && before.disabled === 0 && enabledAdmins.length === 1) {
          return { kind: 'last_admin' }
        }
        // Strictly increasing even if clocks disagree or two disables share a millisecond.
        const previous = generationOf(before.tokens_valid_after)
        const generation = disabled ? Math.max(Date.parse(now), previous + 1) : previous
        const update = trx
          .updateTable('users')
          .set(
            disabled
              ? { disabled: 1, tokens_valid_after: storedGeneration(generation), updated_at: now }
              : { disabled: 0, updated_at: now },
          )
          .where('username', '=', username)
        const row = mysql
          ? await update
              .execute()
              .then(() =>
                trx
                  .selectFrom('users')
                  .select(USER_COLUMNS)
                  .where('username', '=', username)
                  .executeTakeFirstOrThrow(),
              )
          : await update.returning(USER_COLUMNS).executeTakeFirstOrThrow()
        if (disabled) {
          await trx
            .updateTable('refresh_tokens')
            .set({ revoked_at: now })
            .where('user_id', '=', row.id)
            .where('revoked_at', 'is', null)
            .execute()
        }
        return { kind: 'updated', user: toUser(row), tokens: { generation, disabled } }
      })
    },

    /** The token state of every user who was ever disabled. */
    async tokenStates(): Promise<Map<number, TokenState>> {
      const rows = await db
        .selectFrom('users')
        .select(['id', 'disabled', 'tokens_valid_after'])
        .where((eb) => eb.or([eb('disabled', '=', 1), eb('tokens_valid_after', 'is not', null)]))
        .execute()
      return new Map(
        rows.map((r) => [
          r.id,
          { generation: generationOf(r.tokens_valid_after), disabled: r.disabled === 1 },
        ]),
      )
    },

    /**
     * Stores the refresh token of a new sign-in, in the token generation the user was read in:
     * if they have been disabled since, it is stored all the same, and never usable.
     */
    async insertRefreshToken(token: {
      hash: string
      familyId: string
      userId: number
      generation: number
      now: string
      expiresAt: string
    }): Promise<void> {
      await db
        .insertInto('refresh_tokens')
        .values({
          token_hash: token.hash,
          family_id: token.familyId,
          user_id: token.userId,
          generation: storedGeneration(token.generation),
          created_at: token.now,
          expires_at: token.expiresAt,
        })
        .execute()
    },

    /**
     * Marks the presented token used and stores its successor, in one transaction. The first
     * statement is the conditional UPDATE, so of two concurrent uses exactly one wins (and on
     * SQLite the transaction holds the write lock from its start). It only matches a token whose
     * user is enabled in the token's generation: a disable may have missed revoking a token
     * stored concurrently, but its new generation leaves the token unusable, with no effect.
     * The successor, and the access token, belong to the same generation: a disable landing
     * during the rotation leaves them unusable too.
     */
    async rotateRefreshToken(
      hash: string,
      next: { hash: string; expiresAt: string },
      now: string,
      /** Until when the sign-in's access tokens stay revoked if this is a reuse. */
      accessExpiry: string,
    ): Promise<RotateOutcome> {
      const outcome = await db.transaction().execute(async (trx): Promise<RotateOutcome> => {
        const use = trx
          .updateTable('refresh_tokens')
          .set({ used_at: now })
          .where('token_hash', '=', hash)
          .where('used_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', now)
          .where(({ exists, selectFrom }) =>
            exists(
              selectFrom('users')
                .select('users.id')
                .whereRef('users.id', '=', 'refresh_tokens.user_id')
                .where('users.disabled', '=', 0)
                .where((eb) =>
                  eb(
                    'users.tokens_valid_after',
                    mysql ? '<=>' : 'is not distinct from',
                    eb.ref('refresh_tokens.generation'),
                  ),
                ),
            ),
          )
        const usedColumns = ['family_id', 'user_id', 'generation'] as const
        // MySQL: the UPDATE's count (matched rows: mysql2 asks for found rows), then the row it locked.
        const used = mysql
          ? Number((await use.executeTakeFirst()).numUpdatedRows) === 1
            ? await trx
                .selectFrom('refresh_tokens')
                .select(usedColumns)
                .where('token_hash', '=', hash)
                .executeTakeFirst()
            : undefined
          : await use.returning(usedColumns).executeTakeFirst()
        if (!used) {
          const known = await trx
            .selectFrom('refresh_tokens')
            .select(['family_id', 'used_at'])
            .where('token_hash', '=', hash)
            .executeTakeFirst()
          if (!known?.used_at) return { kind: 'invalid' }
          await endSignIn(trx, known.family_id, now, accessExpiry)
          return { kind: 'reused', familyId: known.family_id }
        }
        const user = await trx
          .selectFrom('users')
          .selectAll()
          .where('id', '=', used.user_id)
          .executeTakeFirstOrThrow()
        await trx
          .insertInto('refresh_tokens')
          .values({
            token_hash: next.hash,
            family_id: used.family_id,
            user_id: used.user_id,
            generation: used.generation,
            created_at: now,
            expires_at: next.expiresAt,
          })
          .execute()
        const account = { ...toAccount(user), tokenGeneration: generationOf(used.generation) }
        return { kind: 'rotated', user: account, familyId: used.family_id }
      })
      return outcome
    },

    /**
     * Sign-out: the refresh token's whole family stops working, and every access token of the
     * sign-in; and `access`, an access token sent along, if it belongs to another sign-in. Returns
     * the family; for an unknown token, undefined, and nothing is revoked.
     */
    async signOut(
      hash: string,
      now: string,
      accessExpiry: string,
      access?: { jti: string; sid: string; expiresAt: string },
    ): Promise<string | undefined> {
      return db.transaction().execute(async (trx) => {
        const revoking = trx
          .updateTable('refresh_tokens')
          .set({ revoked_at: now })
          .where('token_hash', '=', hash)
        const row = mysql
          ? Number((await revoking.executeTakeFirst()).numUpdatedRows) === 1
            ? await trx
                .selectFrom('refresh_tokens')
                .select('family_id')
                .where('token_hash', '=', hash)
                .executeTakeFirst()
            : undefined
          : await revoking.returning('family_id').executeTakeFirst()
        if (!row) return undefined
        await endSignIn(trx, row.family_id, now, accessExpiry)
        if (access && access.sid !== row.family_id) await revoke(trx, access.jti, access.expiresAt)
        return row.family_id
      })
    },

    async revokedTokens(now: string): Promise<string[]> {
      const rows = await db
        .selectFrom('revoked_tokens')
        .select('token_id')
        .where('expires_at', '>', now)
        .execute()
      return rows.map((r) => r.token_id)
    },

    /** Removes what can no longer matter: expired refresh tokens and revocations of expired tokens. */
    async deleteExpired(now: string): Promise<void> {
      await db.deleteFrom('refresh_tokens').where('expires_at', '<=', now).execute()
      await db.deleteFrom('revoked_tokens').where('expires_at', '<=', now).execute()
    },
  }
}
export type AuthRepository = ReturnType<typeof createAuthRepository>
