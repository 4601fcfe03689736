import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { bootstrapAdmin, cliCommand, FIRST_USER, type FirstRun } from '../../src/auth/bootstrap.js'
import { createAuth } from '../../src/auth/index.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import {
  dialect,
  migratedDatabase,
  TEST_SECRET_KEY,
  tempDir,
  testDatabaseUrl,
  testEnv,
} from '../helpers/build.js'
import { startServer, waitFor } from '../helpers/processes.js'
import { program } from '../helpers/programs.js'
import { ROOT } from '../helpers/root.js'

/** The auth service on its own connection to `url` (a process of its own, as far as the database sees). */
async function usersOn(t: TestContext, url: string) {
  const db = await migratedDatabase(t, url)
  const auth = await createAuth({ db, config: loadConfig(testEnv(url)), log: { warn() {} } })
  t.after(() => auth.close())
  return auth.service
}

function settings(t: TestContext, overrides: { password?: string; generate?: boolean } = {}) {
  return {
    password: undefined,
    generate: true,
    passwordFile: join(tempDir(t), 'initial-admin-password'),
    ...overrides,
  }
}

test('an empty database gets admin, its password in a file only this user may read; the next run does nothing', async (t) => {
  const users = await usersOn(t, await testDatabaseUrl(t))
  const first = settings(t)
  const outcome = await bootstrapAdmin({ users, settings: first })
  assert.deepEqual(outcome, { kind: 'created', passwordFile: first.passwordFile })
  assert.equal(statSync(first.passwordFile).mode & 0o777, 0o600)
  const password = readFileSync(first.passwordFile, 'utf8').trim()
  assert.ok(password.length >= 20, 'a generated password, long enough')
  const pair = await users.login(FIRST_USER, password)
  assert.ok(pair.access)
  assert.deepEqual(
    (await users.listUsers()).map((u) => [u.username, u.role]),
    [[FIRST_USER, 'admin']],
  )

  const again = await bootstrapAdmin({ users, settings: first })
  assert.deepEqual(again, { kind: 'not_needed' })
  assert.equal(readFileSync(first.passwordFile, 'utf8').trim(), password, 'the file is left as it was')
})

test('a database that has a user, even a disabled one, is left alone', async (t) => {
  const users = await usersOn(t, await testDatabaseUrl(t))
  await users.createUser('ops.jane', 'a long enough password', 'operator')
  await users.setDisabled('ops.jane', true)
  const chosen = settings(t)
  assert.deepEqual(await bootstrapAdmin({ users, settings: chosen }), { kind: 'not_needed' })
  assert.equal(existsSync(chosen.passwordFile), false)
  assert.deepEqual(
    (await users.listUsers()).map((u) => u.username),
    ['ops.jane'],
  )
})

test('production: nothing without BOOTSTRAP_ADMIN_PASSWORD; with it, admin gets that password and no file', async (t) => {
  const url = await testDatabaseUrl(t)
  const users = await usersOn(t, url)
  const production = loadConfig(testEnv(url, { NODE_ENV: 'production' })).auth.bootstrap
  assert.equal(production.generate, false)
  const asked = { ...production, passwordFile: join(tempDir(t), 'initial-admin-password') }
  assert.deepEqual(await bootstrapAdmin({ users, settings: asked }), { kind: 'not_asked' })
  assert.deepEqual(await users.listUsers(), [])

  const password = 'the operator chose this one'
  const given = loadConfig(testEnv(url, { NODE_ENV: 'production', BOOTSTRAP_ADMIN_PASSWORD: password }))
  const withPassword = { ...given.auth.bootstrap, passwordFile: asked.passwordFile }
  assert.deepEqual(await bootstrapAdmin({ users, settings: withPassword }), {
    kind: 'created',
    passwordFile: undefined,
  })
  assert.equal(existsSync(asked.passwordFile), false, 'the operator knows the password: no file')
  assert.ok((await users.login(FIRST_USER, password)).access)
  // Once: a later start with the variable still set changes nothing.
  assert.deepEqual(await bootstrapAdmin({ users, settings: withPassword }), { kind: 'not_needed' })
})

