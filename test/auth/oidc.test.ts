import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { base64url, decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import { createOidcVerifier, type OidcSettings } from '../../src/auth/oidc.js'
import { AppError, type ErrorCode } from '../../src/http/errors.js'
import { startOidcProvider, TEST_AUDIENCE, type TestOidcProvider } from '../helpers/oidc-provider.js'

// Tokens come from a real provider over HTTP; one instance serves every test that does not need its own.
const provider = await startOidcProvider()
after(() => provider.close())

function settings(issuer: string, overrides: Partial<OidcSettings> = {}): OidcSettings {
  return {
    issuer,
    audience: TEST_AUDIENCE,
    roleClaim: 'scope',
    roleMap: { 'waybill:client': 'client', 'waybill:operator': 'operator', 'waybill:admin': 'admin' },
    timeoutMs: 2_000,
    ...overrides,
  }
}

/** A fetch that counts the requests to each path, to see discovery and key-set refetches. */
function countingFetch(): { fetch: typeof fetch; count(path: string): number } {
  const counts = new Map<string, number>()
  return {
    fetch: (input, init) => {
      const path = new URL(input instanceof Request ? input.url : input).pathname
      counts.set(path, (counts.get(path) ?? 0) + 1)
      return fetch(input, init)
    },
    count: (path) => counts.get(path) ?? 0,
  }
}

async function assertFails(promise: Promise<unknown>, code: ErrorCode, token?: string): Promise<AppError> {
  let caught: unknown
  await promise.then(
    () => assert.fail(`expected AppError ${code}`),
    (error: unknown) => {
      caught = error
    },
  )
  assert.ok(caught instanceof AppError, `expected an AppError, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  if (token) assert.ok(!caught.message.includes(token), 'the message must not repeat the token')
  return caught
}

async function startWith(options: Parameters<typeof startOidcProvider>[0]): Promise<TestOidcProvider> {
  const other = await startOidcProvider(options)
  after(() => other.close())
  return other
}

const [header = '', payload = '', signature = ''] = (
  await provider.token({ scope: 'waybill:operator' })
).split('.')
const claims = decodeJwt(`${header}.${payload}.${signature}`)

test('the highest mapped scope becomes the role; the client becomes the subject', async () => {
  const verifier = createOidcVerifier(settings(provider.issuer))
  assert.deepEqual(await verifier.verify(await provider.token({ scope: 'waybill:operator' })), {
    subject: `oidc:${provider.clientId}`,
    name: provider.clientId,
    role: 'operator',
    source: 'oidc',
  })
  const admin = await verifier.verify(await provider.token({ scope: 'waybill:client waybill:admin' }))
  assert.equal(admin.role, 'admin')
  assert.equal((await verifier.verify(await provider.token({ scope: '' }))).role, null)
  assert.equal((await verifier.verify(await provider.token({ scope: 'waybill:client' }))).role, 'client')
})

test('the configured issuer may end with a slash or not', async () => {
  const token = await provider.token({ scope: 'waybill:admin' })
  const slashed = createOidcVerifier(settings(`${provider.issuer}/`))
  assert.equal((await slashed.verify(token)).role, 'admin')
})

test('discovery happens once, then the document and key set are reused', async () => {
  const counter = countingFetch()
  const verifier = createOidcVerifier(settings(provider.issuer), { fetch: counter.fetch })
  const tokens = await Promise.all([1, 2, 3].map(() => provider.token({ scope: 'waybill:client' })))
  await Promise.all(tokens.map((token) => verifier.verify(token)))
  await verifier.verify(tokens[0] ?? '')
  assert.equal(counter.count('/.well-known/openid-configuration'), 1)
  assert.equal(counter.count('/jwks'), 1)
})

test('a token for another audience is refused', async () => {
  const token = await provider.token({ scope: 'waybill:admin', resource: 'https://other.waybill.test' })
  const error = await assertFails(
    createOidcVerifier(settings(provider.issuer)).verify(token),
    'unauthorized',
    token,
  )
  assert.match(error.message, /"aud"/)
})

test('a token from another provider is refused', async () => {
  const other = await startWith({})
  const token = await other.token({ scope: 'waybill:admin' })
  await assertFails(createOidcVerifier(settings(provider.issuer)).verify(token), 'unauthorized', token)
})

test('a token signed by the provider but naming another issuer is refused', async () => {
  const lying = await startWith({ customizeClaims: (c) => Object.assign(c, { iss: 'https://idp.example' }) })
  const token = await lying.token({ scope: 'waybill:admin' })
  const error = await assertFails(
    createOidcVerifier(settings(lying.issuer)).verify(token),
    'unauthorized',
    token,
  )
  assert.match(error.message, /"iss"/)
})

test('a discovery document naming another issuer makes the provider unusable, not the token bad', async () => {
  // The verifier asks for http://idp.waybill.test; the provider answers that it is 127.0.0.1:<port>.
  const redirect: typeof fetch = (input, init) =>
    fetch(String(input).replace('http://idp.waybill.test', provider.issuer), init)
  const verifier = createOidcVerifier(settings('http://idp.waybill.test'), { fetch: redirect })
  const error = await assertFails(
    verifier.verify(await provider.token({ scope: 'waybill:admin' })),
    'unavailable',
  )
  assert.match(String(error.cause), /issuer/)
})

test('an expired token is refused, beyond the clock tolerance', async () => {
  const shortLived = await startWith({ accessTokenTtl: 1 })
  const verifier = createOidcVerifier(settings(shortLived.issuer))
  const token = await shortLived.token({ scope: 'waybill:admin' })
  assert.equal((await verifier.verify(token)).role, 'admin')
  const exp = decodeJwt(token).exp ?? 0
  await sleep(Math.max(0, (exp + 5) * 1000 - Date.now()) + 200) // the verifier's tolerance is 5 s
  const error = await assertFails(verifier.verify(token), 'unauthorized', token)
  assert.match(error.message, /expired/)
})

test('a token without an expiry is refused', async () => {
  const eternal = await startWith({ customizeClaims: (c) => delete c.exp })
  const token = await eternal.token({ scope: 'waybill:admin' })
  assert.equal(decodeJwt(token).exp, undefined)
  const error = await assertFails(createOidcVerifier(settings(eternal.issuer)).verify(token), 'unauthorized')
  assert.match(error.message, /"exp"/)
})

test('a token whose payload or signature was altered is refused', async () => {
  const verifier = createOidcVerifier(settings(provider.issuer))
  assert.equal((await verifier.verify(`${header}.${payload}.${signature}`)).role, 'operator')

  const promoted = base64url.encode(JSON.stringify({ ...claims, scope: 'waybill:admin' }))
  await assertFails(verifier.verify(`${header}.${promoted}.${signature}`), 'unauthorized')

  const flip = (text: string, at: number) =>
    text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)
  // Mid-string: the last character of a base64url signature may carry only padding bits.
  const middle = Math.floor(signature.length / 2)
  await assertFails(verifier.verify(`${header}.${payload}.${flip(signature, middle)}`), 'unauthorized')
  await assertFails(verifier.verify(`${header}.${flip(payload, 10)}.${signature}`), 'unauthorized')
})

test('an unsigned token (alg none) with valid claims is refused', async () => {
  const { kid } = decodeProtectedHeader(`${header}.${payload}.${signature}`)
  const none = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid }))
  const verifier = createOidcVerifier(settings(provider.issuer))
  await assertFails(verifier.verify(`${none}.${payload}.`), 'unauthorized')
  await assertFails(verifier.verify(`${none}.${payload}.${signature}`), 'unauthorized')
})

test('an HMAC token is refused, even keyed with the public key', async () => {
  const jwks = (await (await fetch(`${provider.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }
  const publicKey = jwks.keys[0]
  assert.ok(publicKey)
  const verifier = createOidcVerifier(settings(provider.issuer))
  for (const secret of [JSON.stringify(publicKey), 'a shared secret nobody configured']) {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: publicKey.kid })
      .sign(new TextEncoder().encode(secret))
    await assertFails(verifier.verify(token), 'unauthorized', token)
  }
})

