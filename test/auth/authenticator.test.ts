import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { SignJWT } from 'jose'
import { createAuthenticator, isLater, type TokenState } from '../../src/auth/authenticator.js'
import { createAccessTokens, signingKeyFrom } from '../../src/auth/tokens.js'

// The authenticator alone, with the database replaced by a map the test controls, and the poll
// timer by mock timers: each poll happens exactly when the test says.

const key = signingKeyFrom('authenticator-test-key-0123456789abcdef0123456789')
const tokens = createAccessTokens(key, 3600)
const POLL_MS = 5_000
const USER = 7

const settle = () => new Promise((resolve) => setImmediate(resolve))

async function harness(t: TestContext, initial: Array<[number, TokenState]> = []) {
  t.mock.timers.enable({ apis: ['setInterval'] })
  const database = new Map(initial)
  let gate: Promise<void> = Promise.resolve()
  const authenticator = createAuthenticator({
    tokens,
    revocations: {
      revokedTokens: async () => [],
      // Reads at once, answers when the gate opens: a poll slower than what happens meanwhile.
      tokenStates: async () => {
        const read = new Map(database)
        await gate
        return read
      },
    },
    pollIntervalMs: POLL_MS,
    onPollError: (error) => assert.fail(String(error)),
  })
  await authenticator.start()
  t.after(() => authenticator.stop())

  /** Whether a token of this generation (or this token) is accepted. */
  async function accepts(token: number | string): Promise<boolean> {
    const jwt =
      typeof token === 'string'
        ? token
        : await tokens.sign({ id: USER, username: 'ops.jane', role: 'client', tokenGeneration: token })
    return authenticator.authenticate(`Bearer ${jwt}`).then(
      () => true,
      () => false,
    )
  }

  return {
    authenticator,
    database,
    accepts,
    /** One poll, answered when `release` is called (at once without it). */
    async poll(slow?: (release: () => void) => Promise<void>): Promise<void> {
      let release = () => {}
      gate = new Promise((resolve) => {
        release = resolve
      })
      t.mock.timers.tick(POLL_MS)
      if (slow) await slow(release)
      release()
      for (let i = 0; i < 5; i++) await settle()
    },
  }
}

