import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import Fastify from 'fastify'
import { adminPage } from '../../src/admin/plugin.js'
import { build, tempDir } from '../helpers/build.js'

/** A fake build: what Vite writes into dist/admin. */
function fakeBuild(t: TestContext): string {
  const root = tempDir(t)
  mkdirSync(join(root, 'assets'))
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Waybill admin</title>')
  writeFileSync(join(root, 'assets', 'index-Ab12Cd34.js'), 'console.log(1)')
  writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  return root
}

async function serve(t: TestContext, root: string) {
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } })
  await app.register(adminPage, { root })
  t.after(() => app.close())
  return app
}

test('serves index.html at /admin/ and for the page routes, revalidated by ETag', async (t) => {
  const app = await serve(t, fakeBuild(t))
  for (const url of ['/admin', '/admin/', '/admin/orders/12', '/admin/customers?q=amani']) {
    const reply = await app.inject(url)
    assert.equal(reply.statusCode, 200, url)
    assert.match(reply.headers['content-type'] as string, /^text\/html/)
    assert.equal(reply.headers['cache-control'], 'no-cache')
    assert.match(reply.body, /Waybill admin/)
  }
  const first = await app.inject('/admin/')
  const again = await app.inject({ url: '/admin/users', headers: { 'if-none-match': first.headers.etag } })
  assert.equal(again.statusCode, 304)
  assert.equal(again.body, '')
})

test('hashed assets are cached for good; other files revalidate', async (t) => {
  const app = await serve(t, fakeBuild(t))
  const script = await app.inject('/admin/assets/index-Ab12Cd34.js')
  assert.equal(script.statusCode, 200)
  assert.match(script.headers['content-type'] as string, /^text\/javascript/)
  assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable')
  const icon = await app.inject('/admin/favicon.svg')
  assert.equal(icon.headers['content-type'], 'image/svg+xml')
  assert.equal(icon.headers['cache-control'], 'no-cache')
})

test('a missing file is a 404, not the page', async (t) => {
  const app = await serve(t, fakeBuild(t))
  for (const url of ['/admin/assets/index-gone.js', '/admin/robots.txt']) {
    const reply = await app.inject(url)
    assert.equal(reply.statusCode, 404, url)
    assert.equal(reply.json().code, 'not_found')
  }
})

test('without a build the service starts, and /admin/ says how to build the page', async (t) => {
  const app = await serve(t, join(tempDir(t), 'nothing-here'))
  const reply = await app.inject('/admin/')
  assert.equal(reply.statusCode, 503)
  assert.match(reply.headers['content-type'] as string, /^text\/html/)
  assert.match(reply.body, /npm run build/)
})

test('the page is public in the app; the API behind it is not', async (t) => {
  const app = await build(t, {}, { as: null })
  const page = await app.inject('/admin/orders')
  assert.ok([200, 503].includes(page.statusCode), `public, built or not: ${page.statusCode}`)
  assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/)
  assert.equal((await app.inject('/api/orders/')).statusCode, 401)
})