test('after a key rotation the same verifier refetches the key set and accepts new tokens', async () => {
  const rotating = await startWith({})
  const counter = countingFetch()
  const verifier = createOidcVerifier(settings(rotating.issuer), { fetch: counter.fetch })
  const before = await rotating.token({ scope: 'waybill:operator' })
  assert.equal((await verifier.verify(before)).role, 'operator')

  await rotating.rotateKeys()
  const afterRotation = await rotating.token({ scope: 'waybill:admin' })
  assert.notEqual(decodeProtectedHeader(afterRotation).kid, decodeProtectedHeader(before).kid)
  await sleep(1_100) // the verifier refetches for an unknown kid at most once a second
  assert.equal((await verifier.verify(afterRotation)).role, 'admin')
  assert.equal((await verifier.verify(before)).role, 'operator') // the old key is still published
  assert.equal(counter.count('/jwks'), 2)
})

test('a provider that is down before first use answers unavailable, promptly, with retry-after', async () => {
  const gone = await startWith({})
  const token = await gone.token({ scope: 'waybill:admin' })
  await gone.close()
  const started = performance.now()
  const error = await assertFails(
    createOidcVerifier(settings(gone.issuer, { timeoutMs: 500 })).verify(token),
    'unavailable',
  )
  assert.ok(performance.now() - started < 1_500)
  assert.equal(error.statusCode, 503)
  assert.equal(error.headers['retry-after'], '5')
})