test('processes racing on an empty database: exactly one creates admin, and the file holds its password', async (t) => {
  const url = await testDatabaseUrl(t)
  const processes = await Promise.all([1, 2, 3, 4].map(() => usersOn(t, url)))
  const shared = settings(t)
  const outcomes = await Promise.all(processes.map((users) => bootstrapAdmin({ users, settings: shared })))
  const kinds = outcomes.map((o) => o.kind)
  assert.equal(kinds.filter((k) => k === 'created').length, 1, kinds.join(', '))
  assert.ok(
    kinds.every((k) => k === 'created' || k === 'taken' || k === 'not_needed'),
    kinds.join(', '),
  )
  const [users] = processes
  assert.ok(users)
  assert.equal((await users.listUsers()).length, 1)
  const password = readFileSync(shared.passwordFile, 'utf8').trim()
  assert.ok((await users.login(FIRST_USER, password)).access, 'the file holds the password that won')

  // The lost race itself, made certain: a process that saw no user, then lost the insert. Its
  // file (a name of its own here, so that it gets as far as the insert) is removed again.
  const lateSettings = settings(t)
  const late: FirstRun = await bootstrapAdmin({
    users: { hasUsers: async () => false, createUser: users.createUser },
    settings: lateSettings,
  })
  assert.deepEqual(late, { kind: 'taken' })
  assert.equal(existsSync(lateSettings.passwordFile), false, "the loser's file is removed")
  // One that finds the winner's file: it waits for the winner's user, and leaves the file alone.
  let asked = 0
  const waiting: FirstRun = await bootstrapAdmin({
    users: { hasUsers: async () => asked++ > 0 && users.hasUsers(), createUser: users.createUser },
    settings: shared,
    sleep: async () => {},
  })
  assert.deepEqual(waiting, { kind: 'taken' })
  assert.equal(readFileSync(shared.passwordFile, 'utf8').trim(), password, 'the loser leaves the file alone')
})

test("a password file already there (another database's in the same folder) is never overwritten, and no user is made", async (t) => {
  const first = await usersOn(t, await testDatabaseUrl(t))
  const second = await usersOn(t, await testDatabaseUrl(t))
  const shared = settings(t)
  assert.equal((await bootstrapAdmin({ users: first, settings: shared })).kind, 'created')
  const password = readFileSync(shared.passwordFile, 'utf8').trim()

  const outcome = await bootstrapAdmin({ users: second, settings: shared, sleep: async () => {} })
  assert.deepEqual(outcome, { kind: 'file_exists', passwordFile: shared.passwordFile })
  assert.equal(
    readFileSync(shared.passwordFile, 'utf8').trim(),
    password,
    'the first database keeps its password',
  )
  assert.ok((await first.login(FIRST_USER, password)).access)
  assert.equal(await second.hasUsers(), false, 'no admin without a password anyone can read')
})

