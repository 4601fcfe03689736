// HTTP benchmark: Waybill against a minimal node:http server sending the same reply and bare Fastify
// sending it too (the framework's own floor), driven by wrk (a process of its own); then batches of
// 1000 numbers against Waybill alone; then a check of what the service stored. The figure that counts
// is CPU per answered request, from /proc: every thread of the server's process (on PostgreSQL and
// MySQL/MariaDB, plus the database server's processes). req/s and p99 are printed beside it, never alone.
//
// The three are measured in turns, one at a time, for several rounds (BENCH_ROUNDS, default 3): on a
// shared machine whose speed drifts within a minute, each round compares runs seconds apart, and the
// figures reported are the medians of the rounds'.
//
// Every request carries a bearer token, as a real client's would: the service verifies it (and counts it
// against the rate limit) on every request. The token is Waybill's own, signed with a SECRET_KEY made
// for this run. The two reference servers get the same request and ignore the header.
import { randomBytes } from 'node:crypto'
import { rmSync, statSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CpuUse, cpuMeasurable, cpuUsed, type DatabaseCpu, othersSeconds, sampleCpu } from './cpu.js'
import {
  assertSameReply,
  BASELINE_SCRIPT,
  type Child,
  captureReply,
  clientToken,
  countNumbers,
  FRAMEWORK_SCRIPT,
  launchService,
  reference,
  running,
  SAMPLE_FIELDS,
  serviceEnv,
  serviceLogs,
  serviceReady,
  stop,
} from './servers.js'
import { runWrk, type WrkResult, wrkMissing } from './wrk.js'

const HOST = '127.0.0.1'
// The same fields as REQUEST_PATH's query, for the batch body.
const QUERY = SAMPLE_FIELDS
const REQUEST_PATH =
  '/next-tracking-number?origin_country_id=MY&destination_country_id=ID&weight=1.234' +
  '&created_at=2018-11-20T19:29:32%2B08:00&customer_id=de619854-b59b-425e-9db4-943979e1bd49' +
  '&customer_name=RedBox%20Logistics&customer_slug=redbox-logistics'
export const BATCH_PATH = '/tracking-numbers/batch'
export const BATCH_COUNT = 1000
export const BATCH_CONNECTIONS = 16
const WARMUP_SECONDS = 2

export type Server = 'node:http' | 'fastify' | 'waybill' | 'waybill batch'

/** One measured wrk run against one server. */
export interface Round {
  server: Server
  round: number
  wrk: WrkResult
  /** Responses with a 2xx (wrk counts 400 and up as errors; these servers send no 1xx or 3xx). */
  answered: number
  /** CPU seconds by group: serverMain, serverOther, database (PostgreSQL, MySQL; waybill only), loadGenerator, machine. */
  cpu: CpuUse
  /** The 1-minute load average as the run ended. */
  load: number
}

export const serverCpu = (r: Round) =>
  (r.cpu.serverMain ?? 0) + (r.cpu.serverOther ?? 0) + (r.cpu.database ?? 0)
/** CPU µs per answered request (per number for batches): the server's threads plus its database. */
export const cpuPerAnswer = (r: Round) =>
  (serverCpu(r) / Math.max(1, r.answered * (r.server === 'waybill batch' ? BATCH_COUNT : 1))) * 1e6
export const othersCores = (r: Round) => othersSeconds(r.cpu) / r.wrk.durationSeconds

export interface HttpBenchResult {
  label: string
  database: 'sqlite' | 'postgres' | 'mysql'
  connections: number
  seconds: number
  rounds: number
  bodyBytes: number
  /** Measured runs, in the order they ran. */
  runs: Round[]
  /** Non-2xx responses and errors of the warm-ups, which are not in `runs`. */
  warmupFailures: number
  /** 2xx the service sent and the client read, in numbers: sample, warm-ups, measured runs, batches. */
  answered: number
  stored: number // rows added to tracking_numbers during this run
  /** The whole table afterwards; duplicates = rows - distinct. */
  rows: number
  distinct: number
  duplicates: number
  serviceExitCode: number | string | null
  serviceLogBytes: number
}

