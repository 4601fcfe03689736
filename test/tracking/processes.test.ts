import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDatabase, TEST_KEY, tempDir, testDatabaseUrl } from '../helpers/build.js'
import { issueMany, type ServerProcess, startRefused, startServer, waitFor } from '../helpers/processes.js'

function dbEnv(databaseUrl: string, env: Record<string, string> = {}) {
  return { DATABASE_URL: databaseUrl, TRACKING_KEY: TEST_KEY, ...env }
}

async function storedNumbers(
  t: Parameters<typeof openDatabase>[0],
  databaseUrl: string,
): Promise<Set<string>> {
  const rows = await openDatabase(t, databaseUrl)
    .selectFrom('tracking_numbers')
    .select('tracking_number')
    .execute()
  const set = new Set(rows.map((r) => r.tracking_number))
  assert.equal(set.size, rows.length, 'the table holds no duplicate')
  return set
}

function stopAfter(t: Parameters<typeof openDatabase>[0], ...servers: ServerProcess[]) {
  t.after(() => Promise.all(servers.map((s) => s.kill9())))
}

test('two processes on one database, small blocks: no overlap, all stored', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const env = dbEnv(databaseUrl, { TRACKING_BLOCK_MIN: '10', TRACKING_BLOCK_MAX: '10' })
  const [a, b] = await Promise.all([startServer(env), startServer(env)])
  stopAfter(t, a, b)

  const [fromA, fromB] = await Promise.all([issueMany(a.port, 3_000, 32), issueMany(b.port, 3_000, 32)])
  assert.equal(fromA.failures + fromB.failures, 0)
  const all = [...fromA.numbers, ...fromB.numbers]
  assert.equal(new Set(all).size, 6_000, 'the two processes never issued the same number')
  assert.equal(await a.stop(), 0)
  assert.equal(await b.stop(), 0)

  const stored = await storedNumbers(t, databaseUrl)
  assert.deepEqual(
    all.filter((n) => !stored.has(n)),
    [],
  )
})

test('kill -9 mid-load, then restart: no number repeats and every answered number is stored', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const env = dbEnv(databaseUrl)
  const first = await startServer(env)
  stopAfter(t, first)

  let killed = false
  let answered = 0
  const load = issueMany(
    first.port,
    1_000_000,
    32,
    () => killed,
    (count) => {
      answered = count
    },
  )
  // Kill while requests are in flight, once a good number have been answered.
  await waitFor(() => answered >= 500, 60_000)
  await first.kill9()
  killed = true
  const before = await load
  assert.ok(before.numbers.length >= 500, `only ${before.numbers.length} answered before the kill`)

  const second = await startServer(env)
  stopAfter(t, second)
  const after = await issueMany(second.port, 3_000, 32)
  assert.equal(after.failures, 0)
  await second.stop()

  const earlier = new Set(before.numbers)
  assert.deepEqual(
    after.numbers.filter((n) => earlier.has(n)),
    [],
    'a number issued after the restart repeats one from before',
  )
  const stored = await storedNumbers(t, databaseUrl)
  assert.deepEqual(
    [...before.numbers, ...after.numbers].filter((n) => !stored.has(n)),
    [],
    'a number answered before the crash was not stored',
  )
})

test('SIGTERM under load: requests in flight are answered and stored, exit code 0', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const server = await startServer(dbEnv(databaseUrl))
  stopAfter(t, server)
  let stopped = false
  let answered = 0
  const load = issueMany(
    server.port,
    1_000_000,
    32,
    () => stopped,
    (count) => {
      answered = count
    },
  )
  // Stopped once well under way (not after a fixed time: a busy machine is slow).
  await waitFor(() => answered >= 500, 60_000)
  const code = await server.stop()
  stopped = true
  const { numbers } = await load
  assert.equal(code, 0)
  assert.ok(numbers.length >= 500, `${numbers.length} answered`)
  const stored = await storedNumbers(t, databaseUrl)
  assert.deepEqual(
    numbers.filter((n) => !stored.has(n)),
    [],
  )
})

