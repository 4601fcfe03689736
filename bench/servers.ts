// The HTTP benchmark's child processes (Waybill, the node:http baseline, bare Fastify) and the check
// of what the service stored, read from the database directly.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import SQLite from 'better-sqlite3'
import { createConnection } from 'mysql2/promise'
import pg from 'pg'
import { createAccessTokens, signingKeyFrom } from '../src/auth/tokens.js'

const HERE = dirname(fileURLToPath(import.meta.url)) // dist/bench once compiled
export const SERVICE_SCRIPT = join(HERE, '..', 'src', 'server.js')
export const BASELINE_SCRIPT = join(HERE, 'baseline-server.js')
export const FRAMEWORK_SCRIPT = join(HERE, 'fastify-server.js')
const HOST = '127.0.0.1'
// Longer than any run; the service checks the token's own expiry, not ACCESS_TOKEN_TTL_SECONDS.
const TOKEN_TTL_SECONDS = 3_600
const START_TIMEOUT_MS = 30_000
// Above the service's own 10 s shutdown timeout, so a slow but graceful shutdown is not cut short.
const STOP_TIMEOUT_MS = 15_000

export interface Child {
  name: string
  process: ChildProcess
  exited: Promise<number | string | null>
}

export function launch(name: string, args: string[], options: SpawnOptions): Child {
  const child = spawn(process.execPath, args, options)
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal))
  })
  return { name, process: child, exited }
}

export function running(child: Child | undefined): child is Child {
  return child !== undefined && child.process.exitCode === null && child.process.signalCode === null
}

/** SIGTERM by pid, then SIGKILL if it has not exited in time. Safe to call twice. */
export async function stop(child: Child | undefined): Promise<number | string | null> {
  if (!child) return null
  if (running(child)) {
    child.process.kill('SIGTERM')
    // Unref'd: a pending timer would otherwise keep the whole benchmark alive for 15 s after the exit.
    const timedOut = await Promise.race([
      child.exited.then(() => false),
      sleep(STOP_TIMEOUT_MS, true, { ref: false }),
    ])
    if (timedOut && running(child)) {
      console.error(`http: ${child.name} ignored SIGTERM for ${STOP_TIMEOUT_MS} ms; killing it`)
      child.process.kill('SIGKILL')
    }
  }
  return child.exited
}

function tail(path: string, lines = 15): string {
  if (!existsSync(path)) return ''
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}

/**
 * What every benchmark runs the service with: an ephemeral port on loopback, info logs. A benchmark
 * is one client (one token subject) sending tens of thousands of requests a second, far more than a
 * client's default budget: the rate limiter stays on and counts every request, as in production,
 * with a budget this one client cannot spend.
 */
export function serviceEnv(databaseUrl: string, secretKey: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PORT: '0',
    HOST,
    SECRET_KEY: secretKey,
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: '1000000000',
  }
}

/**
 * Waybill started in `dir` (so a developer's .env is not read and nothing lands in the repository),
 * logging to service.log and service.err.log there; `nodeArgs` go before the script. Its port:
 * `serviceReady(service, ...serviceLogs(dir))`.
 */
export function launchService(
  dir: string,
  env: Record<string, string>,
  { script = SERVICE_SCRIPT, nodeArgs = [] }: { script?: string; nodeArgs?: string[] } = {},
): Child {
  const fds = serviceLogs(dir).map((path) => openSync(path, 'w'))
  const service = launch('service', [...nodeArgs, script], {
    env: { ...process.env, ...env },
    cwd: dir,
    stdio: ['ignore', ...fds],
  })
  for (const fd of fds) closeSync(fd)
  return service
}

/** The service's log and error log in `dir`. */
export function serviceLogs(dir: string): [string, string] {
  return [join(dir, 'service.log'), join(dir, 'service.err.log')]
}

/** The service logs to a file; its bound port is in the "waybill is ready" line. */
export async function serviceReady(child: Child, logPath: string, errPath: string): Promise<number> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    const ready = readFileSync(logPath, 'utf8')
      .split('\n')
      .find((line) => line.includes('"msg":"waybill is ready"'))
    if (ready) return (JSON.parse(ready) as { port: number }).port
    if (!running(child)) break
    await sleep(50)
  }
  throw new Error(
    `http: the service did not report "waybill is ready" (exit ${child.process.exitCode ?? 'none'})\n` +
      `${tail(errPath)}\n${tail(logPath)}`,
  )
}

