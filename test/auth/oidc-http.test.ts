import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { build, issueUrl, tokenFor } from '../helpers/build.js'
import { startOidcProvider, TEST_AUDIENCE } from '../helpers/oidc-provider.js'

const provider = await startOidcProvider()
after(() => provider.close())

const oidcEnv = () => ({ OIDC_ISSUER: provider.issuer, OIDC_AUDIENCE: TEST_AUDIENCE })
const asBearer = (token: string) => ({ authorization: `Bearer ${token}` })

test('an OpenID Connect access token works on the API, with the role its scopes grant', async (t) => {
  const app = await build(t, oidcEnv(), { as: null })
  const client = await provider.token({ scope: 'waybill:client' })
  const issued = await app.inject({ url: issueUrl(), headers: asBearer(client) })
  assert.equal(issued.statusCode, 200, issued.body)
  const me = (await app.inject({ url: '/api/me/', headers: asBearer(client) })).json()
  assert.deepEqual({ source: me.source, role: me.role }, { source: 'oidc', role: 'client' })
  assert.equal(me.subject, `oidc:${provider.clientId}`)

  const users = await app.inject({ url: '/api/users/', headers: asBearer(client) })
  assert.equal(users.statusCode, 403, 'a client scope does not manage users')
  const admin = await provider.token({ scope: 'waybill:admin' })
  assert.equal((await app.inject({ url: '/api/users/', headers: asBearer(admin) })).statusCode, 200)
  const none = await provider.token({ scope: '' })
  assert.equal((await app.inject({ url: issueUrl(), headers: asBearer(none) })).statusCode, 403)
})

test('a token for another audience, or with OIDC not configured, is a 401', async (t) => {
  const app = await build(t, oidcEnv(), { as: null })
  const foreign = await provider.token({ scope: 'waybill:admin', resource: 'https://other.example' })
  assert.equal((await app.inject({ url: '/api/me/', headers: asBearer(foreign) })).statusCode, 401)
  const plain = await build(t, {}, { as: null })
  const token = await provider.token({ scope: 'waybill:admin' })
  assert.equal((await plain.inject({ url: '/api/me/', headers: asBearer(token) })).statusCode, 401)
})

test('idempotency keys are per client: two clients using the same key get their own numbers', async (t) => {
  const app = await build(t, oidcEnv(), { as: null })
  const oidcClient = await provider.token({ scope: 'waybill:client' })
  const waybillClient = await tokenFor('client')
  const headers = { 'idempotency-key': 'order-1' }
  const a = await app.inject({ url: issueUrl(), headers: { ...headers, ...asBearer(oidcClient) } })
  const b = await app.inject({ url: issueUrl(), headers: { ...headers, ...asBearer(waybillClient) } })
  const a2 = await app.inject({ url: issueUrl(), headers: { ...headers, ...asBearer(oidcClient) } })
  assert.equal(a.statusCode, 200)
  assert.equal(b.statusCode, 200)
  assert.notEqual(a.json().tracking_number, b.json().tracking_number)
  assert.equal(a2.json().tracking_number, a.json().tracking_number, 'the same client still gets its retry')
})

test("a subject's spaces cannot make two clients' idempotency keys one: `a b` + `c` is not `a` + `b c`", async (t) => {
  let sub = ''
  const spaced = await startOidcProvider({ customizeClaims: (claims) => Object.assign(claims, { sub }) })
  t.after(() => spaced.close())
  const app = await build(t, { OIDC_ISSUER: spaced.issuer, OIDC_AUDIENCE: TEST_AUDIENCE }, { as: null })
  sub = 'carrier a b'
  const first = await spaced.token({ scope: 'waybill:client' })
  sub = 'carrier a'
  const second = await spaced.token({ scope: 'waybill:client' })
  const a = await app.inject({ url: issueUrl(), headers: { 'idempotency-key': 'c', ...asBearer(first) } })
  const b = await app.inject({ url: issueUrl(), headers: { 'idempotency-key': 'b c', ...asBearer(second) } })
  assert.equal(a.statusCode, 200, a.body)
  assert.equal(b.statusCode, 200, b.body)
  assert.notEqual(a.json().tracking_number, b.json().tracking_number, 'each client its own number')
  const me = (await app.inject({ url: '/api/me/', headers: asBearer(first) })).json()
  assert.equal(me.subject, 'oidc:carrier a b')
})

test("a token without `sub` is its client's: it never shares a subject with a user whose `sub` is that id", async (t) => {
  let sub: string | undefined
  const provider2 = await startOidcProvider({
    customizeClaims: (claims) => {
      if (sub === undefined) delete claims.sub
      else claims.sub = sub
    },
  })
  t.after(() => provider2.close())
  const app = await build(t, { OIDC_ISSUER: provider2.issuer, OIDC_AUDIENCE: TEST_AUDIENCE }, { as: null })
  const clientToken = await provider2.token({ scope: 'waybill:client' })
  sub = provider2.clientId
  const userToken = await provider2.token({ scope: 'waybill:client' })
  const subjectOf = async (token: string) =>
    (await app.inject({ url: '/api/me/', headers: asBearer(token) })).json().subject
  assert.equal(await subjectOf(clientToken), `oidc-client:${provider2.clientId}`)
  assert.equal(await subjectOf(userToken), `oidc:${provider2.clientId}`)
})
