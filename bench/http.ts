// HTTP benchmark: Waybill against a minimal node:http server sending the same reply, and against bare
// Fastify sending it too (the framework's own ceiling), all driven by autocannon in the same run; then
// a check of what the service stored. All three servers are child processes on 127.0.0.1; the load
// generator runs in this process.
//
// The three are measured in turns, one at a time, for several rounds (BENCH_ROUNDS, default 3): on a
// shared machine whose speed drifts by a third within a minute (seen here), a baseline measured once,
// before the service, can land in a fast minute and the service in a slow one. Each round's ratio
// compares runs seconds apart; the ratio reported is the median of the rounds'.
//
// Every request carries a bearer token, as a real client's would: the service verifies it (and counts it
// against the rate limit) on every request. The token is Waybill's own, signed with a SECRET_KEY made
// for this run. The baseline gets the same request and ignores the header: it models the cheapest
// possible server, not an authenticating one.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { createAccessTokens, signingKeyFrom } from '../src/auth/tokens.js'
import { type CpuUse, cpuMeasurable, cpuUsed, sampleCpu } from './cpu.js'

const HERE = dirname(fileURLToPath(import.meta.url)) // dist/bench once compiled
const SERVICE_SCRIPT = join(HERE, '..', 'src', 'server.js')
const BASELINE_SCRIPT = join(HERE, 'baseline-server.js')
const FRAMEWORK_SCRIPT = join(HERE, 'fastify-server.js')
const HOST = '127.0.0.1'
const REQUEST_PATH =
  '/next-tracking-number?origin_country_id=MY&destination_country_id=ID&weight=1.234' +
  '&created_at=2018-11-20T19:29:32%2B08:00&customer_id=de619854-b59b-425e-9db4-943979e1bd49' +
  '&customer_name=RedBox%20Logistics&customer_slug=redbox-logistics'
const WARMUP_SECONDS = 2
// Longer than any run; the service checks the token's own expiry, not ACCESS_TOKEN_TTL_SECONDS.
const TOKEN_TTL_SECONDS = 3_600
// The whole benchmark is one client (one token subject), sending tens of thousands of requests a second:
// far more than the default budget of one client (RATE_LIMIT_MAX=100000 per 60 s window). The limiter
// stays on and counts every request, as in production; it is only given a budget this one client
// cannot spend (even at the baseline's rate of ~85,000 req/s, a 60 s window holds about 5 million).
const RATE_LIMIT_MAX = 1_000_000_000
const START_TIMEOUT_MS = 30_000
// Above the service's own 10 s shutdown timeout, so a slow but graceful shutdown is not cut short.
const STOP_TIMEOUT_MS = 15_000

/** Measured run only, except non2xx/errors/timeouts, which include the warm-up. */
export interface TargetFigures {
  requestsPerSecond: number // mean over the measured run: responses / elapsed seconds
  p50Ms: number
  p99Ms: number
  responses2xx: number
  non2xx: number
  errors: number
  timeouts: number
  warmup2xx: number
  /** Requests the measured run completed, whatever their answer. */
  requests: number
  /** CPU seconds used during the measured run, by group (see bench/cpu.ts); absent off Linux. */
  cpu?: CpuUse
}

export interface HttpBenchResult {
  label: string
  database: 'sqlite' | 'postgres'
  connections: number
  seconds: number
  warmupSeconds: number
  bodyBytes: number
  baseline: TargetFigures
  /** Bare Fastify sending the same bytes: the framework's own ceiling on this machine. */
  framework: TargetFigures
  service: TargetFigures
  rounds: number
  /** Median over the rounds of service / baseline requests per second, each round's runs side by side. */
  ratio: number
  /** Each round's service / baseline ratio, in order. */
  ratios: number[]
  /** Median over the rounds of framework / baseline requests per second. */
  frameworkRatio: number
  /** 200s the service sent and the client read: the sample reply plus warm-up and measured runs. */
  answered: number
  stored: number // rows added to tracking_numbers during this run
  /** The whole table afterwards; duplicates = rows - distinct. */
  rows: number
  distinct: number
  duplicates: number
  allStored: boolean // stored ≥ answered
  /** stored - answered: requests in flight when a run stopped, committed but never read by the client. */
  storedNotAnswered: number
  serviceExitCode: number | string | null
  serviceLogBytes: number
}

