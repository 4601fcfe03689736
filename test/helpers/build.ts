import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createDatabase } from '../../src/db/index.js'

export const TEST_KEY = 'a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'

/** A temporary folder removed after the test. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-test-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function testEnv(dir: string, env: Record<string, string> = {}): Record<string, string> {
  return { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: `sqlite:${join(dir, 'waybill.db')}`, ...env }
}

/** The app on its own fresh SQLite file, closed after the test. */
export async function build(
  t: TestContext,
  env: Record<string, string> = {},
): Promise<FastifyInstance & { dir: string }> {
  const dir = tempDir(t)
  const app = await buildApp(loadConfig(testEnv(dir, env)))
  t.after(() => app.close())
  return Object.assign(app, { dir })
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

/** A second connection to a test's database, for checking what was stored. */
export function openDatabase(t: TestContext, dir: string) {
  const handle = createDatabase(loadConfig(testEnv(dir)).database)
  t.after(() => handle.close())
  return handle.db
}
