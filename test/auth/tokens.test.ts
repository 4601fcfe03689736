import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SignJWT } from 'jose'
import { buildApp } from '../../src/app.js'
import { hashPassword } from '../../src/auth/passwords.js'
import { createAuthRepository } from '../../src/auth/repository.js'
import { signingKeyFrom } from '../../src/auth/tokens.js'
import { loadConfig } from '../../src/config.js'
import {
  build,
  issueUrl,
  openDatabase,
  TEST_SECRET_KEY,
  type TestApp,
  testEnv,
  tokenFor,
} from '../helpers/build.js'

const PASSWORD = 'correct horse battery staple'

async function withUser(app: TestApp, username = 'ops.jane', role = 'operator') {
  const res = await app.inject({
    method: 'POST',
    url: '/api/users/',
    headers: { authorization: `Bearer ${await adminToken()}` },
    payload: { username, password: PASSWORD, role },
  })
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}

const adminToken = () => tokenFor('admin')

async function login(app: TestApp, username: string, password = PASSWORD) {
  return app.inject({ method: 'POST', url: '/api/token/', payload: { username, password } })
}

const asBearer = (token: string) => ({ authorization: `Bearer ${token}` })

test('login gives an access token that works and a refresh token that rotates', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const res = await login(app, 'ops.jane')
  assert.equal(res.statusCode, 200)
  const { access, refresh } = res.json()
  assert.match(access, /^[\w-]+\.[\w-]+\.[\w-]+$/)

  const me = await app.inject({ url: '/api/me/', headers: asBearer(access) })
  assert.deepEqual(me.json(), { subject: 'user:1', name: 'ops.jane', role: 'operator', source: 'waybill' })
  assert.equal((await app.inject({ url: issueUrl(), headers: asBearer(access) })).statusCode, 200)

  const rotated = await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } })
  assert.equal(rotated.statusCode, 200)
  const next = rotated.json()
  assert.notEqual(next.refresh, refresh)
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(next.access) })).statusCode, 200)
})

test('a reused refresh token revokes its whole family, and no other', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const first = (await login(app, 'ops.jane')).json()
  const other = (await login(app, 'ops.jane')).json() // a second login: another family
  const second = (
    await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: first.refresh } })
  ).json()

  // The stolen copy of the first token comes back: refused, and the thief's victim is logged out too.
  const reuse = await app.inject({
    method: 'POST',
    url: '/api/token/refresh/',
    payload: { refresh: first.refresh },
  })
  assert.equal(reuse.statusCode, 401)
  assert.equal(reuse.json().code, 'unauthorized')
  const descendant = await app.inject({
    method: 'POST',
    url: '/api/token/refresh/',
    payload: { refresh: second.refresh },
  })
  assert.equal(descendant.statusCode, 401, 'the family is revoked')
  const unrelated = await app.inject({
    method: 'POST',
    url: '/api/token/refresh/',
    payload: { refresh: other.refresh },
  })
  assert.equal(unrelated.statusCode, 200, 'another login is untouched')
})

test('two concurrent uses of one refresh token: exactly one succeeds', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const { refresh } = (await login(app, 'ops.jane')).json()
  const results = await Promise.all(
    Array.from({ length: 5 }, () =>
      app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } }),
    ),
  )
  assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 401, 401, 401, 401])
})

test('logout revokes the refresh token and the access token sent with it', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const { access, refresh } = (await login(app, 'ops.jane')).json()
  const out = await app.inject({
    method: 'POST',
    url: '/api/token/revoke/',
    headers: asBearer(access),
    payload: { refresh },
  })
  assert.equal(out.statusCode, 204)
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 401)
  const again = await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } })
  assert.equal(again.statusCode, 401)
})

test('a sign-out with a bad refresh token is refused and revokes nothing', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const { access, refresh } = (await login(app, 'ops.jane')).json()
  const other = (await login(app, 'ops.jane')).json() // another sign-in's token as the bearer
  for (const bearer of [access, other.access]) {
    const out = await app.inject({
      method: 'POST',
      url: '/api/token/revoke/',
      headers: asBearer(bearer),
      payload: { refresh: 'garbage' },
    })
    assert.equal(out.statusCode, 401)
    assert.equal(out.json().error, 'The refresh token is invalid, expired or revoked')
    assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(bearer) })).statusCode, 200)
  }
  // Nor on another instance, which reads the revocations from the database.
  const fresh = await buildApp(loadConfig(testEnv(app.databaseUrl)))
  t.after(() => fresh.close())
  assert.equal((await fresh.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 200)
  const rotated = await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } })
  assert.equal(rotated.statusCode, 200, 'the sign-in goes on')
})