export interface HttpBenchOptions {
  label: string
  /** Default: a fresh SQLite file in a temporary directory. postgres://… works the same way. */
  databaseUrl?: string
  /** Extra environment for the service only (e.g. WEB_CONCURRENCY). */
  env?: Record<string, string>
  connections?: number
  /** Seconds of each measured run (default BENCH_SECONDS or 10). */
  seconds?: number
  /** Measured runs per server, taken in turns (default BENCH_ROUNDS or 3). */
  rounds?: number
  /** Node flags for the service process, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] (not NODE_OPTIONS-able). */
  serviceNodeArgs?: string[]
  /** Awaited with the service's origin (http://host:port) right before its first measured run and right after its last. */
  probe?: (origin: string, moment: 'before' | 'after') => Promise<void>
}

interface Child {
  name: string
  process: ChildProcess
  exited: Promise<number | string | null>
}

function launch(name: string, args: string[], options: SpawnOptions): Child {
  const child = spawn(process.execPath, args, options)
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal))
  })
  return { name, process: child, exited }
}

function running(child: Child | undefined): child is Child {
  return child !== undefined && child.process.exitCode === null && child.process.signalCode === null
}

/** SIGTERM by pid, then SIGKILL if it has not exited in time. Safe to call twice. */
async function stop(child: Child | undefined): Promise<number | string | null> {
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

/** The service logs to a file (not a pipe into this process, which also runs the load generator). */
async function serviceReady(child: Child, logPath: string, errPath: string): Promise<number> {
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

async function baselinePort(child: Child, errPath: string): Promise<number> {
  const lines = createInterface({ input: child.process.stdout as Readable })
  const first = await Promise.race([
    once(lines, 'line') as Promise<string[]>,
    child.exited.then(() => undefined),
    sleep(10_000, undefined, { ref: false }),
  ])
  lines.close()
  if (!first?.[0]) throw new Error(`http: the baseline server did not start\n${tail(errPath)}`)
  return (JSON.parse(first[0]) as { port: number }).port
}

/** A client token the service accepts: signed with the key it derives from the same SECRET_KEY. */
function clientToken(secretKey: string): Promise<string> {
  return createAccessTokens(signingKeyFrom(secretKey), TOKEN_TTL_SECONDS).sign({
    id: 1,
    username: 'bench',
    role: 'client',
  })
}

/** One real reply, byte for byte, so the baseline sends exactly as much. */
async function captureReply(url: string, headers: Record<string, string>): Promise<Buffer> {
  const response = await fetch(url, { headers })
  const body = Buffer.from(await response.arrayBuffer())
  const parsed = JSON.parse(body.toString('utf8')) as { tracking_number?: unknown }
  if (response.status !== 200 || typeof parsed.tracking_number !== 'string') {
    throw new Error(`http: the service answered ${response.status}: ${body.toString('utf8').slice(0, 300)}`)
  }
  return body
}

/** Nearest-rank percentile of latencies sorted ascending. */
function percentile(sorted: Float64Array, rank: number): number {
  return sorted[Math.max(0, Math.ceil(rank * sorted.length) - 1)] ?? Number.NaN
}

/** `latencies` gets each 2xx's exact time: autocannon's own histogram keeps whole milliseconds only. */
function load(
  url: string,
  headers: Record<string, string>,
  connections: number,
  seconds: number,
  latencies?: number[],
) {
  return new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, headers, connections, duration: seconds }, (error, result) =>
      error ? reject(error) : resolve(result),
    )
    if (latencies) {
      instance.on('response', (_client, status, _bytes, ms) => {
        if (status >= 200 && status < 300) latencies.push(ms)
      })
    }
  })
}

/** One measured run of one server: its figures, and the exact latency of each 2xx. */
interface Run {
  result: autocannon.Result
  latencies: number[]
  cpu?: CpuUse
}

async function measureOnce(
  server: Child,
  url: string,
  headers: Record<string, string>,
  connections: number,
  seconds: number,
): Promise<Run> {
  const latencies: number[] = []
  const pid = server.process.pid
  const cpuBefore = pid !== undefined && cpuMeasurable() ? sampleCpu(pid) : undefined
  const result = await load(url, headers, connections, seconds, latencies)
  const cpu = pid !== undefined && cpuBefore ? cpuUsed(cpuBefore, sampleCpu(pid)) : undefined
  return { result, latencies, ...(cpu ? { cpu } : {}) }
}

