import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, type TestContext } from 'node:test'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { createConnection } from 'mysql2/promise'
import pg from 'pg'
import { buildApp } from '../../src/app.js'
import { ROLES, type Role } from '../../src/auth/roles.js'
import { createAccessTokens, signingKeyFrom } from '../../src/auth/tokens.js'
import { loadConfig } from '../../src/config.js'
import { createDatabase, type Database } from '../../src/db/index.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { HostLocator, parsePostgresUrl } from '../../src/db/postgres-hosts.js'
import type { Issued, TrackingRecord } from '../../src/tracking/repository.js'

export const TEST_KEY = 'a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'

/** Which database this run of the suite uses (scripts/test.mjs runs it once per dialect). */
export const dialect: 'sqlite' | 'postgres' | 'mysql' =
  process.env.WAYBILL_TEST_DIALECT === 'postgres' || process.env.WAYBILL_TEST_DIALECT === 'mysql'
    ? process.env.WAYBILL_TEST_DIALECT
    : 'sqlite'

/**
 * A temporary folder removed after the test. node:test runs `after` hooks in the order they were
 * added, so an app registered later may still be writing in it (a SQLite writer thread's
 * checkpoint): removal retries while the folder is not yet empty.
 */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-test-'))
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }))
  return dir
}

/**
 * TEST_DATABASE_URL with one host, as the helpers (pg.Client, new URL) and the per-file databases
 * need it. A multi-host URL (`postgres://h1,h2/db?target_session_attrs=read-write`, as
 * `pg_autoctl show uri` prints it) is resolved once, at import, to its current primary, the way
 * the service resolves DATABASE_URL.
 */
async function singleHostUrl(url: string): Promise<string> {
  const parsed = parsePostgresUrl(url)
  if (parsed.hosts.length === 1 && parsed.targetSessionAttrs === 'any') return url
  const { target } = await new HostLocator(parsed, 5_000).locate()
  const single = url.replace(
    /^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)[^/?]*/,
    `$1${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`,
  )
  const resolved = new URL(single)
  resolved.searchParams.delete('target_session_attrs')
  // pg reads sslmode=prefer as verify-full; the locator already found what the server takes.
  if (/^(prefer|allow|disable)$/.test(resolved.searchParams.get('sslmode') ?? '')) {
    resolved.searchParams.delete('sslmode')
  }
  return resolved.toString()
}

const postgresServer =
  dialect === 'postgres' && process.env.TEST_DATABASE_URL
    ? await singleHostUrl(process.env.TEST_DATABASE_URL)
    : undefined

export function postgresServerUrl(): string {
  if (!postgresServer) throw new Error('WAYBILL_TEST_DIALECT=postgres needs TEST_DATABASE_URL')
  return postgresServer
}

/** Runs SQL on the PostgreSQL test server (in the database of TEST_DATABASE_URL). */
export async function postgresAdmin(statement: string, url = postgresServerUrl()): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

// One PostgreSQL database per test file (each file runs in its own process), made on first use
// and dropped when the file's tests are done. Files running in parallel then never see each
// other's schemas: Kysely's migrator lists the tables of every schema in its database.
const fileDatabaseName = `waybill_test_${process.pid}_${randomBytes(4).toString('hex')}`
let fileDatabase: Promise<string> | undefined
function fileDatabaseUrl(): Promise<string> {
  fileDatabase ??= (async () => {
    await postgresAdmin(`create database ${fileDatabaseName} template template0`)
    const url = new URL(postgresServerUrl())
    url.pathname = `/${fileDatabaseName}`
    return url.toString()
  })()
  return fileDatabase
}
// Registered at import, so it belongs to the file, not to whichever test first needed the database.
if (dialect === 'postgres') {
  after(async () => {
    if (fileDatabase) await postgresAdmin(`drop database if exists ${fileDatabaseName} with (force)`)
  })
}

export function mysqlServerUrl(): string {
  const url = process.env.TEST_MYSQL_URL
  if (!url) throw new Error('WAYBILL_TEST_DIALECT=mysql needs TEST_MYSQL_URL')
  return url
}

/** Runs SQL on the MySQL/MariaDB test server, as the user of TEST_MYSQL_URL. */
export async function mysqlAdmin(statement: string, url = mysqlServerUrl()): Promise<void> {
  const connection = await createConnection({ uri: url })
  try {
    await connection.query(statement)
  } finally {
    await connection.end()
  }
}