/**
 * A reference server (node:http or bare Fastify) sending the reply `captureReply` wrote in `dir`, and
 * its port: the first line of its stdout that is {"port":N} (other lines, a service's log beside it,
 * are passed over). `env` is added to this process's environment; `nodeArgs` go before the script.
 */
export async function reference(
  name: string,
  script: string,
  dir: string,
  { env = {}, nodeArgs = [] }: { env?: Record<string, string>; nodeArgs?: string[] } = {},
) {
  const errPath = join(dir, `${name}.err.log`)
  const errFd = openSync(errPath, 'w')
  const child = launch(name, [...nodeArgs, script], {
    env: {
      ...process.env,
      ...env,
      BASELINE_BODY_FILE: join(dir, REPLY_BODY_FILE),
      BASELINE_HEADERS_FILE: join(dir, REPLY_HEADERS_FILE),
      PORT: '0',
      HOST,
    },
    cwd: dir,
    stdio: ['ignore', 'pipe', errFd],
  })
  closeSync(errFd)
  const lines = createInterface({ input: child.process.stdout as Readable })
  const portLine = (async () => {
    for await (const line of lines) if (/^\{"port":\d+\}$/.test(line)) return line
    return undefined
  })()
  const found = await Promise.race([
    portLine,
    child.exited.then(() => undefined),
    sleep(30_000, undefined, { ref: false }),
  ])
  lines.close()
  if (!found) {
    await stop(child) // or it outlives the benchmark that gave up on it
    throw new Error(`http: the ${name} server did not start\n${tail(errPath)}`)
  }
  return { child, port: (JSON.parse(found) as { port: number }).port }
}

/** A client token the service accepts: signed with the key it derives from the same SECRET_KEY. */
export function clientToken(secretKey: string): Promise<string> {
  return createAccessTokens(signingKeyFrom(secretKey), TOKEN_TTL_SECONDS).sign({
    id: 1,
    username: 'bench',
    role: 'client',
  })
}

/** Where captureReply leaves the reply for the reference servers, in the run's directory. */
export const REPLY_BODY_FILE = 'reply.json'
export const REPLY_HEADERS_FILE = 'reply-headers.json'
/** Headers every node:http server writes itself, each with its own values: not part of what is copied. */
const OWN_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'])

export interface Reply {
  status: number
  /** Every header, in the order sent, names in lower case. */
  headers: [string, string][]
  body: Buffer
}

/** One GET on a connection of its own, headers as sent (fetch would merge and sort them). */
export function getReply(url: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { headers, agent: false }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => {
        const raw = response.rawHeaders
        const pairs: [string, string][] = []
        for (let i = 0; i < raw.length; i += 2)
          pairs.push([(raw[i] as string).toLowerCase(), raw[i + 1] as string])
        resolve({ status: response.statusCode ?? 0, headers: pairs, body: Buffer.concat(chunks) })
      })
    })
    request.on('error', reject)
  })
}

/** A reply's headers but those each server writes itself (date, connection and the like). */
function copied(reply: Reply): [string, string][] {
  return reply.headers.filter(([name]) => !OWN_HEADERS.has(name))
}

/**
 * One real reply, byte for byte, so the reference servers send exactly as much: its body and its
 * headers (but date, connection, keep-alive, content-length and transfer-encoding, which they
 * write themselves), in `dir` as REPLY_BODY_FILE and REPLY_HEADERS_FILE. The x-request-id the service made for it is
 * sent by them on every reply: the same bytes, not a new id each time.
 */
export async function captureReply(
  url: string,
  headers: Record<string, string>,
  dir: string,
): Promise<Reply> {
  const reply = await getReply(url, headers)
  const text = reply.body.toString('utf8')
  let parsed: { tracking_number?: unknown } = {}
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {}
  if (reply.status !== 200 || typeof parsed.tracking_number !== 'string') {
    throw new Error(`http: the service answered ${reply.status}: ${text.slice(0, 300)}`)
  }
  writeFileSync(join(dir, REPLY_BODY_FILE), reply.body)
  writeFileSync(join(dir, REPLY_HEADERS_FILE), JSON.stringify(copied(reply)))
  return reply
}

/**
 * Why a reference server's reply is not the captured one (another status, body, header, order or
 * length), or undefined: the check that the servers compared do send the same bytes.
 */