test('a logout on one instance reaches another instance on the same database', async (t) => {
  const one = await build(t, {}, { as: null })
  const other = await buildApp(loadConfig(testEnv(one.databaseUrl)))
  t.after(() => other.close())
  await other.ready()
  await withUser(one)
  const { access, refresh } = (await login(one, 'ops.jane')).json()
  assert.equal((await other.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 200)
  await one.inject({
    method: 'POST',
    url: '/api/token/revoke/',
    headers: asBearer(access),
    payload: { refresh },
  })
  // The other instance polls revocations every 5 s.
  const deadline = Date.now() + 8_000
  let status = 200
  while (status === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    status = (await other.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode
  }
  assert.equal(status, 401)
})

test('wrong password, unknown user and disabled user get the same answer', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const wrong = await login(app, 'ops.jane', 'not the password at all')
  const unknown = await login(app, 'nobody.here')
  const admin = asBearer(await adminToken())
  const disable = await app.inject({
    method: 'PATCH',
    url: '/api/users/ops.jane/',
    headers: admin,
    payload: { disabled: true },
  })
  assert.equal(disable.statusCode, 200)
  assert.equal(disable.json().disabled, true)
  const disabled = await login(app, 'ops.jane')
  for (const res of [wrong, unknown, disabled]) {
    assert.equal(res.statusCode, 401)
    assert.equal(res.json().error, 'Invalid username or password')
    assert.deepEqual(res.json().details, {})
    assert.equal(res.headers['www-authenticate'], 'Bearer', 'every 401 names the scheme')
  }
})

test('a token has one spelling: padding, standard base64 or another form of the same bytes is a 401', async (t) => {
  const app = await build(t, {}, { as: null })
  const token = await adminToken()
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(token) })).statusCode, 200)
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const respelled = [
    `${token}=`,
    `${header}.${payload}.${signature.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(signature) ? '' : '+'}`,
    `${header}=.${payload}.${signature}`,
    `${token}.`,
  ]
  for (const spelling of respelled) {
    const res = await app.inject({ url: '/api/me/', headers: asBearer(spelling) })
    assert.equal(res.statusCode, 401, `${spelling}: ${res.body}`)
  }
})

test('a refused refresh or sign-out is a 401 that names the scheme too', async (t) => {
  const app = await build(t, {}, { as: null })
  for (const url of ['/api/token/refresh/', '/api/token/revoke/']) {
    const res = await app.inject({ method: 'POST', url, payload: { refresh: 'x'.repeat(43) } })
    assert.equal(res.statusCode, 401, `${url}: ${res.body}`)
    assert.equal(res.headers['www-authenticate'], 'Bearer', url)
  }
})

test('disabling a user stops their access tokens at once and their refresh tokens', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const { access, refresh } = (await login(app, 'ops.jane')).json()
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 200)
  await app.inject({
    method: 'PATCH',
    url: '/api/users/ops.jane/',
    headers: asBearer(await adminToken()),
    payload: { disabled: true },
  })
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 401)
  const res = await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } })
  assert.equal(res.statusCode, 401)
})

test('forged, tampered, expired, unsigned and foreign tokens are all 401', async (t) => {
  const app = await build(t, {}, { as: null })
  const key = signingKeyFrom(TEST_SECRET_KEY)
  const claims = { name: 'mallory', role: 'admin', sid: 'sign-in-1' }
  const sign = (secret: Uint8Array, expires: string | number = '1h', issuer = 'waybill') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(issuer)
      .setAudience('waybill')
      .setSubject('7')
      .setJti('j1')
      .setIssuedAt()
      .setExpirationTime(expires)
      .sign(secret)
  const good = await sign(key)
  assert.equal(
    (await app.inject({ url: '/api/me/', headers: asBearer(good) })).statusCode,
    200,
    'the control works',
  )

  const [header, payload, signature] = good.split('.') as [string, string, string]
  const elevated = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: '8' }),
  ).toString('base64url')
  const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`
  const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`
  const cases: Record<string, string> = {
    'tampered payload': `${header}.${elevated}.${signature}`,
    'tampered signature': `${header}.${payload}.${flipped}`,
    'alg none': unsigned,
    'another secret': await sign(signingKeyFrom('another-secret-key-0123456789abcdef0123456789')),
    expired: await sign(key, Math.floor(Date.now() / 1000) - 60),
    'another issuer': await sign(key, '1h', 'someone-else'),
    garbage: 'not-a-jwt',
  }
  for (const [name, token] of Object.entries(cases)) {
    const res = await app.inject({ url: '/api/me/', headers: asBearer(token) })
    assert.equal(res.statusCode, 401, name)
    assert.equal(res.json().code, 'unauthorized', name)
  }
  const basic = await app.inject({ url: '/api/me/', headers: { authorization: 'Basic YTpi' } })
  assert.equal(basic.statusCode, 401)
})