function sumCpu(uses: CpuUse[]): CpuUse {
  const total: CpuUse = {}
  for (const use of uses)
    for (const [group, seconds] of Object.entries(use)) total[group] = (total[group] ?? 0) + seconds
  return total
}

/** One server's measured runs, taken together, and its warm-up's failures. */
function combine(warmup: autocannon.Result, runs: Run[]): TargetFigures {
  const sorted = Float64Array.from(runs.flatMap((run) => run.latencies)).sort() // numerically
  const sum = (pick: (result: autocannon.Result) => number) =>
    runs.reduce((total, run) => total + pick(run.result), 0)
  const cpus = runs.flatMap((run) => (run.cpu ? [run.cpu] : []))
  return {
    // Not requests.average: that averages per-second samples, and a near-empty last sample (the stop
    // timer racing the 1 s tick) can pull it down by a tenth.
    requestsPerSecond: sum((r) => r.requests.total) / sum((r) => r.duration),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    responses2xx: sum((r) => r['2xx']),
    // Failures during the warm-up count too: they are requests the service got wrong.
    non2xx: sum((r) => r.non2xx) + warmup.non2xx,
    errors: sum((r) => r.errors) + warmup.errors,
    timeouts: sum((r) => r.timeouts) + warmup.timeouts,
    warmup2xx: warmup['2xx'],
    requests: sum((r) => r.requests.total),
    ...(cpus.length === runs.length && cpus.length > 0 ? { cpu: sumCpu(cpus) } : {}),
  }
}

const rate = (run: Run) => run.result.requests.total / run.result.duration

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

type Counts = { rows: number; distinct: number }
const COUNT_SQL =
  'select count(*) as "rows", count(distinct tracking_number) as "distinct" from tracking_numbers'

