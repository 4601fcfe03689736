// What the admin page's browser test needs around it: a built page, a user, and Debian's chromium.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { TEST_SECRET_KEY } from '../helpers/build.js'
import { program } from '../helpers/programs.js'
import { ROOT } from '../helpers/root.js'

export const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

function newestChange(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return newest
}

/**
 * Builds the page (`npm run build:admin`) when dist/admin is missing or older than its sources:
 * admin/, and src/, which it imports from. Vite takes about a second.
 */
export function ensureAdminBuilt(): void {
  const index = join(ROOT, 'dist', 'admin', 'index.html')
  const builtAt = existsSync(index) ? statSync(index).mtimeMs : 0
  if (builtAt > Math.max(newestChange(join(ROOT, 'admin')), newestChange(join(ROOT, 'src')))) return
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js')
  const result = spawnSync(
    process.execPath,
    [vite, 'build', '--config', 'admin/vite.config.ts', '--logLevel', 'warn'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  )
  if (result.status !== 0)
    throw new Error(`building the admin page failed:\n${result.stdout}${result.stderr}`)
}

/** A Waybill user made with the CLI, as an operator would (the password on standard input). */
export function createUser(databaseUrl: string, username: string, role: string, password: string): void {
  const result = spawnSync(
    process.execPath,
    [...program('cli'), 'users', 'create', username, '--role', role],
    {
      cwd: ROOT,
      input: `${password}\n`,
      encoding: 'utf8',
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: databaseUrl, SECRET_KEY: TEST_SECRET_KEY },
    },
  )
  if (result.status !== 0) throw new Error(`users create failed:\n${result.stdout}${result.stderr}`)
}

/** Debian's chromium, headless, with everything that would reach for the network turned off. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
