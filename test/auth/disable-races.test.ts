import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { sql } from 'kysely'
import pg from 'pg'
import { createAuthRepository } from '../../src/auth/repository.js'
import { createAuthService } from '../../src/auth/service.js'
import { createAccessTokens, hashRefreshToken, signingKeyFrom } from '../../src/auth/tokens.js'
import type { Database } from '../../src/db/index.js'
import { dialect, migratedDatabase, TEST_SECRET_KEY, testDatabaseUrl } from '../helpers/build.js'

// A sign-in or a refresh that overlaps a disable, in the racing order, made deterministic: the
// disable lands after the request has read the user and before it stores its refresh token.

const PASSWORD = 'correct horse battery staple'
const USERNAME = 'ops.jane'

async function auth(db: Database) {
  const repository = createAuthRepository(db)
  const tokens = createAccessTokens(signingKeyFrom(TEST_SECRET_KEY), 900)
  const service = createAuthService({ repository, tokens, refreshTtlSeconds: 3600 })
  await service.createUser(USERNAME, PASSWORD, 'operator')
  return { repository, tokens, service }
}

const refused = { name: 'AppError', code: 'unauthorized' }

async function storedRefreshToken(db: Database, token: string) {
  return db
    .selectFrom('refresh_tokens')
    .select(['revoked_at'])
    .where('token_hash', '=', hashRefreshToken(token))
    .executeTakeFirstOrThrow()
}

test('a sign-in that read the user before a disable keeps no refresh token past it', async (t) => {
  const db = await migratedDatabase(t)
  const { repository, tokens, service } = await auth(db)
  // The admin's disable lands while this sign-in is checking the password it has just read.
  const racing = createAuthService({
    repository: {
      ...repository,
      async findUserByUsername(username) {
        const user = await repository.findUserByUsername(username)
        await service.setDisabled(username, true)
        return user
      },
    },
    tokens,
    refreshTtlSeconds: 3600,
  })
  const late = await racing.login(USERNAME, PASSWORD)
  assert.equal((await storedRefreshToken(db, late.refresh)).revoked_at, null, 'stored after the disable')

  await service.setDisabled(USERNAME, false)
  await assert.rejects(service.refresh(late.refresh), refused, 'the disable revoked it for good')
  // And the re-enabled user's new sign-in works, refresh included.
  const fresh = await service.login(USERNAME, PASSWORD)
  await service.refresh(fresh.refresh)
})

/** Waits until `count` sessions of the test database are waiting for a lock. */
async function lockWaiters(client: pg.Client, count: number): Promise<void> {
  const deadline = performance.now() + 10_000
  for (;;) {
    const { rows } = await client.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
       where datname = current_database() and wait_event_type = 'Lock'`,
    )
    if (rows[0]?.n === count) return
    if (performance.now() > deadline) assert.fail(`expected ${count} sessions waiting, saw ${rows[0]?.n}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// PostgreSQL only (it runs in the PostgreSQL pass, which CI requires): SQLite runs one write
// transaction at a time, so a refresh and a disable cannot interleave there.
if (dialect === 'postgres')
  test('a refresh that read the user before a disable stores no successor that outlives it', async (t: TestContext) => {
    const url = await testDatabaseUrl(t)
    const db = await migratedDatabase(t, url)
    const { service } = await auth(db)
    const signIn = await service.login(USERNAME, PASSWORD)

    // The refresh pauses as it inserts the successor (it has read the user), until the gate opens.
    const gate = new pg.Client({ connectionString: url })
    await gate.connect()
    t.after(() => gate.end())
    await sql`create function pause_refresh_insert() returns trigger language plpgsql as $$
      begin perform pg_advisory_xact_lock(4242); return new; end $$`.execute(db)
    await sql`create trigger pause_refresh_insert before insert on refresh_tokens
      for each row execute function pause_refresh_insert()`.execute(db)
    await gate.query('select pg_advisory_lock(4242)')

    const refreshing = service.refresh(signIn.refresh)
    refreshing.catch(() => {}) // awaited below
    await lockWaiters(gate, 1)
    // The disable marks the user, then waits for the refresh's lock on the token it is using.
    const disabling = service.setDisabled(USERNAME, true)
    disabling.catch(() => {})
    await lockWaiters(gate, 2)
    await gate.query('select pg_advisory_unlock(4242)')
    const successor = await refreshing
    await disabling
    await sql`drop trigger pause_refresh_insert on refresh_tokens`.execute(db)
    assert.equal(
      (await storedRefreshToken(db, successor.refresh)).revoked_at,
      null,
      'the disable did not see the successor, committed after it began',
    )

    await service.setDisabled(USERNAME, false)
    await assert.rejects(service.refresh(successor.refresh), refused, 'the disable revoked it for good')
    const fresh = await service.login(USERNAME, PASSWORD)
    await service.refresh(fresh.refresh)
  })