/** Reads the table directly, not through the service: the check must not trust what it checks. */
async function countNumbers(databaseUrl: string): Promise<Counts> {
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

export async function benchHttp(options: HttpBenchOptions): Promise<HttpBenchResult> {
  const connections = options.connections ?? 64
  const seconds = options.seconds ?? (Number(process.env.BENCH_SECONDS) || 10)
  const rounds = options.rounds ?? (Number(process.env.BENCH_ROUNDS) || 3)
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`http: BENCH_ROUNDS must be 1 or more, got ${rounds}`)
  const logLevel = options.env?.LOG_LEVEL ?? process.env.LOG_LEVEL
  if (logLevel && !['info', 'debug', 'trace'].includes(logLevel)) {
    // PORT=0: the bound port is only known from the info-level "waybill is ready" line.
    throw new Error(`http: LOG_LEVEL=${logLevel} hides the "waybill is ready" line the benchmark needs`)
  }
  const dir = await mkdtemp(join(tmpdir(), `waybill-bench-${options.label}-`))
  const databaseUrl = options.databaseUrl ?? `sqlite:${join(dir, 'waybill.db')}`
  const database = /^postgres(?:ql)?:\/\//.test(databaseUrl) ? 'postgres' : 'sqlite'
  const paths = {
    log: join(dir, 'service.log'),
    err: join(dir, 'service.err.log'),
    baselineErr: join(dir, 'baseline.err.log'),
    frameworkErr: join(dir, 'framework.err.log'),
    body: join(dir, 'reply.json'),
  }

  let service: Child | undefined
  let baseline: Child | undefined
  let framework: Child | undefined
  // Last resort if this process exits without reaching the finally block (e.g. process.exit elsewhere).
  const killChildren = () => {
    for (const child of [service, baseline, framework]) if (running(child)) child.process.kill('SIGKILL')
  }
  process.on('exit', killChildren)
  let failed = true
  try {
    // A key of this run's own (64 hex characters; the service wants 32 or more), and the benchmark's
    // one client allowed its full rate (see RATE_LIMIT_MAX above): nothing is switched off.
    const secretKey = randomBytes(32).toString('hex')
    const headers = { authorization: `Bearer ${await clientToken(secretKey)}` }
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST,
      SECRET_KEY: secretKey,
      RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
      ...options.env,
    }
    // cwd = the temporary directory, so a developer's .env is not read and nothing lands in the repo.
    const fds = [openSync(paths.log, 'w'), openSync(paths.err, 'w')]
    const args = [...(options.serviceNodeArgs ?? []), SERVICE_SCRIPT]
    service = launch('service', args, { env, cwd: dir, stdio: ['ignore', ...fds] })
    for (const fd of fds) closeSync(fd) // the child holds its own copies
    const servicePort = await serviceReady(service, paths.log, paths.err)
    const origin = `http://${HOST}:${servicePort}`
    const serviceUrl = `${origin}${REQUEST_PATH}`
    const probe = async (moment: 'before' | 'after') => options.probe?.(origin, moment)
    const before = await countNumbers(databaseUrl)

    const body = await captureReply(serviceUrl, headers)
    writeFileSync(paths.body, body)
    const reference = async (name: string, script: string, errPath: string) => {
      const errFd = openSync(errPath, 'w')
      const child = launch(name, [script], {
        env: { ...process.env, BASELINE_BODY_FILE: paths.body, PORT: '0', HOST },
        cwd: dir,
        stdio: ['ignore', 'pipe', errFd],
      })
      closeSync(errFd)
      return { child, port: await baselinePort(child, errPath) }
    }

    // Every server is started before any is measured, and is measured alone: the others wait idle.
    const started = await reference('baseline', BASELINE_SCRIPT, paths.baselineErr)
    baseline = started.child
    const floor = await reference('framework', FRAMEWORK_SCRIPT, paths.frameworkErr)
    framework = floor.child
    // The same request, token included, so that every server costs the client the same to drive.
    const targets = [
      { name: 'baseline', child: baseline, url: `http://${HOST}:${started.port}${REQUEST_PATH}` },
      { name: 'framework', child: framework, url: `http://${HOST}:${floor.port}${REQUEST_PATH}` },
      { name: 'service', child: service, url: serviceUrl },
    ] as const
    const warmups: autocannon.Result[] = []
    for (const target of targets) {
      console.error(`http: ${target.name}: ${WARMUP_SECONDS} s warm-up`)
      warmups.push(await load(target.url, headers, connections, WARMUP_SECONDS))
    }
    const runs: Run[][] = targets.map(() => [])
    for (let round = 1; round <= rounds; round++) {
      console.error(`http: round ${round} of ${rounds}: ${seconds} s measured for each server in turn`)
      for (const [i, target] of targets.entries()) {
        const isService = target.name === 'service'
        if (isService && round === 1) await probe('before')
        runs[i]?.push(await measureOnce(target.child, target.url, headers, connections, seconds))
        if (isService && round === rounds) await probe('after')
      }
    }
    const [baselineRuns, frameworkRuns, serviceRuns] = runs as [Run[], Run[], Run[]]
    const [baselineFigures, frameworkFigures, serviceFigures] = targets.map((_, i) =>
      combine(warmups[i] as autocannon.Result, runs[i] as Run[]),
    ) as [TargetFigures, TargetFigures, TargetFigures]
    const perRound = (server: Run[]) => server.map((run, i) => rate(run) / rate(baselineRuns[i] as Run))
    const ratios = perRound(serviceRuns)
    await Promise.all([stop(baseline), stop(framework)])
    // Stop first: a graceful shutdown flushes any batch still being committed before we count.
    const serviceExitCode = await stop(service)
    const after = await countNumbers(databaseUrl)

    const answered = 1 + serviceFigures.warmup2xx + serviceFigures.responses2xx
    const stored = after.rows - before.rows
    const result: HttpBenchResult = {
      label: options.label,
      database,
      connections,
      seconds,
      warmupSeconds: WARMUP_SECONDS,
      bodyBytes: body.length,
      baseline: baselineFigures,
      framework: frameworkFigures,
      service: serviceFigures,
      rounds,
      ratio: median(ratios),
      ratios,
      frameworkRatio: median(perRound(frameworkRuns)),
      answered,
      stored,
      rows: after.rows,
      distinct: after.distinct,
      duplicates: after.rows - after.distinct,
      allStored: stored >= answered,
      storedNotAnswered: stored - answered,
      serviceExitCode,
      serviceLogBytes: statSync(paths.log).size,
    }
    failed = false
    return result
  } finally {
    await Promise.all([stop(baseline), stop(framework), stop(service)])
    process.off('exit', killChildren)
    // Keep the logs and database of a failed run for a post-mortem.
    if (failed)
      console.error(`http: run failed; logs${database === 'sqlite' ? ' and database' : ''} kept in ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}
