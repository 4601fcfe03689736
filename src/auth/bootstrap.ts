// The first run: a database with no users gets an `admin`, so that a newcomer can sign in and
// issue a number right after `npm start`, as Jenkins and Argo CD do with an initial password file.
import { randomBytes } from 'node:crypto'
import { linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, relative } from 'node:path'
import { type Config, DEFAULT_DATABASE_URL } from '../config.js'
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
  /**
   * The password file exists already, and no user does (another database's file in the same
   * folder, or one left by hand): it is never overwritten, so no user is created.
   */
  | { kind: 'file_exists'; passwordFile: string }

type Bootstrap = Config['auth']['bootstrap']

// A process that finds the file already there waits this long for the process that put it there
// to create the user (workers of one service race for it) before it calls the file foreign.
const RACE_WAIT_MS = 2_000

/**
 * Creates the first user if there is none. Of several processes racing on an empty database,
 * the unique username lets exactly one insert win; the others answer `taken`. A generated
 * password reaches its file (readable by this user only, never replacing an existing file)
 * before the user exists, so an admin is never left without a known password, and the file is
 * removed again if the user cannot be created.
 */
export async function bootstrapAdmin(deps: {
  users: Pick<AuthService, 'hasUsers' | 'createUser'>
  settings: Bootstrap
  sleep?: (ms: number) => Promise<void>
}): Promise<FirstRun> {
  const { users, settings } = deps
  if (await users.hasUsers()) return { kind: 'not_needed' }
  if (settings.password === undefined && !settings.generate) return { kind: 'not_asked' }
  const password = settings.password ?? randomBytes(18).toString('base64url')
  const file = settings.password === undefined ? settings.passwordFile : undefined
  if (file !== undefined && !placeSecret(file, password)) {
    await (deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))))(RACE_WAIT_MS)
    return (await users.hasUsers()) ? { kind: 'taken' } : { kind: 'file_exists', passwordFile: file }
  }
  try {
    await users.createUser(FIRST_USER, password, 'admin')
  } catch (error) {
    if (file !== undefined) rmSync(file, { force: true })
    if (error instanceof AppError && error.details.username) return { kind: 'taken' }
    throw error
  }
  return { kind: 'created', passwordFile: file }
}

/**
 * Writes the secret to `path` (mode 0600 from the start), whole or not at all, and never over an
 * existing file: false if `path` exists. Written beside it first, then linked into place.
 */
function placeSecret(path: string, secret: string): boolean {
  mkdirSync(dirname(path), { recursive: true })
  // A name of its own: two attempts racing in one process must not share a file.
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  writeFileSync(temporary, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  try {
    linkSync(temporary, path)
    return true
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return false
    throw error
  } finally {
    rmSync(temporary, { force: true })
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

/**
 * How to run the CLI on the same database from another terminal: the npm script from a checkout,
 * the compiled entry in production (the image has no tsx), with NODE_ENV=production there, with
 * SECRET_KEY when the service was given one (its tokens are signed with it; elsewhere the CLI
 * would sign with the key generated beside the data, and the service refuse the token), and with
 * DATABASE_URL when it is not the default. Secrets are not printed: the reader puts the key, and
 * a password in the URL, in place of ***.
 */
export function cliCommand(env: { NODE_ENV?: string; DATABASE_URL?: string; SECRET_KEY?: string }): string {
  const production = env.NODE_ENV === 'production'
  const settings: string[] = []
  if (production) settings.push('NODE_ENV=production')
  if (env.SECRET_KEY) settings.push('SECRET_KEY=***')
  const url = env.DATABASE_URL
  if (url && url !== DEFAULT_DATABASE_URL) {
    const shown = url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
    settings.push(`DATABASE_URL='${shown.replaceAll("'", "'\\''")}'`)
  }
  return [...settings, production ? 'node dist/src/cli.js' : 'npm run --silent cli --'].join(' ')
}

/** What the first start says once, in plain words, when it created the user. */
export function firstRunMessage(origin: string, passwordFile: string | undefined, cli: string): string {
  const where = passwordFile
    ? `its password is in ${shownPath(passwordFile)} (readable by this system user only)`
    : 'its password is the one in BOOTSTRAP_ADMIN_PASSWORD'
  return [
    '',
    `Waybill created the first user, "${FIRST_USER}" (role admin): ${where}.`,
    `  Admin page: ${origin}/admin/ (sign in as ${FIRST_USER})`,
    '  Issue a first number, from another terminal in this folder:',
    `    TOKEN=$(${cli} token ${FIRST_USER})`,
    `    curl -H "Authorization: Bearer $TOKEN" '${origin}/next-tracking-number?${SAMPLE_QUERY}'`,
    ...(cli.includes('***') ? ['  (with the database password in place of ***)'] : []),
    'This is said once: later starts find the user and say nothing of it.',
    '',
  ].join('\n')
}
