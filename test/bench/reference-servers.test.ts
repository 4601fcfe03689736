import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadHeaders } from '../../bench/reply-headers.js'
import {
  type Child,
  getReply,
  REPLY_BODY_FILE,
  REPLY_HEADERS_FILE,
  type Reply,
  reference,
  replyDiffers,
  stop,
} from '../../bench/servers.js'

// The reference servers the HTTP benchmark compares Waybill with must send its reply's exact bytes:
// its body and every header it sends, in its order (not only its body, as they once did).
const BODY = '{"tracking_number":"ABCDEFGHJK12345Z","correlation_id":"0b6e3f0c-6f0a-4a53-9d37-0f3b0a4c6e21"}'
const HEADERS: [string, string][] = [
  ['content-type', 'application/json; charset=utf-8'],
  ['x-request-id', '0b6e3f0c-6f0a-4a53-9d37-0f3b0a4c6e21'],
  ['cache-control', 'no-store'],
  ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
]
const CAPTURED: Reply = {
  status: 200,
  headers: [
    ...HEADERS,
    ['content-length', String(Buffer.byteLength(BODY))],
    ['date', 'Tue, 08 Dec 2026 03:00:00 GMT'],
    ['connection', 'keep-alive'],
    ['keep-alive', 'timeout=72'],
  ],
  body: Buffer.from(BODY),
}

// The build scripts/test.mjs made, else the TypeScript source through tsx (a file run by itself);
// absolute, as the server runs in a directory of its own.
function script(name: string): { path: string; nodeArgs: string[] } {
  const build = process.env.WAYBILL_TEST_BUILD
  return build
    ? { path: join(build, 'bench', `${name}.js`), nodeArgs: [] }
    : { path: join(process.cwd(), 'bench', `${name}.ts`), nodeArgs: ['--import', import.meta.resolve('tsx')] }
}

for (const name of ['baseline-server', 'fastify-server']) {
  test(`${name} sends the captured reply's body and headers, in order`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'waybill-reference-'))
    let child: Child | undefined
    t.after(async () => {
      await stop(child)
      rmSync(dir, { recursive: true, force: true })
    })
    writeFileSync(join(dir, REPLY_BODY_FILE), BODY)
    writeFileSync(join(dir, REPLY_HEADERS_FILE), JSON.stringify(HEADERS))
    const { path, nodeArgs } = script(name)
    const server = await reference(name, path, dir, { nodeArgs })
    child = server.child
    const url = `http://127.0.0.1:${server.port}/next-tracking-number?a=1`
    const reply = await getReply(url, {})
    assert.equal(reply.status, 200)
    assert.equal(reply.body.toString('utf8'), BODY)
    const sent = reply.headers.filter(([header]) => !['date', 'connection', 'keep-alive'].includes(header))
    assert.deepEqual(sent, [...HEADERS, ['content-length', String(Buffer.byteLength(BODY))]])
    assert.equal(await replyDiffers(url, {}, CAPTURED), undefined)

    // The check itself: a captured reply with one header more, or another body, is not this one.
    const more: Reply = { ...CAPTURED, headers: [...CAPTURED.headers, ['vary', 'origin']] }
    assert.match((await replyDiffers(url, {}, more)) ?? '', /other headers: .*captured: .*vary: origin/)
    const other: Reply = { ...CAPTURED, body: Buffer.from(BODY.replace('ABC', 'XYZ')) }
    assert.match((await replyDiffers(url, {}, other)) ?? '', /^another body/)
  })
}

test('a headers file that is not [name, value] pairs stops a reference server with its path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-reference-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, REPLY_HEADERS_FILE)
  writeFileSync(file, JSON.stringify({ 'content-type': 'application/json' }))
  assert.throws(() => loadHeaders(file), new RegExp(`${file}: expected a JSON array`))
  writeFileSync(file, JSON.stringify([['x-a', 1]]))
  assert.throws(() => loadHeaders(file), /expected a JSON array of \[name, value\] string pairs/)
  assert.deepEqual(loadHeaders(undefined), [['content-type', 'application/json; charset=utf-8']])
})
