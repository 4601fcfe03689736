import { createInterface } from 'node:readline'
import { Value } from '@sinclair/typebox/value'
import { createAuth } from './auth/index.js'
import { isRole } from './auth/roles.js'
import { CreateUserBody } from './auth/schemas.js'
import { ConfigError, loadConfig, loadEnvFile } from './config.js'
import { createDatabase } from './db/index.js'
import { migrateToLatest } from './db/migrate.js'
import { AppError } from './http/errors.js'
import { notificationStatus, requeueFailed } from './notifications/outbox.js'

const USAGE = `Usage: npm run cli -- <command>

Commands:
  migrate                                  apply pending database migrations (also done at every start)
  users create <username> --role <role>    create a user; the password is read from standard input
                                           (roles: client, operator, admin)
  users list                               list users
  users disable <username>                 disable a user and revoke their tokens
  users enable <username>                  enable a disabled user
  token <username>                         print an access token for the user, for scripts
  sms retry <notification-id>              put a failed SMS back in the queue (due now, attempts reset)
  sms retry --failed                       put every failed SMS back in the queue`

class UsageError extends Error {}

/** The database, migrated, for one command; closed afterwards. */
async function withDatabase<T>(
  work: (db: ReturnType<typeof createDatabase>['db']) => Promise<T>,
): Promise<T> {
  const config = loadConfig()
  const database = createDatabase(config.database)
  try {
    await migrateToLatest(database.db)
    return await work(database.db)
  } finally {
    await database.close()
  }
}

async function withAuth<T>(work: (auth: Awaited<ReturnType<typeof createAuth>>) => Promise<T>): Promise<T> {
  const config = loadConfig()
  return withDatabase(async (db) => {
    const log = { warn: (_: unknown, message?: string) => console.error(`waybill: ${message}`) }
    const auth = await createAuth({ db, config, log })
    try {
      return await work(auth)
    } finally {
      auth.close()
    }
  })
}

/** The password from standard input: typed at a prompt (not echoed), or piped in. */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    process.stderr.write('Password: ')
    // Mute the echo: readline writes what is typed through _writeToOutput.
    ;(rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {}
    const password = await new Promise<string>((resolve) => rl.question('', resolve))
    rl.close()
    process.stderr.write('\n')
    return password
  }
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  return input.replace(/\r?\n$/, '')
}

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name)
  return index >= 0 ? args[index + 1] : undefined
}

async function users(args: string[]): Promise<void> {
  const [action, username] = args
  if (action === 'list') {
    const list = await withAuth((auth) => auth.service.listUsers())
    for (const user of list) {
      console.log(
        [user.username, user.role, user.disabled ? 'disabled' : 'active', user.created_at].join('\t'),
      )
    }
    return
  }
  if (!username) throw new UsageError(`users ${action ?? ''}: a username is required`)
  if (action === 'create') {
    const role = option(args, '--role')
    if (!role || !isRole(role)) throw new UsageError('users create: --role must be client, operator or admin')
    const password = await readPassword()
    const errors = [...Value.Errors(CreateUserBody, { username, password, role })]
    if (errors.length > 0) {
      const details = Object.fromEntries(
        errors.map((e) => [e.path.slice(1), [e.schema.description ?? e.message]]),
      )
      throw new AppError('validation_failed', 'The user is invalid', details)
    }
    const user = await withAuth((auth) => auth.service.createUser(username, password, role))
    console.log(`created ${user.username} (${user.role})`)
    return
  }
  if (action === 'disable' || action === 'enable') {
    await withAuth((auth) => auth.service.setDisabled(username, action === 'disable'))
    console.log(`${action}d ${username}`)
    return
  }
  throw new UsageError(`users: unknown action "${action}"`)
}

async function token(args: string[]): Promise<void> {
  const [username] = args
  if (!username) throw new UsageError('token: a username is required')
  console.log(await withAuth((auth) => auth.service.accessTokenFor(username)))
}

async function sms(args: string[]): Promise<void> {
  const [action, target] = args
  if (action !== 'retry') throw new UsageError(`sms: unknown action "${action ?? ''}"`)
  if (target === '--failed') {
    const count = await withDatabase((db) => requeueFailed(db, 'all'))
    console.log(`requeued ${count} failed notification${count === 1 ? '' : 's'}`)
    return
  }
  const id = Number(target)
  if (!target || !/^\d+$/.test(target) || !Number.isSafeInteger(id) || id < 1) {
    throw new UsageError('sms retry: a notification id (a positive whole number) or --failed is required')
  }
  await withDatabase(async (db) => {
    if ((await requeueFailed(db, { id })) === 1) return
    const status = await notificationStatus(db, id)
    throw new AppError(
      status ? 'conflict' : 'not_found',
      status ? `notification ${id} is ${status}, not failed: nothing to retry` : `no notification ${id}`,
    )
  })
  console.log('requeued 1 failed notification')
}

async function migrate(): Promise<void> {
  // Not withDatabase: it migrates first, and this command must report what it applied.
  const database = createDatabase(loadConfig().database)
  const applied = await migrateToLatest(database.db).finally(() => database.close())
  console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database is up to date')
}

const commands: Record<string, (args: string[]) => Promise<void>> = { migrate, users, token, sms }

async function run(args: string[]): Promise<void> {
  // Anywhere: `migrate --help` must not migrate, nor `users create --help` try to create a user.
  if (args[0] === 'help' || args.includes('--help') || args.includes('-h')) {
    console.log(USAGE) // asked for: on standard output, and a success
    return
  }
  const command = args[0] ? commands[args[0]] : undefined
  if (!command) {
    console.error(USAGE)
    process.exit(2)
  }
  loadEnvFile()
  await command(args.slice(1))
}

// `npm run cli -- users list | head -1`: the reader has gone, and what is left to print is not
// wanted; the command's work is done or, as for any command cut off, left as it was.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error
  process.exit(0)
})

run(process.argv.slice(2)).catch((error) => {
  if (error instanceof UsageError) {
    console.error(`waybill: ${error.message}\n\n${USAGE}`)
    process.exit(2)
  }
  if (error instanceof ConfigError || error instanceof AppError) {
    const details = error instanceof AppError ? Object.entries(error.details) : []
    const lines = details.map(([field, messages]) => `\n  ${field}: ${messages.join(', ')}`).join('')
    console.error(`waybill: ${error.message}${lines}`)
  } else {
    console.error(error)
  }
  process.exit(1)
})
