import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { buildApp } from '../../src/app.js'
import { createAuth } from '../../src/auth/index.js'
import type { Role } from '../../src/auth/roles.js'
import { loadConfig } from '../../src/config.js'
import { build, openDatabase, type TestApp, testEnv, tokenFor } from '../helpers/build.js'

const PASSWORD = 'correct horse battery staple'
const asBearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function createUser(app: TestApp, username: string, role: Role = 'operator') {
  const res = await app.inject({
    method: 'POST',
    url: '/api/users/',
    headers: asBearer(await tokenFor('admin')),
    payload: { username, password: PASSWORD, role },
  })
  assert.equal(res.statusCode, 201, res.body)
}

async function login(app: TestApp, username: string): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/token/',
    payload: { username, password: PASSWORD },
  })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().access
}

async function setDisabled(app: TestApp, username: string, disabled: boolean) {
  return app.inject({
    method: 'PATCH',
    url: `/api/users/${username}/`,
    headers: asBearer(await tokenFor('admin')),
    payload: { disabled },
  })
}

async function me(app: TestApp, access: string): Promise<number> {
  return (await app.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode
}

/** Polls `me` until it answers `expected` or the other instance's poll (5 s) has surely run. */
async function meEventually(app: TestApp, access: string, expected: number): Promise<number> {
  // performance.now(), not Date.now(): some tests stop the Date clock.
  const deadline = performance.now() + 8_000
  let status = await me(app, access)
  while (status !== expected && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    status = await me(app, access)
  }
  return status
}

async function secondInstance(t: TestContext, app: TestApp): Promise<TestApp> {
  const other = await buildApp(loadConfig(testEnv(app.databaseUrl)))
  t.after(() => other.close())
  await other.ready()
  return Object.assign(other, { databaseUrl: app.databaseUrl })
}

/** Stops the clock (Date only; timers still run) at the middle of a second, like a fast admin. */
function freezeClock(t: TestContext): void {
  t.mock.timers.enable({ apis: ['Date'], now: (Math.floor(Date.now() / 1000) + 1) * 1000 + 500 })
}

test('a re-enabled user signs in and the new token works at once, in the same millisecond even', async (t) => {
  const app = await build(t, {}, { as: null })
  await createUser(app, 'ops.jane')
  const before = await login(app, 'ops.jane')
  freezeClock(t)
  assert.equal((await setDisabled(app, 'ops.jane', true)).statusCode, 200)
  const during = await login(app, 'ops.jane').catch(() => undefined)
  assert.equal(during, undefined, 'no login while disabled')
  assert.equal((await setDisabled(app, 'ops.jane', false)).statusCode, 200)
  const after = await login(app, 'ops.jane')
  assert.equal(await me(app, after), 200, 'the token issued after the re-enable')
  assert.equal(await me(app, before), 401, 'the token issued before the disable')
})

test('another instance accepts the re-enabled user new token after its poll, the old never', async (t) => {
  const app = await build(t, {}, { as: null })
  await createUser(app, 'ops.jane')
  const other = await secondInstance(t, app)
  const before = await login(app, 'ops.jane')
  assert.equal(await me(other, before), 200)
  freezeClock(t)
  await setDisabled(app, 'ops.jane', true)
  await setDisabled(app, 'ops.jane', false)
  // Issued in the same second as the disable (and in the same millisecond): no precision trap.
  const after = await login(app, 'ops.jane')
  assert.equal(await me(app, after), 200)
  assert.equal(await meEventually(other, before, 401), 401, 'the other instance learns of the disable')
  assert.equal(await meEventually(other, after, 200), 200, 'and then of the re-enable')
  assert.equal(await me(other, before), 401)
})

test('a token issued between a disable and a later disable is refused; the newest works', async (t) => {
  const app = await build(t, {}, { as: null })
  await createUser(app, 'ops.jane')
  freezeClock(t)
  const tokens: string[] = []
  for (let round = 0; round < 3; round++) {
    tokens.push(await login(app, 'ops.jane'))
    await setDisabled(app, 'ops.jane', true)
    await setDisabled(app, 'ops.jane', false)
  }
  const newest = await login(app, 'ops.jane')
  for (const token of tokens) assert.equal(await me(app, token), 401)
  assert.equal(await me(app, newest), 200)
  // A fresh instance reads the same answer from the database.
  const other = await secondInstance(t, app)
  for (const token of tokens) assert.equal(await me(other, token), 401)
  assert.equal(await me(other, newest), 200)
})

test('the API refuses to disable the last enabled admin: 409 in the envelope, nothing changed', async (t) => {
  const app = await build(t, {}, { as: null })
  await createUser(app, 'root', 'admin')
  await createUser(app, 'ops.jane', 'operator')
  const rootToken = await login(app, 'root')
  const refused = await app.inject({
    method: 'PATCH',
    url: '/api/users/root/',
    headers: asBearer(rootToken),
    payload: { disabled: true },
  })
  assert.equal(refused.statusCode, 409, refused.body)
  assert.equal(refused.json().code, 'conflict')
  assert.match(refused.json().error, /last enabled admin/)
  assert.deepEqual(refused.json().details, { disabled: ['root is the last enabled admin'] })
  assert.ok(refused.json().correlation_id)
  assert.equal(await me(app, rootToken), 200, 'still signed in')
  const list = await app.inject({ url: '/api/users/', headers: asBearer(rootToken) })
  assert.equal(list.json().results.find((u: { username: string }) => u.username === 'root').disabled, false)

  // Other users, and an admin who is not the last one, may still be disabled.
  assert.equal((await setDisabled(app, 'ops.jane', true)).statusCode, 200)
  await createUser(app, 'second', 'admin')
  assert.equal((await setDisabled(app, 'root', true)).statusCode, 200)
  assert.equal((await setDisabled(app, 'second', true)).statusCode, 409, 'now second is the last')
  assert.equal((await setDisabled(app, 'root', false)).statusCode, 200)
  assert.equal((await setDisabled(app, 'second', true)).statusCode, 200)
  assert.equal((await setDisabled(app, 'second', true)).statusCode, 200, 'disabling again is harmless')
})

test('concurrent requests to disable every admin leave exactly one enabled', async (t) => {
  const app = await build(t, {}, { as: null })
  const admins = ['admin.a', 'admin.b', 'admin.c', 'admin.d', 'admin.e']
  for (const name of admins) await createUser(app, name, 'admin')
  const other = await secondInstance(t, app)
  // Both instances at once: on PostgreSQL these are truly concurrent transactions.
  const results = await Promise.all(admins.map((name, i) => setDisabled(i % 2 ? other : app, name, true)))
  assert.deepEqual(
    results.map((r) => r.statusCode).sort(),
    [200, 200, 200, 200, 409],
    results.map((r) => r.body).join('\n'),
  )
  const list = await app.inject({ url: '/api/users/', headers: asBearer(await tokenFor('admin')) })
  const enabled = list.json().results.filter((u: { disabled: boolean }) => !u.disabled)
  assert.equal(enabled.length, 1)
})

test('the CLI (the service without the API guard) may disable the last admin', async (t) => {
  const app = await build(t, {}, { as: null })
  await createUser(app, 'root', 'admin')
  const log = { warn: () => {} }
  const auth = await createAuth({
    db: openDatabase(t, app.databaseUrl),
    config: loadConfig(testEnv(app.databaseUrl)),
    log,
  })
  t.after(() => auth.close())
  const user = await auth.service.setDisabled('root', true)
  assert.equal(user.disabled, true)
})

test('a new user: a password of spaces is refused, and the messages are in words', async (t) => {
  const app = await build(t, {}, { as: 'admin' })
  const create = (body: object) => app.inject({ method: 'POST', url: '/api/users/', payload: body })
  const spaces = await create({ username: 'ops.blank', password: ' '.repeat(12), role: 'client' })
  assert.equal(spaces.statusCode, 400, spaces.body)
  assert.deepEqual(spaces.json().details, { password: ['must be at least 12 characters, not only spaces'] })
  const short = await create({ username: 'ops.short', password: 'short', role: 'client' })
  assert.deepEqual(short.json().details, { password: ['must be at least 12 characters'] })
  const ok = await create({ username: 'ops.fine', password: ' a good pass phrase ', role: 'client' })
  assert.equal(ok.statusCode, 201, ok.body)

  const operator = await build(t, {}, { as: 'operator' })
  const customer = await operator.inject({
    method: 'POST',
    url: '/api/customers/',
    payload: { name: 'Acme', code: 'ACME', phone_number: '+254722000001', email: 'not-an-email' },
  })
  assert.deepEqual(customer.json().details, { email: ['must be an email address, e.g. ops@example.com'] })
})
