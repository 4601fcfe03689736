// The first run: a database with no users gets an `admin`, so that a newcomer can sign in and
// issue a number right after `npm start`, as Jenkins and Argo CD do with an initial password file.
import { randomBytes } from 'node:crypto'
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, relative } from 'node:path'
import type { Config } from '../config.js'
import { AppError } from '../http/errors.js'
import type { AuthService } from './service.js'

export const FIRST_USER = 'admin'

export type FirstRun =
  /** Some user exists already: nothing to do (every start after the first). */
  | { kind: 'not_needed' }
  /** Production without BOOTSTRAP_ADMIN_PASSWORD: users are created by an operator. */
  | { kind: 'not_asked' }
  /** Created; the password is in `passwordFile`, or it is BOOTSTRAP_ADMIN_PASSWORD (no file). */
  | { kind: 'created'; passwordFile: string | undefined }
  /** Another process (a cluster worker, another instance) created it first. */
  | { kind: 'taken' }

type Bootstrap = Config['auth']['bootstrap']

/**
 * Creates the first user if there is none. Of several processes racing on an empty database,
 * the unique username lets exactly one insert win; the others answer `taken`. A generated
 * password reaches its file (readable by this user only) before the user exists, so an admin
 * is never left without a known password.
 */
export async function bootstrapAdmin(deps: {
  users: Pick<AuthService, 'hasUsers' | 'createUser'>
  settings: Bootstrap
}): Promise<FirstRun> {
  const { users, settings } = deps
  if (await users.hasUsers()) return { kind: 'not_needed' }
  if (settings.password === undefined && !settings.generate) return { kind: 'not_asked' }
  const password = settings.password ?? randomBytes(18).toString('base64url')
  const pending = settings.password === undefined ? stage(settings.passwordFile, password) : undefined
  try {
    await users.createUser(FIRST_USER, password, 'admin')
  } catch (error) {
    pending?.abandon()
    if (error instanceof AppError && error.details.username) return { kind: 'taken' }
    throw error
  }
  pending?.commit()
  return { kind: 'created', passwordFile: pending && settings.passwordFile }
}

/** Writes the secret beside its final name (mode 0600 from the start), renamed into place on commit. */
function stage(path: string, secret: string) {
  mkdirSync(dirname(path), { recursive: true })
  // A name of its own: two attempts racing in one process must not share (and swap) a file.
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  writeFileSync(temporary, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  return {
    commit: () => renameSync(temporary, path),
    abandon: () => rmSync(temporary, { force: true }),
  }
}

/** The sample request of the README: every query parameter the issuing route requires. */
export const SAMPLE_QUERY =
  'origin_country_id=MY&destination_country_id=ID&weight=1.234&created_at=2018-11-20T19:29:32%2B08:00' +
  '&customer_id=de619854-b59b-425e-9db4-943979e1bd49&customer_name=RedBox%20Logistics&customer_slug=redbox-logistics'

/** Where a browser or curl on this machine reaches a service listening on `host`. */
export function localOrigin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
}

/** A path as short as it can be said from the working directory. */
export function shownPath(path: string): string {
  const fromHere = relative(process.cwd(), path)
  return fromHere.startsWith('..') || isAbsolute(fromHere) ? path : fromHere
}

/** What the first start says once, in plain words, when it created the user. */
export function firstRunMessage(origin: string, passwordFile: string | undefined): string {
  const where = passwordFile
    ? `its password is in ${shownPath(passwordFile)} (readable by this system user only)`
    : 'its password is the one in BOOTSTRAP_ADMIN_PASSWORD'
  return [
    '',
    `Waybill created the first user, "${FIRST_USER}" (role admin): ${where}.`,
    `  Admin page: ${origin}/admin/ (sign in as ${FIRST_USER})`,
    '  Issue a first number, from another terminal in this folder (same DATABASE_URL):',
    `    TOKEN=$(npm run --silent cli -- token ${FIRST_USER})`,
    `    curl -H "Authorization: Bearer $TOKEN" '${origin}/next-tracking-number?${SAMPLE_QUERY}'`,
    'This is said once: later starts find the user and say nothing of it.',
    '',
  ].join('\n')
}
