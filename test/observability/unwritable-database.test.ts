import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { bearer, dialect, issueUrl, openDatabase, testDatabaseUrl } from '../helpers/build.js'
import { issueMany, startServer, waitFor } from '../helpers/processes.js'

// The database made unwritable for real, with no root and no test seam in the service: the
// server process's file size limit (RLIMIT_FSIZE) lowered to one byte. Every write SQLite makes
// to its database or write-ahead log then fails in the kernel (EFBIG, as ENOSPC would on a full
// disk), and the driver reports SQLITE_IOERR_WRITE or SQLITE_FULL; reads still work, so
// `select 1` answers. Logs go to a pipe, which the limit does not cover.

function fileSizeLimit(pid: number, soft: string): string {
  const before = execFileSync('prlimit', [
    '--pid',
    String(pid),
    '--fsize',
    '--raw',
    '--noheadings',
    '--output',
    'SOFT',
  ])
  execFileSync('prlimit', ['--pid', String(pid), `--fsize=${soft}:`]) // the soft limit only: no privilege needed
  return String(before).trim()
}

// SQLite only (test/postgres/read-only.test.ts covers PostgreSQL); registered only in the SQLite
// pass, never skipped. prlimit comes with util-linux, which every Debian system has.
if (dialect === 'sqlite')
  test('disk refusing writes: not ready with the reason, a few log lines, ready again by itself', async (t) => {
    const url = await testDatabaseUrl(t)
    const server = await startServer({ DATABASE_URL: url })
    t.after(() => server.kill9())
    const pid = server.child.pid as number
    const auth = await bearer('client')
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { headers: auth })
      return { status: res.status, body: (await res.json()) as Record<string, string> }
    }
    const before = await issueMany(server.port, 50, 8)
    assert.equal(before.failures, 0)
    assert.equal((await get('/ready')).status, 200)
    const db = openDatabase(t, url)
    const counter = async () =>
      Number((await db.selectFrom('counters').select('next_value').executeTakeFirstOrThrow()).next_value)
    const counterBefore = await counter()
    const logsBefore = server.logs.length

    const original = fileSizeLimit(pid, '1')
    t.after(() => {
      if (server.child.exitCode === null && server.child.signalCode === null) fileSizeLimit(pid, original)
    })
    const started = performance.now()
    const during = await issueMany(server.port, 2_000, 32)
    assert.equal(during.failures, 2_000, 'every issue request is refused (503)')
    const refusal = await get(issueUrl())
    assert.equal(refusal.status, 503)
    assert.equal(refusal.body.code, 'unavailable')

    // Not ready, with the reason; still not ready after a probe (a poll more than a second later).
    const notReady = await get('/ready')
    assert.equal(notReady.status, 503)
    assert.equal(notReady.body.status, 'database writes failing')
    assert.match(notReady.body.reason as string, /^SQLITE_(IOERR|FULL)/)
    await sleep(1_100)
    assert.equal((await get('/ready')).status, 503, 'the probe fails too')
    assert.equal((await get('/health')).status, 200)
    const seconds = (performance.now() - started) / 1000

    // Logs: the first refusal in full, then about one line a second counting the others.
    await waitFor(
      () => server.logs.slice(logsBefore).some((l) => l.last_request_id === refusal.body.correlation_id),
      5_000,
    )
    const outage = server.logs.slice(logsBefore)
    const full = outage.filter((l) => l.level === 50)
    assert.equal(full.length, 1, 'one refusal in full')
    assert.match(String((full[0]?.err as { stack?: string } | undefined)?.stack), /\n\s+at /)
    assert.ok(full[0]?.request_id)
    const counts = outage.filter((l) => typeof l.refused === 'number')
    assert.equal(
      counts.reduce((sum, l) => sum + (l.refused as number), 0),
      2_000,
      'every later refusal is counted',
    )
    assert.ok(counts.every((l) => l.level === 40 && l.code === 'unavailable' && l.err === undefined))
    assert.ok(
      counts.length <= Math.ceil(seconds) + 2,
      `${counts.length} count lines in ${seconds.toFixed(1)} s`,
    )
    assert.equal(counts.at(-1)?.last_request_id, refusal.body.correlation_id)
    assert.ok(Object.keys(counts[0]?.causes as object).every((code) => /^SQLITE_(IOERR|FULL)/.test(code)))
    assert.equal(
      outage.filter((l) => l.msg === 'request completed').length,
      0,
      'refused requests complete at debug',
    )
    const notReadyLines = outage.filter((l) => String(l.msg).startsWith('not ready'))
    assert.ok(notReadyLines.length >= 1 && notReadyLines.length <= 2, 'logged when it changes, not per poll')
    const bytes = outage.reduce((sum, l) => sum + JSON.stringify(l).length + 1, 0)
    assert.ok(bytes < 10_000, `${bytes} bytes of logs for 2,001 refused requests`)

    // The disk takes writes again: /ready probes and recovers with no issue traffic at all.
    fileSizeLimit(pid, original)
    let ready = await get('/ready')
    for (let i = 0; i < 20 && ready.status !== 200; i++) {
      await sleep(250)
      ready = await get('/ready')
    }
    assert.deepEqual(ready, { status: 200, body: { status: 'ready' } })
    await waitFor(() => server.logs.some((l) => l.msg === 'ready again'), 3_000)
    assert.ok(server.logs.some((l) => l.msg === 'ready again'))
    // The probes that failed moved nothing; the one that succeeded reserved one value, never issued.
    assert.equal(await counter(), counterBefore + 1)
    const stored = async () =>
      Number((await sql<{ n: number }>`select count(*) as n from tracking_numbers`.execute(db)).rows[0]?.n)
    assert.equal(await stored(), 50, 'nothing stored during the outage, by requests or probes')

    const after = await issueMany(server.port, 50, 8)
    assert.equal(after.failures, 0)
    assert.equal(await stored(), 100)
    const all = [...before.numbers, ...after.numbers]
    assert.equal(new Set(all).size, all.length)
    assert.equal(await server.stop(), 0)
  })
