import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { RouteAuth } from '../../src/auth/plugin.js'
import { ROLES, type Role } from '../../src/auth/roles.js'
import { bearer, build } from '../helpers/build.js'

// What each URL needs, written down independently of the routes' own declarations: the test
// fails if a route is added without an entry here, or declares less than it should.
const EXPECTED: Array<[RegExp, RouteAuth]> = [
  [/^\/(health|ready|metrics|openapi\.json)$/, 'public'],
  [/^\/docs(\/|$)/, 'public'],
  [/^\/admin(\/|$)/, 'public'],
  [/^\/api\/token(\/refresh|\/revoke)?$/, 'public'],
  [/^\/api\/users(\/|$)/, 'admin'],
  [/^\/api\/(customers|orders)(\/|$)/, 'operator'],
  [/^\/api\/stats$/, 'operator'],
  [/^\/api\/me$/, 'client'],
  [/^\/(api\/)?next-tracking-number$/, 'client'],
  [/^\/tracking(-numbers)?\//, 'client'],
]

function expectedAuth(url: string): RouteAuth | undefined {
  return EXPECTED.find(([pattern]) => pattern.test(url))?.[1]
}

function concrete(url: string): string {
  return url.replace(/:[a-z_]+/g, '1').replace(/\*$/, 'x')
}

test('every route: 401 without a token (but the public ones), 403 with too small a role', async (t) => {
  const app = await build(t, {}, { as: null })
  await app.ready()
  const routes = app.routeAccess.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS')
  assert.ok(routes.length >= 10, 'the walk sees the routes')

  for (const { method, url, auth } of routes) {
    const expected = expectedAuth(url)
    assert.ok(expected, `${method} ${url} is in the test's table`)
    assert.equal(auth, expected, `${method} ${url} declares ${auth}, expected ${expected}`)
    const request = { method: method as 'GET', url: concrete(url) }

    const anonymous = await app.inject(request)
    if (expected === 'public') {
      assert.notEqual(anonymous.statusCode, 401, `${method} ${url} is public`)
      continue
    }
    assert.equal(anonymous.statusCode, 401, `${method} ${url} without a token`)
    assert.equal(anonymous.json().code, 'unauthorized')
    assert.ok(anonymous.headers['www-authenticate'], 'and says which scheme')

    for (const role of ROLES.slice(0, ROLES.indexOf(expected as Role))) {
      const res = await app.inject({ ...request, headers: await bearer(role) })
      assert.equal(res.statusCode, 403, `${method} ${url} with a ${role} token`)
      assert.equal(res.json().code, 'forbidden')
    }
    const allowed = await app.inject({ ...request, headers: await bearer(expected as Role) })
    assert.ok(
      ![401, 403].includes(allowed.statusCode),
      `${method} ${url} with a ${expected} token: ${allowed.statusCode}`,
    )
  }
})

test('an unknown URL needs a token too (it reveals nothing), then is a 404', async (t) => {
  const app = await build(t, {}, { as: null })
  assert.equal((await app.inject({ url: '/nope' })).statusCode, 401)
  assert.equal((await app.inject({ url: '/nope', headers: await bearer('client') })).statusCode, 404)
})

test('a route that does not declare who may call it stops the app from starting', async (t) => {
  const app = await build(t, {}, { as: null })
  assert.throws(() => app.get('/undeclared', async () => 'open'), /does not declare config.auth/)
})