test('without SECRET_KEY (development) a key is generated once and kept: tokens survive a restart', async (t) => {
  const first = await build(t, { SECRET_KEY: '' }, { as: null })
  await createAuthRepository(openDatabase(t, first.databaseUrl)).insertUser({
    username: 'ops.jane',
    passwordHash: await hashPassword(PASSWORD),
    role: 'operator',
    now: new Date().toISOString(),
  })
  const { access } = (await login(first, 'ops.jane')).json()
  await first.close()
  const second = await buildApp(loadConfig(testEnv(first.databaseUrl, { SECRET_KEY: '' })))
  t.after(() => second.close())
  assert.equal((await second.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 200)
  const withTestKey = await buildApp(loadConfig(testEnv(first.databaseUrl)))
  t.after(() => withTestKey.close())
  assert.equal(
    (await withTestKey.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode,
    401,
    'a configured SECRET_KEY replaces the generated one',
  )
})

test('users: admins create and list them; a duplicate or weak one is a 400 naming the field', async (t) => {
  const app = await build(t, {}, { as: 'admin' })
  await withUser(app, 'ops.jane')
  const duplicate = await app.inject({
    method: 'POST',
    url: '/api/users/',
    payload: { username: 'ops.jane', password: PASSWORD, role: 'client' },
  })
  assert.equal(duplicate.statusCode, 400)
  assert.deepEqual(Object.keys(duplicate.json().details), ['username'])
  const weak = await app.inject({
    method: 'POST',
    url: '/api/users/',
    payload: { username: 'Bad Name', password: 'short', role: 'root' },
  })
  assert.equal(weak.statusCode, 400)
  assert.deepEqual(Object.keys(weak.json().details).sort(), ['password', 'role', 'username'])
  const list = (await app.inject({ url: '/api/users/' })).json()
  assert.deepEqual(
    list.results.map((u: { username: string; role: string }) => [u.username, u.role]),
    [['ops.jane', 'operator']],
  )
  assert.equal(JSON.stringify(list).includes('scrypt'), false, 'no password hash leaves the service')
  const missing = await app.inject({
    method: 'PATCH',
    url: '/api/users/nobody/',
    payload: { disabled: true },
  })
  assert.equal(missing.statusCode, 404)
})

test('re-enabling a user does not bring back the tokens they held when disabled', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const { access } = (await login(app, 'ops.jane')).json()
  const admin = asBearer(await adminToken())
  const patch = (disabled: boolean) =>
    app.inject({ method: 'PATCH', url: '/api/users/ops.jane/', headers: admin, payload: { disabled } })
  await patch(true)
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 401)
  await patch(false)
  // A second instance reads the cut-off from the database, not from memory.
  const other = await buildApp(loadConfig(testEnv(app.databaseUrl)))
  t.after(() => other.close())
  await other.ready()
  assert.equal((await other.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 401)
  await new Promise((resolve) => setTimeout(resolve, 1_100)) // a new token's iat is a later second
  const fresh = (await login(app, 'ops.jane')).json()
  assert.equal((await other.inject({ url: '/api/me/', headers: asBearer(fresh.access) })).statusCode, 200)
})

test('a reused refresh token also revokes the access tokens of that sign-in', async (t) => {
  const app = await build(t, {}, { as: null })
  await withUser(app)
  const stolen = (await login(app, 'ops.jane')).json()
  const victim = (
    await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: stolen.refresh } })
  ).json()
  // The thief tries the stolen (spent) refresh token: the whole sign-in ends, access tokens too.
  await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: stolen.refresh } })
  for (const access of [stolen.access, victim.access]) {
    assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(access) })).statusCode, 401)
  }
  const other = (await login(app, 'ops.jane')).json()
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(other.access) })).statusCode, 200)
})