test('a provider that accepts connections but never answers times out as unavailable', {
  timeout: 5_000,
}, async () => {
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1')
  await once(silent, 'listening')
  after(async () => {
    for (const socket of sockets) socket.destroy()
    silent.close()
    await once(silent, 'close')
  })
  const issuer = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
  const started = performance.now()
  await assertFails(createOidcVerifier(settings(issuer, { timeoutMs: 300 })).verify('a.b.c'), 'unavailable')
  const elapsed = performance.now() - started
  assert.ok(elapsed >= 250 && elapsed < 1_300, `took ${elapsed} ms`)
})

test('a failed discovery is retried, but not on every request', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  let calls = 0
  const flaky: typeof fetch = (input, init) => {
    calls++
    return calls === 1 ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init)
  }
  const verifier = createOidcVerifier(settings(provider.issuer), { fetch: flaky })
  const token = await provider.token({ scope: 'waybill:client' })
  await assertFails(verifier.verify(token), 'unavailable')
  await assertFails(verifier.verify(token), 'unavailable')
  assert.equal(calls, 1)
  t.mock.timers.tick(5_000)
  assert.equal((await verifier.verify(token)).role, 'client')
})

test('once the keys are known, an outage only affects tokens with a new kid', async () => {
  const flaky = await startWith({})
  const verifier = createOidcVerifier(settings(flaky.issuer, { timeoutMs: 500 }))
  const token = await flaky.token({ scope: 'waybill:operator' })
  assert.equal((await verifier.verify(token)).role, 'operator')
  await flaky.rotateKeys()
  const rotated = await flaky.token({ scope: 'waybill:operator' })
  await flaky.close()
  assert.equal((await verifier.verify(token)).role, 'operator')
  await sleep(1_100)
  await assertFails(verifier.verify(rotated), 'unavailable')
})

test('a nested role claim, or one whose name holds dots, is read', async () => {
  const custom = await startWith({
    customizeClaims: (c) =>
      Object.assign(c, {
        realm_access: { roles: ['offline_access', 'waybill-operator', 'waybill-client'] },
        'https://waybill.test/roles': 'waybill-admin',
      }),
  })
  const token = await custom.token({ scope: 'waybill:client' })
  const roleMap = {
    'waybill-client': 'client',
    'waybill-operator': 'operator',
    'waybill-admin': 'admin',
  } as const
  const nested = createOidcVerifier(settings(custom.issuer, { roleClaim: 'realm_access.roles', roleMap }))
  assert.equal((await nested.verify(token)).role, 'operator')
  const dotted = createOidcVerifier(
    settings(custom.issuer, { roleClaim: 'https://waybill.test/roles', roleMap }),
  )
  assert.equal((await dotted.verify(token)).role, 'admin')
  const missing = createOidcVerifier(settings(custom.issuer, { roleClaim: 'realm_access.nothing', roleMap }))
  assert.equal((await missing.verify(token)).role, null)
})