/** A token from before the generation claim: `iat` (whole seconds) is all it has. */
function legacyToken(issuedAt: number): Promise<string> {
  return new SignJWT({ name: 'ops.jane', role: 'client', sid: 'sign-in-1' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('waybill')
    .setAudience('waybill')
    .setSubject(String(USER))
    .setJti(`legacy-${issuedAt}`)
    .setIssuedAt(issuedAt)
    .setExpirationTime('1h')
    .sign(key)
}

test('token states are ordered by generation, then a re-enable after its disable', () => {
  const s = (generation: number, disabled: boolean): TokenState => ({ generation, disabled })
  const chain = [s(0, false), s(100, true), s(100, false), s(101, true), s(101, false)]
  for (let i = 0; i < chain.length; i++) {
    for (let j = 0; j < chain.length; j++) {
      assert.equal(isLater(chain[i] as TokenState, chain[j] as TokenState), i > j, `${i} after ${j}`)
    }
  }
})

test('a disable and a re-enable made here apply at once: only the new generation works', async (t) => {
  const h = await harness(t)
  assert.equal(await h.accepts(0), true)
  h.authenticator.revoked({ userId: USER, generation: 100, disabled: true })
  assert.equal(await h.accepts(0), false)
  assert.equal(await h.accepts(100), false, 'nothing works while disabled')
  h.authenticator.revoked({ userId: USER, generation: 100, disabled: false })
  assert.equal(await h.accepts(100), true, 'a token issued after the re-enable')
  assert.equal(await h.accepts(0), false, 'a token issued before the disable')
  assert.equal(await h.accepts(101), false, 'a generation not reached')
})

test('a poll that read the database before a change made here does not undo it', async (t) => {
  const h = await harness(t, [[USER, { generation: 100, disabled: true }]])
  await h.poll(async () => {
    // The database is re-enabled while the poll's (older) answer is on its way.
    h.database.set(USER, { generation: 100, disabled: false })
    h.authenticator.revoked({ userId: USER, generation: 100, disabled: false })
  })
  assert.equal(await h.accepts(100), true)
  await h.poll()
  assert.equal(await h.accepts(100), true)
})

test('a later change read from the database wins over an older one made here', async (t) => {
  const h = await harness(t, [[USER, { generation: 100, disabled: true }]])
  h.database.set(USER, { generation: 100, disabled: false })
  h.authenticator.revoked({ userId: USER, generation: 100, disabled: false })
  // Another instance disables the user again before this one polls.
  h.database.set(USER, { generation: 200, disabled: true })
  await h.poll()
  assert.equal(await h.accepts(100), false)
  h.database.set(USER, { generation: 200, disabled: false })
  await h.poll()
  assert.equal(await h.accepts(200), true)
  assert.equal(await h.accepts(100), false)
})

test('tokens from before the generation claim are judged by their issue time, as before', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const h = await harness(t, [[USER, { generation: now * 1000, disabled: false }]])
  assert.equal(await h.accepts(await legacyToken(now)), false, 'issued in the second of the disable')
  assert.equal(await h.accepts(await legacyToken(now + 1)), true, 'issued in the next second')
})

test('a token claiming a generation its user never had is refused', async (t) => {
  const h = await harness(t)
  assert.equal(await h.accepts(0), true)
  assert.equal(await h.accepts(5), false)
})

test('spellings of one Authorization header share one cache entry; the cache is bounded in bytes', async (t) => {
  let verifications = 0
  const counting = {
    ...tokens,
    verify: (token: string) => {
      verifications++
      return tokens.verify(token)
    },
  }
  const authenticator = createAuthenticator({
    tokens: counting,
    revocations: { revokedTokens: async () => [], tokenStates: async () => new Map() },
    pollIntervalMs: 60_000,
    onPollError: (error) => assert.fail(String(error)),
    cacheLimits: { entries: 1_000, bytes: 64 * 1024 },
  })
  t.after(() => authenticator.stop())
  const jwt = await tokens.sign({ id: USER, username: 'ops.jane', role: 'client' })
  const spellings = [`Bearer ${jwt}`, `bearer ${jwt}`, `BEARER ${jwt}`]
  for (let i = 1; i <= 300; i++)
    spellings.push(`Bearer${' '.repeat(i)}${jwt}`, `Bearer ${jwt}${' '.repeat(i)}`)
  for (const header of spellings) {
    const verified = authenticator.known(header) ?? (await authenticator.authenticate(header))
    assert.equal(verified.principal.subject, `user:${USER}`)
  }
  assert.equal(verifications, 1)
  assert.equal(authenticator.cacheUsage().entries, 1)

  // Many different valid tokens: the oldest go, the bytes stay under the bound.
  for (let i = 0; i < 300; i++) {
    const other = await tokens.sign({ id: 100 + i, username: `user${i}`, role: 'client' })
    await authenticator.authenticate(`Bearer ${other}`)
    assert.ok(authenticator.cacheUsage().bytes <= 64 * 1024, `${authenticator.cacheUsage().bytes} bytes`)
  }
  assert.ok(authenticator.cacheUsage().entries < 300)
  assert.ok(authenticator.cacheUsage().entries > 10)
})

test('a token accepted before is refused at once by each kind of revocation, however it is looked up', async (t) => {
  const h = await harness(t)
  const connection = {}
  const lookups = (header: string) => [
    () => h.authenticator.authenticate(header),
    async () => h.authenticator.known(header),
    async () => h.authenticator.known(header, connection),
  ]
  const revocations: Array<[string, (jwt: string, generation: number) => Promise<void>]> = [
    ['its id', async (jwt) => h.authenticator.revoked({ jti: (await tokens.verify(jwt)).jti })],
    ['its sign-in', async (jwt) => h.authenticator.revoked({ sid: (await tokens.verify(jwt)).sid })],
    [
      'a disable',
      async (_jwt, generation) =>
        h.authenticator.revoked({ userId: USER, generation: generation + 1, disabled: true }),
    ],
    [
      'a disable read by a poll',
      async (_jwt, generation) => {
        h.database.set(USER, { generation: generation + 1, disabled: true })
        await h.poll()
      },
    ],
  ]
  for (const [what, revoke] of revocations) {
    // Re-enabled at a new generation, which new tokens carry.
    const generation = 500 + 10 * revocations.findIndex(([name]) => name === what)
    h.authenticator.revoked({ userId: USER, generation, disabled: false })
    h.database.set(USER, { generation, disabled: false })
    const jwt = await tokens.sign({
      id: USER,
      username: 'ops.jane',
      role: 'client',
      tokenGeneration: generation,
    })
    const header = `Bearer ${jwt}`
    for (let round = 0; round < 2; round++) {
      for (const lookup of lookups(header))
        assert.equal((await lookup())?.principal.subject, `user:${USER}`, what)
    }
    await revoke(jwt, generation)
    for (const lookup of lookups(header)) await assert.rejects(lookup(), /token/i, what)
  }
})

test('a connection sending its token again gets the cache entry, only while the cache holds it', async (t) => {
  const authenticator = createAuthenticator({
    tokens,
    revocations: { revokedTokens: async () => [], tokenStates: async () => new Map() },
    pollIntervalMs: 60_000,
    onPollError: (error) => assert.fail(String(error)),
    cacheLimits: { entries: 1, bytes: 64 * 1024 },
  })
  t.after(() => authenticator.stop())
  const first = `Bearer ${await tokens.sign({ id: 1, username: 'one', role: 'client' })}`
  const second = `bearer  ${await tokens.sign({ id: 2, username: 'two', role: 'admin' })}`
  const connection = {}
  assert.equal(authenticator.known(first, connection), undefined, 'never verified')
  await authenticator.authenticate(first)
  assert.equal(authenticator.known(first, connection)?.principal.subject, 'user:1')
  assert.equal(authenticator.known(first, connection)?.principal.subject, 'user:1')
  // Another client's token pushes the first out of the cache: verified again, even on this connection.
  await authenticator.authenticate(second)
  assert.equal(authenticator.known(first, connection), undefined, 'dropped from the cache')
  // Another token on the same connection is its own lookup.
  assert.equal(authenticator.known(second, connection)?.principal.subject, 'user:2')
  await authenticator.authenticate(first)
  assert.equal(authenticator.known(first, connection)?.principal.subject, 'user:1')
  assert.equal(authenticator.known(second, connection), undefined)
  assert.throws(() => authenticator.known('Basic abc', connection), /token/i)
})