test('config: the password file sits beside the SQLite file, else in ./data; a bad password names the variable only', () => {
  const sqlite = loadConfig({ DATABASE_URL: 'sqlite:/srv/waybill/db.sqlite' }).auth.bootstrap
  assert.deepEqual(sqlite, {
    password: undefined,
    generate: true,
    passwordFile: '/srv/waybill/initial-admin-password',
  })
  assert.equal(loadConfig({}).auth.bootstrap.passwordFile, 'data/initial-admin-password')
  const postgres = loadConfig({ DATABASE_URL: 'postgres://db.example/waybill' }).auth.bootstrap
  assert.equal(postgres.passwordFile, 'data/initial-admin-password')
  for (const bad of ['too short', ' '.repeat(20)]) {
    assert.throws(
      () => loadConfig({ BOOTSTRAP_ADMIN_PASSWORD: bad }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^BOOTSTRAP_ADMIN_PASSWORD: must be 12 to 1024 characters/.test(error.message) &&
        !error.message.includes(bad),
    )
  }
})

test('the printed CLI command: npm script or compiled entry, the settings it needs, no secret', () => {
  assert.equal(cliCommand({}), 'npm run --silent cli --')
  assert.equal(cliCommand({ DATABASE_URL: 'sqlite:data/waybill.db' }), 'npm run --silent cli --')
  assert.equal(cliCommand({ NODE_ENV: 'production' }), 'NODE_ENV=production node dist/src/cli.js')
  assert.equal(
    cliCommand({ DATABASE_URL: "sqlite:/tmp/it's.db" }),
    `DATABASE_URL='sqlite:/tmp/it'\\''s.db' npm run --silent cli --`,
  )
  assert.equal(
    cliCommand({ NODE_ENV: 'production', DATABASE_URL: 'postgres://waybill:s3cret@db/waybill' }),
    "NODE_ENV=production DATABASE_URL='postgres://waybill:***@db/waybill' node dist/src/cli.js",
  )
  // The service's own key: the CLI must sign with it too. Named, never printed.
  assert.equal(
    cliCommand({ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(40) }),
    'NODE_ENV=production SECRET_KEY=*** node dist/src/cli.js',
  )
  assert.equal(cliCommand({ SECRET_KEY: 'k'.repeat(40) }), 'SECRET_KEY=*** npm run --silent cli --')
})

function cli(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [...program('cli'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  })
  assert.equal(result.status, 0, result.stderr)
  return result.stdout.trim()
}

// The start itself, on SQLite files (the password file's place depends on it); registered only in
// the SQLite pass, never skipped.
if (dialect === 'sqlite') {
  test('the first start says once where the admin page and the password are, and how to issue a number', async (t) => {
    const folder = tempDir(t)
    const env = { NODE_ENV: 'development', DATABASE_URL: `sqlite:${join(folder, 'waybill.db')}` }
    const server = await startServer(env, 60_000)
    t.after(() => server.stop())
    // Standard error is a pipe of its own: its lines may arrive after stdout's ready line.
    await waitFor(() => server.output.join('').includes('This is said once'), 10_000)
    const said = server.output.join('')
    const origin = `http://127.0.0.1:${server.port}`
    const passwordFile = join(folder, 'initial-admin-password')
    assert.ok(said.includes(`Admin page: ${origin}/admin/`), said)
    assert.ok(said.includes(`its password is in ${passwordFile}`), said)
    // Another terminal has neither the DATABASE_URL nor the SECRET_KEY of this start (startServer
    // sets one): the command names both, the key's value left out.
    assert.ok(
      said.includes(`TOKEN=$(${cliCommand({ ...env, SECRET_KEY: TEST_SECRET_KEY })} token admin)`),
      said,
    )
    assert.ok(
      said.includes(
        `TOKEN=$(SECRET_KEY=*** DATABASE_URL='${env.DATABASE_URL}' npm run --silent cli -- token admin)`,
      ),
      said,
    )
    assert.ok(!said.includes(TEST_SECRET_KEY), 'the key is never printed')
    const logged = server.logs.filter((l) => String(l.msg).startsWith('first run: created the user admin'))
    assert.equal(logged.length, 1)
    assert.equal(logged[0]?.password_file, passwordFile)
    assert.equal(statSync(passwordFile).mode & 0o777, 0o600)

    // The command it prints works: a token for admin from the CLI issues a number.
    const curl = /curl -H "Authorization: Bearer \$TOKEN" '([^']+)'/.exec(said)?.[1]
    assert.ok(curl?.startsWith(`${origin}/next-tracking-number?`), said)
    if (!curl) return
    const token = cli(['token', 'admin'], { ...env, SECRET_KEY: TEST_SECRET_KEY })
    const issued = await fetch(curl, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(issued.status, 200, await issued.clone().text())
    assert.match(((await issued.json()) as { tracking_number: string }).tracking_number, /^[A-Z0-9]{16}$/)
    // And the password signs in, as the admin page does.
    const password = readFileSync(passwordFile, 'utf8').trim()
    const login = await fetch(`${origin}/api/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    })
    assert.equal(login.status, 200)
    assert.ok(!said.includes(password) && !JSON.stringify(server.logs).includes(password), 'never printed')
    assert.equal(await server.stop(), 0)

    const second = await startServer(env, 60_000)
    t.after(() => second.stop())
    await new Promise((resolve) => setTimeout(resolve, 1_000)) // what it would say has arrived
    assert.ok(!second.output.join('').includes('Admin page'), second.output.join(''))
    assert.ok(!second.logs.some((l) => String(l.msg).startsWith('first run')))
    assert.equal(readFileSync(passwordFile, 'utf8').trim(), password)
  })

  test('WEB_CONCURRENCY=2 on an empty database: one worker creates admin and says so, once', async (t) => {
    const folder = tempDir(t)
    const server = await startServer(
      {
        NODE_ENV: 'development',
        DATABASE_URL: `sqlite:${join(folder, 'waybill.db')}`,
        WEB_CONCURRENCY: '2',
      },
      60_000,
    )
    t.after(() => server.stop())
    await waitFor(() => server.output.join('').includes('This is said once'), 10_000)
    await new Promise((resolve) => setTimeout(resolve, 1_000)) // a second message would have arrived
    const said = server.output.join('')
    assert.equal(said.split('Admin page:').length - 1, 1, said)
    assert.equal(server.logs.filter((l) => String(l.msg).startsWith('first run')).length, 1)
    const listed = cli(['users', 'list'], { DATABASE_URL: `sqlite:${join(folder, 'waybill.db')}` })
    assert.match(listed, /^admin\tadmin\tactive\t/)
    assert.equal(listed.split('\n').length, 1)
  })
}
