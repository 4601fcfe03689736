#!/usr/bin/env node
// Runs the whole test suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set, and
// on MySQL/MariaDB when TEST_MYSQL_URL is set (e.g. mysql://root@127.0.0.1:3306/: a user that may
// create databases). In CI (CI=true) both servers are required: a run without one fails instead of
// skipping silently.
// Extra arguments are test files to run instead of all of them.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'helpers' ? [] : testFiles(path)
    return entry.name.endsWith('.test.ts') ? [path] : []
  })
}

const chosen = process.argv.slice(2)
const all = chosen.length > 0 ? chosen : testFiles('test').sort()
const postgresOnly = (file) => file.split(/[\\/]/).includes('postgres')
const mysqlOnly = (file) => file.split(/[\\/]/).includes('mysql')
// A file that never opens a database (it uses none of the helpers that do) runs once, on SQLite.
const usesDatabase = (file) => /helpers\/(build|processes|orders)\.js/.test(readFileSync(file, 'utf8'))
const postgresUrl = process.env.TEST_DATABASE_URL
const mysqlUrl = process.env.TEST_MYSQL_URL

if (process.env.CI === 'true' && !postgresUrl) {
  console.error('CI=true but TEST_DATABASE_URL is not set: the PostgreSQL tests are required in CI.')
  process.exit(1)
}
if (process.env.CI === 'true' && !mysqlUrl) {
  console.error('CI=true but TEST_MYSQL_URL is not set: the MySQL/MariaDB tests are required in CI.')
  process.exit(1)
}

// The PostgreSQL and MariaDB passes skip these files unless they are named on the command line or
// TEST_ALL_DIALECTS=1: CI has 20 minutes, and three full passes take more. Each exercises HTTP,
// configuration, UI or process handling that is the same on every dialect, and runs its SQL
// through repositories that the other files cover on every database; the SQLite pass runs them.
const DIALECT_INDEPENDENT = new Set([
  'test/admin/e2e.test.ts', // the admin page in a browser
  'test/admin/plugin.test.ts', // static files and the page's routes
  'test/app.test.ts', // plugin wiring
  'test/http/edges.test.ts', // HTTP parsing and limits
  'test/http/security.test.ts', // headers, CORS, auth on every route
  'test/http/method-not-allowed.test.ts', // 405s, decided before any database access
  'test/nested-bodies.test.ts', // bodies refused before they are parsed
  'test/openapi.test.ts', // the API document
  'test/cli.test.ts', // argument handling (the users it makes: test/auth/users.test.ts)
  'test/auth/oidc-http.test.ts', // an OpenID provider's tokens, checked without SQL
  'test/auth/secrets.test.ts', // log redaction
  'test/tracking/validation.test.ts', // bad input, refused before any database access
  'test/tracking/fast-route.test.ts', // the issuing route on node:http, compared with Fastify's
  'test/notifications/shutdown.test.ts', // the SMS worker's shutdown timing
  'test/observability/unwritable-database.test.ts', // a SQLite file that cannot be written
  'test/tick-shape.test.ts', // V8's feedback for process.nextTick, in the service's process
  'test/db/sqlite-binding.test.ts', // how SQLite's statements bind (a SQLite file of its own)
])
const trimmed = chosen.length === 0 && process.env.TEST_ALL_DIALECTS !== '1'
const trim = (label, files) => {
  if (!trimmed) return files
  const kept = files.filter((f) => !DIALECT_INDEPENDENT.has(f.split(/[\\/]/).join('/')))
  console.log(
    `${label}: ${files.length - kept.length} dialect-independent files left to the SQLite pass (DIALECT_INDEPENDENT in scripts/test.mjs; TEST_ALL_DIALECTS=1 runs them).`,
  )
  return kept
}

const runs = [{ dialect: 'sqlite', files: all.filter((f) => !postgresOnly(f) && !mysqlOnly(f)) }]
if (postgresUrl)
  runs.push({
    dialect: 'postgres',
    files: trim(
      'PostgreSQL',
      all.filter((f) => postgresOnly(f) || (!mysqlOnly(f) && usesDatabase(f))),
    ),
  })
else console.log('TEST_DATABASE_URL is not set: not running on PostgreSQL (set it to run there too).')
if (mysqlUrl)
  runs.push({
    dialect: 'mysql',
    files: trim(
      'MySQL/MariaDB',
      all.filter((f) => mysqlOnly(f) || (!postgresOnly(f) && usesDatabase(f))),
    ),
  })
else console.log('TEST_MYSQL_URL is not set: not running on MySQL/MariaDB (set it to run there too).')

// The service and the CLI, which tests start in processes of their own (well over a hundred times),
// and the test files themselves run from a build made here once: through tsx each start of the
// service costs about a second more CPU, and each test file (three passes of them) about as much
// again to load its helpers and the source it imports, which CI's two cores pay in wall time.
// test/helpers/programs.ts reads WAYBILL_TEST_BUILD; a test file run by itself, without it, starts
// them through tsx. Types are checked by `npm run typecheck`, not here (--noCheck: a build in a few
// seconds rather than many). Source maps for the test files' stack traces (--enable-source-maps).
const build = resolve('dist', 'test-build')
rmSync(build, { recursive: true, force: true }) // nothing left over from a source since removed
const compiled = spawnSync(
  process.execPath,
  [
    'node_modules/typescript/bin/tsc',
    ...['-p', 'tsconfig.json', '--outDir', build, '--noCheck', '--noEmit', 'false'],
  ],
  { stdio: 'inherit' },
)
if (compiled.status !== 0) {
  console.error(`building the service and tests failed (exit ${compiled.status ?? compiled.signal})`)
  process.exit(1)
}
// A test file's build (test/x.test.ts: dist/test-build/test/x.test.js), or undefined when it has
// none (a file outside this project's tsconfig.json): such a run goes through tsx, as before.
const built = (file) => {
  const path = relative(process.cwd(), resolve(file))
  if (path.startsWith('..') || !path.endsWith('.ts')) return undefined
  const js = join(build, `${path.slice(0, -3)}.js`)
  return existsSync(js) ? js : undefined
}

let failed = false
for (const run of runs) {
  if (run.files.length === 0) continue
  const started = Date.now()
  const js = run.files.map(built)
  // Under c8 (`npm run coverage`, NODE_V8_COVERAGE set) through tsx as before: its filters name
  // src/**/*.ts, which the build's .js files are not.
  const fromBuild = js.every(Boolean) && !process.env.NODE_V8_COVERAGE
  const loader = fromBuild ? ['--enable-source-maps'] : ['--import', 'tsx']
  const files = fromBuild ? js : run.files
  console.log(
    `\n=== ${run.dialect}: ${run.files.length} test files (${fromBuild ? 'their build' : 'through tsx'})`,
  )
  const result = spawnSync(
    process.execPath,
    [...loader, '--test', '--test-concurrency=2', '--test-timeout=300000', ...files],
    {
      stdio: 'inherit',
      env: { ...process.env, WAYBILL_TEST_DIALECT: run.dialect, WAYBILL_TEST_BUILD: build },
    },
  )
  if (result.status !== 0) {
    failed = true
    console.error(`=== ${run.dialect}: FAILED (exit ${result.status ?? result.signal})`)
  }
  console.log(`=== ${run.dialect}: ${Math.round((Date.now() - started) / 1000)} s`)
}
process.exit(failed ? 1 : 0)