export async function replyDiffers(
  url: string,
  headers: Record<string, string>,
  captured: Reply,
): Promise<string | undefined> {
  const reply = await getReply(url, headers)
  if (reply.status !== captured.status) return `status ${reply.status}, not ${captured.status}`
  if (!reply.body.equals(captured.body)) return `another body: ${reply.body.toString('utf8').slice(0, 200)}`
  const lines = (r: Reply) => copied(r).map(([name, value]) => `${name}: ${value}`)
  const [got, want] = [lines(reply), lines(captured)]
  if (got.join('\n') !== want.join('\n'))
    return `other headers: ${got.join(' | ')}; captured: ${want.join(' | ')}`
  const length = (r: Reply) => r.headers.find(([name]) => name === 'content-length')?.[1]
  if (length(reply) !== length(captured)) return `content-length ${length(reply)}, not ${length(captured)}`
  return undefined
}

/** Throws, naming the reference, unless its reply at `url` is the captured one (replyDiffers). */
export async function assertSameReply(
  label: string,
  url: string,
  headers: Record<string, string>,
  captured: Reply,
): Promise<void> {
  const problem = await replyDiffers(url, headers, captured)
  if (problem) throw new Error(`the ${label} reference does not send the service's reply: ${problem}`)
}

type Counts = { rows: number; distinct: number }
const COUNT_SQL =
  'select count(*) as "rows", count(distinct tracking_number) as "distinct" from tracking_numbers'

/** Reads the table directly, not through the service: the check must not trust what it checks. */
export async function countNumbers(databaseUrl: string): Promise<Counts> {
  const sqlitePath = /^(?:sqlite|file):(?:\/\/)?(.+)$/.exec(databaseUrl)?.[1]
  if (sqlitePath) {
    const db = new SQLite(sqlitePath, { readonly: true, fileMustExist: true })
    try {
      const row = db.prepare(COUNT_SQL).get() as { rows: number; distinct: number }
      return { rows: Number(row.rows), distinct: Number(row.distinct) }
    } finally {
      db.close()
    }
  }
  if (/^(?:mysql|mariadb):\/\//.test(databaseUrl)) {
    // ROWS is a reserved word on MySQL 8: backquotes, not double quotes (a string there).
    const connection = await createConnection({ uri: databaseUrl.replace(/^mariadb:/, 'mysql:') })
    try {
      const [rows] = await connection.query(
        'select count(*) as `rows`, count(distinct tracking_number) as `distinct` from tracking_numbers',
      )
      const row = (rows as { rows: number | string; distinct: number | string }[])[0]
      return { rows: Number(row?.rows), distinct: Number(row?.distinct) }
    } finally {
      await connection.end()
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    // count(*) is a bigint, which pg returns as a string.
    const { rows } = await client.query<{ rows: string; distinct: string }>(COUNT_SQL)
    return { rows: Number(rows[0]?.rows), distinct: Number(rows[0]?.distinct) }
  } finally {
    await client.end()
  }
}

/** The README's sample request, as fields (the query of every issuing request the benchmarks send). */
export const SAMPLE_FIELDS = {
  origin_country_id: 'MY',
  destination_country_id: 'ID',
  weight: '1.234',
  created_at: '2018-11-20T19:29:32+08:00',
  customer_id: 'de619854-b59b-425e-9db4-943979e1bd49',
  customer_name: 'RedBox Logistics',
  customer_slug: 'redbox-logistics',
}

/** The first of these environment variables that is set, and its name: where a benchmark's database URL comes from. */
export function urlFromEnv(...names: string[]): { url: string; from: string } | undefined {
  for (const from of names) {
    const url = process.env[from]
    if (url) return { url, from }
  }
  return undefined
}

/**
 * On Ctrl-C or SIGTERM, first of all listeners: `cleanUp` (synchronous: stop children by pid, remove
 * files), then exit 130, unless another listener is left to finish and exit (a database being
 * dropped: withFreshDatabase in postgres.ts). Returns what removes it.
 */
export function onInterrupt(cleanUp: () => void): () => void {
  const handler = (signal: NodeJS.Signals) => {
    cleanUp()
    if (process.listenerCount(signal) === 0) process.exit(130)
  }
  process.prependOnceListener('SIGINT', handler).prependOnceListener('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler).off('SIGTERM', handler)
  }
}