// MySQL has no schemas inside a database: each test gets a database of its own, named after the
// file's process so that leftovers of a killed run are easy to find and drop.
const mysqlPrefix = `waybill_test_${process.pid}_${randomBytes(3).toString('hex')}`
async function mysqlTestDatabaseUrl(t: TestContext): Promise<string> {
  const name = `${mysqlPrefix}_${randomBytes(4).toString('hex')}`
  await mysqlAdmin(`create database ${name} character set utf8mb4 collate utf8mb4_bin`)
  t.after(() => mysqlAdmin(`drop database if exists ${name}`))
  const url = new URL(mysqlServerUrl())
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A database of the test's own: a new SQLite file, a new PostgreSQL schema (selected through
 * the connection's search_path) in the file's database, or a new MySQL database, dropped after
 * the test. No two tests share a table.
 */
export async function testDatabaseUrl(t: TestContext): Promise<string> {
  if (dialect === 'sqlite') return `sqlite:${join(tempDir(t), 'waybill.db')}`
  if (dialect === 'mysql') return mysqlTestDatabaseUrl(t)
  const database = await fileDatabaseUrl()
  const schema = `test_${randomBytes(6).toString('hex')}`
  await postgresAdmin(`create schema ${schema}`, database)
  t.after(() => postgresAdmin(`drop schema ${schema} cascade`, database))
  const url = new URL(database)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/** The SECRET_KEY of every test app and test process, so tests can sign tokens it accepts. */
export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdef0123456789abcdef'

export function testEnv(databaseUrl: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    SECRET_KEY: TEST_SECRET_KEY,
    ...env,
  }
}

const testTokens = createAccessTokens(signingKeyFrom(TEST_SECRET_KEY), 3600)

/**
 * An access token for a user of the given role, signed with TEST_SECRET_KEY. The user need not
 * exist: the service checks a token's signature and claims, not the users table, per request.
 */
export async function tokenFor(role: Role, id = ROLES.indexOf(role) + 1_000): Promise<string> {
  return testTokens.sign({ id, username: `test-${role}`, role })
}

export async function bearer(role: Role): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await tokenFor(role)}` }
}

export type TestApp = FastifyInstance & { databaseUrl: string }

/**
 * The app on a database of its own, closed after the test. Its `inject` sends a bearer token of
 * role `as` (default client) unless the request sets `authorization` itself; `as: null` sends none.
 */
export async function build(
  t: TestContext,
  env: Record<string, string> = {},
  options: { as?: Role | null } = {},
): Promise<TestApp> {
  // Closed before its database's folder is removed (after hooks run in the order they are added).
  let built: FastifyInstance | undefined
  t.after(() => built?.close())
  const databaseUrl = await testDatabaseUrl(t)
  const app = await buildApp(loadConfig(testEnv(databaseUrl, env)))
  built = app
  const role = options.as === undefined ? 'client' : options.as
  if (role) {
    const defaults = await bearer(role)
    const inject = app.inject.bind(app)
    const withToken = (request: InjectOptions | string) => {
      const opts = typeof request === 'string' ? { url: request } : request
      return inject({ ...opts, headers: { ...defaults, ...(opts.headers as object | undefined) } })
    }
    Object.assign(app, { inject: withToken })
  }
  return Object.assign(app, { databaseUrl })
}

/** A second connection to a test's database, for checking what was stored. */
export function openDatabase(t: TestContext, databaseUrl: string) {
  const handle = createDatabase(loadConfig(testEnv(databaseUrl, { DATABASE_POOL_SIZE: '2' })).database)
  t.after(() => handle.close())
  return handle.db
}

/** How many numbers are stored. */
export async function storedNumbers(db: Database): Promise<number> {
  const row = await db
    .selectFrom('tracking_numbers')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** A migrated database of the test's own. */
export async function migratedDatabase(t: TestContext, databaseUrl?: string) {
  const db = openDatabase(t, databaseUrl ?? (await testDatabaseUrl(t)))
  await migrateToLatest(db)
  return db
}

export const validIssue = {
  origin_country_id: 'MY',
  destination_country_id: 'ID',
  weight: '1.234',
  created_at: '2018-11-20T19:29:32+08:00',
  customer_id: 'de619854-b59b-425e-9db4-943979e1bd49',
  customer_name: 'RedBox Logistics',
  customer_slug: 'redbox-logistics',
}

export function issueUrl(
  fields: Record<string, string> = validIssue,
  path = '/next-tracking-number',
): string {
  return `${path}?${new URLSearchParams(fields)}`
}

/** One request's `count` numbers from `sequence` on, for tests below the HTTP layer (not real codec outputs). */
export function testIssued(sequence: number, count = 1): Issued & { uuids: string[] } {
  const { sequence: _s, tracking_number: _t, uuid: _u, ...request } = testRecord(sequence)
  const sequences = Array.from({ length: count }, (_, i) => sequence + i)
  return {
    ...request,
    sequences,
    tracking_numbers: sequences.map((s) => `T${String(s).padStart(15, '0')}`),
    uuids: sequences.map(() => randomUUID()),
  }
}

/** A stored record for tests below the HTTP layer (its number is not a real codec output). */
export function testRecord(sequence: number): TrackingRecord {
  return {
    sequence,
    tracking_number: `T${String(sequence).padStart(15, '0')}`,
    uuid: randomUUID(),
    origin_country: 'MY',
    destination_country: 'ID',
    weight_grams: 1234,
    order_created_at: '2018-11-20T19:29:32+08:00',
    customer_id: randomUUID(),
    customer_name: 'RedBox Logistics',
    customer_slug: 'redbox-logistics',
    created_at: new Date().toISOString(),
  }
}