export interface HttpBenchOptions {
  label: string
  /** Default: a fresh SQLite file in a temporary directory. postgres://… works the same way. */
  databaseUrl?: string
  /** Extra environment for the service only (e.g. WEB_CONCURRENCY). */
  env?: Record<string, string>
  /** Seconds of each measured run (default BENCH_SECONDS or 10). */
  seconds?: number
  /** Measured runs per server, taken in turns (default BENCH_ROUNDS or 3). */
  rounds?: number
  /** Node flags for the service process, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  serviceNodeArgs?: string[]
  /** PostgreSQL: pids of postgres processes that are not this run's (read before each sample). */
  otherDatabasePids?: () => Promise<Set<number>>
  /** MySQL/MariaDB: the server's process (mariadbd or mysqld), whose every thread is counted. */
  databaseServerPid?: number
  /**
   * Awaited with the service's origin right before its first measured run of single numbers, right
   * after its last, and once more at the end (after the batches, before it is stopped).
   */
  probe?: (origin: string, moment: 'before' | 'after' | 'end') => Promise<void>
  /** Skip the batch runs (profiling one route). */
  singlesOnly?: boolean
}

export async function benchHttp(options: HttpBenchOptions): Promise<HttpBenchResult> {
  const missing = wrkMissing()
  if (missing) throw new Error(missing)
  if (!cpuMeasurable())
    throw new Error('http: /proc cannot be read; the benchmark measures CPU from it (Linux)')
  const connections = 64
  const seconds = options.seconds ?? (Number(process.env.BENCH_SECONDS) || 10)
  const rounds = options.rounds ?? (Number(process.env.BENCH_ROUNDS) || 3)
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`http: BENCH_ROUNDS must be 1 or more, got ${rounds}`)
  const dir = await mkdtemp(join(tmpdir(), `waybill-bench-${options.label}-`))
  const databaseUrl = options.databaseUrl ?? `sqlite:${join(dir, 'waybill.db')}`
  const database = /^postgres(?:ql)?:\/\//.test(databaseUrl)
    ? 'postgres'
    : /^(?:mysql|mariadb):\/\//.test(databaseUrl)
      ? 'mysql'
      : 'sqlite'
  const [log, err] = serviceLogs(dir)

  const children: Child[] = []
  // Last resort if this process exits without reaching the finally block.
  const killChildren = () => {
    for (const child of children) if (running(child)) child.process.kill('SIGKILL')
  }
  process.on('exit', killChildren)
  let failed = true
  try {
    const secretKey = randomBytes(32).toString('hex')
    const headers = { Authorization: `Bearer ${await clientToken(secretKey)}` }
    const env = { ...serviceEnv(databaseUrl, secretKey), ...options.env }
    const service = launchService(dir, env, { nodeArgs: options.serviceNodeArgs })
    children.push(service)
    const origin = `http://${HOST}:${await serviceReady(service, log, err)}`
    const before = await countNumbers(databaseUrl)
    const captured = await captureReply(`${origin}${REQUEST_PATH}`, headers, dir)
    const baseline = await reference('baseline', BASELINE_SCRIPT, dir)
    children.push(baseline.child)
    const framework = await reference('framework', FRAMEWORK_SCRIPT, dir)
    children.push(framework.child)
    for (const [name, server] of [
      ['node:http', baseline],
      ['fastify', framework],
    ] as const) {
      await assertSameReply(name, `http://${HOST}:${server.port}${REQUEST_PATH}`, headers, captured)
    }

    const targets = [
      { server: 'node:http', child: baseline.child, origin: `http://${HOST}:${baseline.port}` },
      { server: 'fastify', child: framework.child, origin: `http://${HOST}:${framework.port}` },
      { server: 'waybill', child: service, origin },
    ] as const
    const batchBody = JSON.stringify({ ...QUERY, count: BATCH_COUNT })
    const measure = async (
      server: Server,
      child: Child,
      round: number,
      run: { seconds: number; batch: boolean },
    ) => {
      const pid = child.process.pid as number
      let databaseCpu: DatabaseCpu | undefined
      if (server.startsWith('waybill') && database === 'postgres' && options.otherDatabasePids)
        databaseCpu = { exclude: await options.otherDatabasePids() }
      if (server.startsWith('waybill') && database === 'mysql' && options.databaseServerPid)
        databaseCpu = { pid: options.databaseServerPid }
      const cpuBefore = sampleCpu(pid, databaseCpu)
      const target = targets.find((t) => t.child === child)?.origin ?? origin
      const wrk = await runWrk({
        url: run.batch ? `${target}${BATCH_PATH}` : `${target}${REQUEST_PATH}`,
        headers,
        connections: run.batch ? BATCH_CONNECTIONS : connections,
        seconds: run.seconds,
        dir,
        ...(run.batch ? { method: 'POST' as const, body: batchBody } : {}),
      })
      const cpu = cpuUsed(cpuBefore, sampleCpu(pid, databaseCpu))
      cpu.loadGenerator = wrk.cpuSeconds
      return { server, round, wrk, answered: wrk.requests - wrk.non2xx, cpu, load: loadavg()[0] ?? 0 }
    }

    let warmupFailures = 0
    let answered = 1 // the captured sample
    const warmup = async (server: Server, child: Child, batch: boolean) => {
      console.error(`http: ${server}: ${WARMUP_SECONDS} s warm-up`)
      const w = await measure(server, child, 0, { seconds: WARMUP_SECONDS, batch })
      warmupFailures += w.wrk.non2xx + w.wrk.errors
      if (server.startsWith('waybill')) answered += w.answered * (batch ? BATCH_COUNT : 1)
    }
    for (const t of targets) await warmup(t.server, t.child, false)
    const runs: Round[] = []
    for (let round = 1; round <= rounds; round++) {
      console.error(`http: round ${round} of ${rounds}: ${seconds} s for each server in turn`)
      for (const t of targets) {
        if (t.server === 'waybill' && round === 1) await options.probe?.(origin, 'before')
        const r = await measure(t.server, t.child, round, { seconds, batch: false })
        if (t.server === 'waybill') answered += r.answered
        runs.push(r)
        if (t.server === 'waybill' && round === rounds) await options.probe?.(origin, 'after')
      }
    }
    if (!options.singlesOnly) {
      await warmup('waybill batch', service, true)
      for (let round = 1; round <= rounds; round++) {
        console.error(`http: batches, round ${round} of ${rounds}: ${seconds} s`)
        const r = await measure('waybill batch', service, round, { seconds, batch: true })
        answered += r.answered * BATCH_COUNT
        runs.push(r)
      }
    }
    await options.probe?.(origin, 'end')
    await Promise.all([stop(baseline.child), stop(framework.child)])
    // Stop first: a graceful shutdown flushes any batch still being committed before we count.
    const serviceExitCode = await stop(service)
    const after = await countNumbers(databaseUrl)
    failed = false
    return {
      label: options.label,
      database,
      connections,
      seconds,
      rounds,
      bodyBytes: captured.body.length,
      runs,
      warmupFailures,
      answered,
      stored: after.rows - before.rows,
      rows: after.rows,
      distinct: after.distinct,
      duplicates: after.rows - after.distinct,
      serviceExitCode,
      serviceLogBytes: statSync(log).size,
    }
  } finally {
    await Promise.all(children.map((child) => stop(child)))
    process.off('exit', killChildren)
    // Keep the logs and database of a failed run for a post-mortem.
    if (failed)
      console.error(`http: run failed; logs${database === 'sqlite' ? ' and database' : ''} kept in ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}
