import assert from 'node:assert/strict'
import { test } from 'node:test'
import { testDatabaseUrl, tokenFor } from '../helpers/build.js'
import { startServer } from '../helpers/processes.js'

test('passwords and tokens never reach the logs, even at debug level', async (t) => {
  const server = await startServer({ DATABASE_URL: await testDatabaseUrl(t), LOG_LEVEL: 'trace' })
  t.after(() => server.stop())
  const base = `http://127.0.0.1:${server.port}`
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const admin = await tokenFor('admin')
  const password = 'Sw0rdfish-Secret-Password'
  const created = await post(
    '/api/users/',
    { username: 'ops.jane', password, role: 'operator' },
    {
      authorization: `Bearer ${admin}`,
    },
  )
  assert.equal(created.status, 201)
  const pair = (await (await post('/api/token/', { username: 'ops.jane', password })).json()) as {
    access: string
    refresh: string
  }
  assert.ok(pair.access && pair.refresh)
  const rotated = (await (await post('/api/token/refresh/', { refresh: pair.refresh })).json()) as {
    access: string
    refresh: string
  }
  // Failures log at info with their details: make sure none of them echoes a secret.
  const wrongPassword = 'Wr0ng-Password-Guess'
  assert.equal((await post('/api/token/', { username: 'ops.jane', password: wrongPassword })).status, 401)
  const tooLong = `Long-Secret-${'x'.repeat(2000)}`
  assert.equal((await post('/api/token/', { username: 'ops.jane', password: tooLong })).status, 400)
  assert.equal((await post('/api/token/refresh/', { refresh: pair.refresh })).status, 401, 'reuse')
  const forged = `${rotated.access.slice(0, -4)}AAAA`
  assert.equal(
    (await fetch(`${base}/api/me/`, { headers: { authorization: `Bearer ${forged}` } })).status,
    401,
  )
  // The reuse revoked the whole sign-in, the rotated access token included.
  assert.equal(
    (await fetch(`${base}/api/me/`, { headers: { authorization: `Bearer ${rotated.access}` } })).status,
    401,
  )
  const again = (await (await post('/api/token/', { username: 'ops.jane', password })).json()) as {
    access: string
    refresh: string
  }
  assert.equal(
    (await fetch(`${base}/api/me/`, { headers: { authorization: `Bearer ${again.access}` } })).status,
    200,
  )
  await post('/api/token/revoke/', { refresh: again.refresh }, { authorization: `Bearer ${again.access}` })

  assert.equal(await server.stop(), 0)
  const everything = JSON.stringify(server.logs) + server.output.join('')
  assert.ok(
    server.logs.some((line) => line.url === '/api/token/'),
    'the requests were logged',
  )
  const secrets = {
    password,
    wrongPassword,
    tooLong: 'Long-Secret-',
    admin,
    ...pair,
    rotatedAccess: rotated.access,
    rotatedRefresh: rotated.refresh,
    againAccess: again.access,
    againRefresh: again.refresh,
    forged,
    signature: rotated.access.split('.')[2] as string,
  }
  for (const [name, secret] of Object.entries(secrets)) {
    assert.equal(everything.includes(secret), false, `${name} appears in the logs`)
  }
})
