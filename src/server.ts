// First: it must run before a garbage collection can free what it keeps (see tick-shape.ts).
import './tick-shape.js'
import cluster from 'node:cluster'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { buildApp } from './app.js'
import { cliCommand, FIRST_USER, firstRunMessage, localOrigin } from './auth/bootstrap.js'
import { type Config, ConfigError, loadConfig, loadEnvFile } from './config.js'
import { serveGroupMetrics } from './observability/cluster-metrics.js'
import { exitAfterLogs, flushLogs } from './observability/logger.js'
import { TrackingKeyError } from './tracking/key.js'

/** What an operator can fix, said in one line naming the setting; anything else with its stack. */
function explain(error: unknown): string | undefined {
  if (error instanceof ConfigError || error instanceof TrackingKeyError) return error.message
  const { code, address, port, message } = error as {
    code?: string
    address?: string
    port?: number
    message?: string
  }
  if (error instanceof ListenError) {
    if (code === 'EADDRINUSE') return `PORT: ${error.host}:${error.port} is already in use`
    if (code === 'EACCES') return `PORT: not allowed to listen on ${error.host}:${error.port}`
    return `HOST: cannot listen on ${error.host}:${error.port} (${code ?? message})`
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN') {
    return `DATABASE_URL: cannot reach the database (${code}${address ? ` ${address}:${port}` : ''})`
  }
  // PostgreSQL refusing the connection itself: no such database (3D000), role or password (28xxx).
  if (code === '3D000' || code?.startsWith('28')) return `DATABASE_URL: ${message} (PostgreSQL ${code})`
  // SQLite's file (or its folder) cannot be created, opened or written: permissions, a full disk.
  const { path, syscall } = error as { path?: string; syscall?: string }
  if (code && SQLITE_FILE_ERRORS.test(code)) return `DATABASE_URL: the SQLite database: ${message} (${code})`
  if (code && FILE_ERRORS.has(code) && (syscall === 'mkdir' || syscall === 'open')) {
    return `DATABASE_URL: cannot create the SQLite database's folder ${path ?? ''} (${code})`
  }
  return undefined
}

const SQLITE_FILE_ERRORS = /^SQLITE_(CANTOPEN|READONLY|FULL|IOERR|PERM|NOTADB)/
const FILE_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EEXIST', 'ENOTDIR'])

/** Listening failed: the address settings, not the database, are at fault. */
class ListenError extends Error {
  readonly code: string | undefined
  constructor(
    readonly host: string,
    readonly port: number,
    cause: unknown,
  ) {
    super(`cannot listen on ${host}:${port}`, { cause })
    this.code = (cause as { code?: string }).code
  }
}

function fail(error: unknown): never {
  const message = explain(error)
  console.error(message ? `waybill: ${message}` : error)
  process.exit(1)
}

function onSignals(handler: (signal: string) => void): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => handler(signal))
}

/** On an empty database: create `admin` and say, once, where to sign in and how to issue a number. */
async function firstRun(app: FastifyInstance, config: Config, port: number): Promise<void> {
  try {
    const outcome = await app.firstRun()
    if (outcome.kind === 'file_exists') {
      app.log.warn(
        { password_file: outcome.passwordFile },
        `first run: no user exists, but ${outcome.passwordFile} does (another database's?) and is never overwritten, so no user was created; move it away and restart, or create one with \`${cliCommand(process.env)} users create ${FIRST_USER} --role admin\``,
      )
      return
    }
    if (outcome.kind === 'not_asked') {
      app.log.warn(
        `no user exists yet: create one with \`${cliCommand(process.env)} users create <name> --role admin\`, or start once with BOOTSTRAP_ADMIN_PASSWORD`,
      )
      return
    }
    if (outcome.kind !== 'created') return
    const origin = localOrigin(config.host, port)
    app.log.info(
      { user: FIRST_USER, admin_page: `${origin}/admin/`, password_file: outcome.passwordFile ?? null },
      `first run: created the user ${FIRST_USER} (role admin); ${
        outcome.passwordFile
          ? `its password is in ${outcome.passwordFile}`
          : 'password from BOOTSTRAP_ADMIN_PASSWORD'
      }`,
    )
    // Plain words for the person at the terminal; stderr keeps stdout all JSON log lines.
    console.error(firstRunMessage(origin, outcome.passwordFile, cliCommand(process.env)))
  } catch (error) {
    // The service works without it: say so, and how to create a user by hand.
    app.log.warn(
      { err: error },
      `first run: could not create the user ${FIRST_USER}; create one with \`${cliCommand(process.env)} users create ${FIRST_USER} --role admin\``,
    )
  }
}