test('a start with a different TRACKING_KEY is refused with a clear message', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const server = await startServer(dbEnv(databaseUrl))
  await server.stop()

  const otherKey = TEST_KEY.replace(/^a3/, 'b4')
  const refused = await startRefused(dbEnv(databaseUrl, { TRACKING_KEY: otherKey }))
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /TRACKING_KEY does not match/)
  assert.match(refused.stderr, /Refusing to start/)

  const unset = await startRefused({ DATABASE_URL: databaseUrl })
  assert.equal(unset.code, 1)
  assert.match(unset.stderr, /TRACKING_KEY is not set/)

  const again = await startServer(dbEnv(databaseUrl))
  assert.equal(await again.stop(), 0, 'the right key still starts')
})

test('bad configuration stops the process with a message naming the variable', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  for (const [name, value] of [
    ['PORT', 'eighty'],
    ['DATABASE_URL', 'mongodb://localhost/db'],
    ['TRACKING_KEY', 'too-short'],
    ['LOG_LEVEL', 'loud'],
  ]) {
    const refused = await startRefused({ ...dbEnv(databaseUrl), [name as string]: value as string })
    assert.equal(refused.code, 1, name)
    assert.match(refused.stderr, new RegExp(`${name}:`), name)
  }
})

test('a port already in use stops the start with a message naming PORT', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const first = await startServer(dbEnv(databaseUrl))
  stopAfter(t, first)
  const refused = await startRefused(dbEnv(databaseUrl, { PORT: String(first.port) }))
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /PORT: 127\.0\.0\.1:\d+ is already in use/)
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace')
})

test('a HOST that cannot be listened on is blamed on HOST, not on the database', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  // .invalid never resolves (RFC 2606); the database itself is fine.
  const refused = await startRefused(dbEnv(databaseUrl, { HOST: 'waybill.invalid' }))
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /HOST: cannot listen on waybill\.invalid:/)
  assert.doesNotMatch(refused.stderr, /DATABASE_URL/)
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace')
})

test('WEB_CONCURRENCY=2: /metrics counts every worker, whichever worker answers the scrape', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const server = await startServer(dbEnv(databaseUrl, { WEB_CONCURRENCY: '2' }))
  t.after(() => server.kill9())
  const issued = await issueMany(server.port, 300, 16)
  assert.equal(issued.failures, 0)
  const totals: number[] = []
  for (let i = 0; i < 6; i++) {
    // A new connection each time: the workers take turns accepting them.
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`, { headers: { connection: 'close' } })
    assert.equal(res.status, 200)
    const line = (await res.text()).split('\n').find((l) => l.startsWith('tracking_numbers_issued_total'))
    totals.push(Number(line?.split(' ')[1]))
  }
  assert.deepEqual(totals, Array(6).fill(300), 'the same total from every scrape')
  assert.equal(await server.stop(), 0)
})

test('WEB_CONCURRENCY=2: a worker that cannot finish in time makes the primary exit non-zero', async (t) => {
  const databaseUrl = await testDatabaseUrl(t)
  const server = await startServer(
    dbEnv(databaseUrl, { WEB_CONCURRENCY: '2', SHUTDOWN_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '0' }),
  )
  t.after(() => server.kill9())
  // Requests whose bodies never end, on several connections so that both workers hold some.
  const sockets = Array.from({ length: 6 }, () => {
    const socket = connect(server.port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write(
      'POST /tracking/generate/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    )
    return socket
  })
  t.after(() => {
    for (const socket of sockets) socket.destroy()
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(await server.stop(), 1)
  assert.ok(server.logs.some((l) => l.msg === 'a worker did not stop cleanly'))
})

test('a SQLite file that cannot be created or opened stops the start naming DATABASE_URL', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'not-a-folder'), 'not a database either')
  // A folder where a file is in the way; a file that is not a SQLite database.
  for (const path of [join(dir, 'not-a-folder', 'waybill.db'), join(dir, 'not-a-folder')]) {
    const refused = await startRefused({ DATABASE_URL: `sqlite:${path}`, TRACKING_KEY: TEST_KEY })
    assert.equal(refused.code, 1, path)
    assert.match(refused.stderr, /waybill: DATABASE_URL: /, path)
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace')
  }
})
