import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { claimDue, enqueueNotification, markFailed, markSent } from '../src/notifications/outbox.js'
import { migratedDatabase, testDatabaseUrl } from './helpers/build.js'
import { startRefused, startServer } from './helpers/processes.js'
import { program } from './helpers/programs.js'
import { ROOT } from './helpers/root.js'

function cli(args: string[], env: Record<string, string>, input = '') {
  const result = spawnSync(process.execPath, [...program('cli'), ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', ...env },
    input,
    encoding: 'utf8',
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

test('users create (password from stdin), list, disable, enable, token', async (t) => {
  const env = {
    DATABASE_URL: await testDatabaseUrl(t),
    SECRET_KEY: 'cli-test-secret-key-0123456789abcdefghij',
  }
  const password = 'a long enough password'
  const created = cli(['users', 'create', 'ops.jane', '--role', 'operator'], env, `${password}\n`)
  assert.equal(created.code, 0, created.stderr)
  assert.match(created.stdout, /created ops\.jane \(operator\)/)

  const duplicate = cli(['users', 'create', 'ops.jane', '--role', 'client'], env, `${password}\n`)
  assert.equal(duplicate.code, 1)
  assert.match(duplicate.stderr, /username: is already taken/)
  const weak = cli(['users', 'create', 'Bad Name', '--role', 'client'], env, 'short\n')
  assert.equal(weak.code, 1)
  assert.match(weak.stderr, /username:/)
  assert.match(weak.stderr, /password: At least 12 characters/)
  const noRole = cli(['users', 'create', 'someone', '--role', 'root'], env, `${password}\n`)
  assert.equal(noRole.code, 2)
  assert.match(noRole.stderr, /--role must be client, operator or admin/)

  const listed = cli(['users', 'list'], env)
  assert.match(listed.stdout, /^ops\.jane\toperator\tactive\t/m)

  // The token works against a running service on the same database and key, and login works too.
  const token = cli(['token', 'ops.jane'], env).stdout.trim()
  const server = await startServer(env)
  t.after(() => server.stop())
  const base = `http://127.0.0.1:${server.port}`
  const me = await fetch(`${base}/api/me/`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(me.status, 200)
  assert.equal(((await me.json()) as { role: string }).role, 'operator')
  const login = await fetch(`${base}/api/token/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ops.jane', password }),
  })
  assert.equal(login.status, 200)

  assert.equal(cli(['users', 'disable', 'ops.jane'], env).code, 0)
  assert.match(cli(['users', 'list'], env).stdout, /^ops\.jane\toperator\tdisabled\t/m)
  assert.equal(cli(['token', 'ops.jane'], env).code, 1, 'no token for a disabled user')
  // The running service learns of it within its revocation poll (5 s).
  const deadline = Date.now() + 8_000
  let status = 200
  while (status === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    status = (await fetch(`${base}/api/me/`, { headers: { authorization: `Bearer ${token}` } })).status
  }
  assert.equal(status, 401)
  assert.equal(cli(['users', 'enable', 'ops.jane'], env).code, 0)
  assert.equal(cli(['users', 'disable', 'nobody'], env).code, 1)
})

test('production without a SECRET_KEY refuses to start, naming the variable', async (t) => {
  const { code, stderr } = await startRefused({
    NODE_ENV: 'production',
    DATABASE_URL: await testDatabaseUrl(t),
    SECRET_KEY: '',
  })
  assert.notEqual(code, 0)
  assert.match(stderr, /SECRET_KEY: required when NODE_ENV=production/)
})

test('migrate: applies every migration to a fresh database and says so; then it is up to date', async (t) => {
  const env = { DATABASE_URL: await testDatabaseUrl(t) }
  const first = cli(['migrate'], env)
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stdout, /^applied: 0001-tracking, /)
  const second = cli(['migrate'], env)
  assert.equal(second.code, 0, second.stderr)
  assert.equal(second.stdout.trim(), 'database is up to date')
})

test('sms retry: a failed notification, or all of them, back in the queue; nothing else', async (t) => {
  const env = { DATABASE_URL: await testDatabaseUrl(t) }
  const db = await migratedDatabase(t, env.DATABASE_URL)
  for (let i = 0; i < 4; i++) {
    await enqueueNotification(db, { orderId: 1, event: `e${i}`, recipient: '+254722000000', message: 'm' })
  }
  const claimed = await claimDue(db, { limit: 4, now: new Date(), claimTimeoutMs: 60_000 })
  const [failed1, failed2, failed3, sent] = claimed.map((row) => ({
    id: row.id,
    claimToken: row.claim_token,
  }))
  assert.ok(failed1 && failed2 && failed3 && sent)
  for (const row of [failed1, failed2, failed3]) await markFailed(db, row, 'gave up after 41 attempts')
  await markSent(db, sent, { messageId: 'ATXid_1', cost: '1' })
  const states = async () =>
    (await db.selectFrom('notifications').select(['status', 'attempts']).orderBy('id').execute()).map(
      (row) => `${row.status}/${row.attempts}`,
    )

  const one = cli(['sms', 'retry', String(failed1.id)], env)
  assert.equal(one.code, 0, one.stderr)
  assert.equal(one.stdout.trim(), 'requeued 1 failed notification')
  assert.deepEqual(await states(), ['pending/0', 'failed/1', 'failed/1', 'sent/1'])

  const again = cli(['sms', 'retry', String(failed1.id)], env)
  assert.equal(again.code, 1)
  assert.match(again.stderr, new RegExp(`notification ${failed1.id} is pending, not failed`))
  const delivered = cli(['sms', 'retry', String(sent.id)], env)
  assert.equal(delivered.code, 1)
  assert.match(delivered.stderr, new RegExp(`notification ${sent.id} is sent, not failed`))
  const missing = cli(['sms', 'retry', '999999'], env)
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /no notification 999999/)
  const bad = cli(['sms', 'retry', 'all'], env)
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /a notification id .* or --failed is required/)

  const all = cli(['sms', 'retry', '--failed'], env)
  assert.equal(all.code, 0, all.stderr)
  assert.equal(all.stdout.trim(), 'requeued 2 failed notifications')
  assert.deepEqual(await states(), ['pending/0', 'pending/0', 'pending/0', 'sent/1'])
  assert.equal(cli(['sms', 'retry', '--failed'], env).stdout.trim(), 'requeued 0 failed notifications')
})

test('--help prints the usage on standard output and succeeds; no command or an unknown one is a usage error', () => {
  // Anywhere in the line: `migrate --help` asks for help, it does not migrate.
  const asks = [
    ['--help'],
    ['-h'],
    ['help'],
    ['migrate', '--help'],
    ['users', 'create', '--help', '--role', 'client'],
  ]
  for (const ask of asks) {
    const help = cli(ask, { DATABASE_URL: 'postgres://127.0.0.1:1/nowhere' })
    assert.equal(help.code, 0, `${ask.join(' ')}: ${help.stderr}`)
    assert.match(help.stdout, /^Usage: npm run cli -- <command>/)
    assert.match(help.stdout, /users create <username> --role <role>/)
    assert.equal(help.stderr, '')
  }
  for (const wrong of [[], ['nonsense'], ['helpme']]) {
    const refused = cli(wrong, {})
    assert.equal(refused.code, 2, wrong.join(' '))
    assert.match(refused.stderr, /^Usage: npm run cli -- <command>/)
    assert.equal(refused.stdout, '')
  }
})

test('output to a reader that has gone (| head) ends the command quietly', async () => {
  // As `npm run cli` runs it, through tsx: there the write's EPIPE reached the process as an
  // unhandled error, with a stack trace and exit 1 (the build, exiting sooner, never saw it).
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--help'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.destroy() // before it writes: its write fails with EPIPE
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const [code] = await once(child, 'exit')
  assert.equal(stderr, '')
  assert.equal(code, 0)
})