/** One server process: serve until a signal, then stop accepting, finish in-flight requests, flush, close. */
async function serve(config: Config): Promise<void> {
  const app = await buildApp(config)
  let closing = false
  onSignals((signal) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: no new connections, finishing requests in flight')
    setTimeout(() => {
      app.log.error('shutdown timed out; exiting with requests still in flight')
      exitAfterLogs(app.log, 1)
    }, config.shutdownTimeoutMs).unref()
    app.close().then(
      () => {
        app.log.info('shutdown complete')
        exitAfterLogs(app.log, 0)
      },
      (error) => {
        app.log.error({ err: error }, 'shutdown failed')
        exitAfterLogs(app.log, 1)
      },
    )
  })
  await app.listen({ host: config.host, port: config.port }).catch((error: unknown) => {
    throw new ListenError(config.host, config.port, error)
  })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  await firstRun(app, config, port)
  const facts = { port, database: config.database.target.kind, format: config.tracking.format }
  if (cluster.isWorker) {
    app.log.info(facts, 'worker ready')
    process.send?.({ type: 'ready', port })
  } else {
    app.log.info(facts, 'waybill is ready')
  }
  flushLogs(app.log)
}

/**
 * WEB_CONCURRENCY > 1: workers share the port. If the service never came up (bad key, database
 * unreachable at start) the primary stops; once it has served, a dead worker is replaced, with
 * a growing delay while replacements keep failing (say, during a database outage).
 */
function supervise(config: Config): void {
  const log = pino({
    level: config.logLevel,
    base: { service: 'waybill', role: 'primary', pid: process.pid },
  })
  let stopping = false
  let serving = false
  let failedReplacements = 0
  const ready = new Set<number>()
  serveGroupMetrics()
  const alive = () => Object.keys(cluster.workers ?? {}).length

  const fork = () => {
    if (stopping) return
    const worker = cluster.fork()
    worker.on('message', (message: { type?: string; port?: number }) => {
      if (message.type !== 'ready') return
      ready.add(worker.id)
      failedReplacements = 0
      if (!serving && ready.size === config.workers) {
        serving = true
        log.info({ port: message.port, workers: config.workers }, 'waybill is ready')
      }
    })
  }
  const stopAll = (exitCode: number) => {
    stopping = true
    process.exitCode = exitCode
    if (alive() === 0) process.exit(exitCode)
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
  }

  cluster.on('exit', (worker, code, signal) => {
    const wasReady = ready.delete(worker.id)
    if (stopping) {
      // A worker that could not finish in time (or failed) makes the whole stop a failure, as it
      // would be for a single process.
      if (code !== 0) {
        process.exitCode = 1
        log.warn({ worker: worker.process.pid, code, signal }, 'a worker did not stop cleanly')
      }
      if (alive() === 0) {
        const exitCode = Number(process.exitCode ?? 0)
        log[exitCode === 0 ? 'info' : 'error']({ exitCode }, 'all workers stopped')
        process.exit(exitCode)
      }
      return
    }
    if (!serving) {
      log.fatal({ worker: worker.process.pid, code }, 'a worker failed to start; stopping')
      stopAll(1)
      return
    }
    if (!wasReady) failedReplacements++
    const delay = failedReplacements === 0 ? 0 : Math.min(30_000, 500 * 2 ** (failedReplacements - 1))
    log.error(
      { worker: worker.process.pid, code, signal, retryInMs: delay },
      wasReady ? 'worker died; starting another' : 'a replacement worker failed to start; trying again',
    )
    setTimeout(fork, delay)
  })
  onSignals((signal) => {
    if (stopping) return
    log.info({ signal }, 'stopping all workers')
    setTimeout(() => {
      log.error('workers did not stop in time')
      process.exit(1)
    }, config.shutdownTimeoutMs + 1_000).unref()
    stopAll(0)
  })
  for (let i = 0; i < config.workers; i++) fork()
}

let config: Config
try {
  loadEnvFile()
  config = loadConfig()
} catch (error) {
  fail(error)
}
if (config.workers > 1 && cluster.isPrimary) supervise(config)
else serve(config).catch(fail)
