// A true-CPU profile of one request: Linux perf samples the CPU time of every thread of a server,
// kernel and native code included, where bench/profile.ts (V8's --cpu-prof) samples wall-clock time
// and sees JavaScript only. Three servers in turn, as in bench/http.ts: the node:http baseline and bare
// Fastify (both sending one real captured Waybill reply), then Waybill. Each gets a 2 s warm-up, then
// `perf record -e cpu-clock -g` for as long as wrk -c64 drives GET /next-tracking-number; the samples
// are printed in CPU µs per answered request by thread, by leaf kind, by stage and by leaf symbol
// (the main thread's and, on SQLite, the writer thread's; bench/perf-attribution.ts), beside the
// CPU /proc counted over the same run.
//
//   npm run build && node dist/bench/perf.js [seconds=6] [--only=node,node-in-waybill,fastify,waybill] [--top=25]
//
// node-in-waybill (only when named) is the node:http baseline served from a process that also runs
// Waybill (BASELINE_INSIDE_SERVICE in bench/baseline-server.ts): the same handler, the same bytes, so
// the difference from node:http is what the process around a handler costs it, not Waybill's code.
//
// On a fresh SQLite file; on PostgreSQL with BENCH_DATABASE_URL (a database of its own, dropped after;
// the database server's own CPU is not profiled). Needs /usr/bin/perf (apt-get install linux-perf)
// and the right to profile: root, or kernel.perf_event_paranoid at 1 or less. perf's window starts a
// moment after wrk's, and its sampling costs the server some CPU: read its totals beside /proc's.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { cpuUsed, sampleCpu } from './cpu.js'
import {
  attribute,
  KINDS,
  MAIN,
  newestMapEntries,
  OTHERS,
  readLine,
  type Sample,
  WRITER,
} from './perf-attribution.js'
import { withFreshDatabase } from './postgres.js'
import { int, table } from './report.js'
import {
  assertSameReply,
  BASELINE_SCRIPT,
  type Child,
  captureReply,
  clientToken,
  FRAMEWORK_SCRIPT,
  launchService,
  onInterrupt,
  reference,
  SAMPLE_FIELDS,
  serviceEnv,
  serviceLogs,
  serviceReady,
  stop,
  urlFromEnv,
} from './servers.js'
import { runWrk, wrkMissing } from './wrk.js'

const USAGE = `Usage: node dist/bench/perf.js [seconds=6] [--only=node,node-in-waybill,fastify,waybill] [--top=25]

Profiles the CPU time of the node:http baseline, bare Fastify and Waybill, one after the other, with
perf record -g while wrk -t1 -c64 drives GET /next-tracking-number for <seconds>, and prints CPU µs
per answered request by thread, leaf kind and stage, and the main thread's (and on SQLite the writer
thread's) top leaf symbols. On
SQLite by default; on PostgreSQL with BENCH_DATABASE_URL (a database of its own, dropped after).
node-in-waybill, measured only when named, is the node:http baseline in a process that also runs
Waybill (started first, never sent a request): what the process around a handler costs it.

  node dist/bench/perf.js 6 --only=fastify,waybill --top=40
  node dist/bench/perf.js 6 --only=node,node-in-waybill`

const PERF = '/usr/bin/perf'
const PERF_MAP = '--perf-basic-prof-only-functions' // JIT frames named in /tmp/perf-<pid>.map
const FREQUENCY = 999
const WARMUP_SECONDS = 2
const CONNECTIONS = 64
const NAMES = ['node', 'node-in-waybill', 'fastify', 'waybill'] as const
type Name = (typeof NAMES)[number]
const LABELS: Record<Name, string> = {
  node: 'node:http',
  'node-in-waybill': 'node:http in waybill',
  fastify: 'fastify',
  waybill: 'waybill',
}
// Measured unless --only says otherwise; node-in-waybill is asked for by name.
const DEFAULT_NAMES: Name[] = ['node', 'fastify', 'waybill']
const REFERENCES = [
  ['node', BASELINE_SCRIPT],
  ['fastify', FRAMEWORK_SCRIPT],
] as const
const HELP =
  'perf needs installing (apt-get install linux-perf) and the right to profile other processes, kernel ' +
  'included: run as root, or sysctl -w kernel.perf_event_paranoid=1'

interface Options {
  seconds: number
  only: Name[]
  top: number
}

type Measured = Awaited<ReturnType<typeof measure>>

/** perf could not profile: reported with HELP, exit 1. */
class PerfFailure extends Error {}

function parseArgs(args: string[]): { options: Options; problems: string[] } {
  const options: Options = { seconds: 6, only: DEFAULT_NAMES, top: 25 }
  const problems: string[] = []
  const numbers = args.filter((arg) => /^\d+$/.test(arg)).map(Number)
  for (const arg of args.filter((arg) => !/^\d+$/.test(arg))) {
    const [flag, value = ''] = arg.split(/=(.*)/s)
    const names = value.split(',')
    if (flag === '--only' && names.every((name) => (NAMES as readonly string[]).includes(name)))
      options.only = NAMES.filter((name) => names.includes(name))
    else if (flag === '--top' && /^\d+$/.test(value) && Number(value) >= 1) options.top = Number(value)
    else problems.push(`not understood: ${arg}`)
  }
  if (numbers.length > 1) problems.push(`more than one number of seconds: ${numbers.join(' ')}`)
  if (numbers[0] === 0) problems.push('seconds must be at least 1')
  options.seconds = numbers[0] ?? options.seconds
  return { options, problems }
}

/** Runs perf, each line of its output to `onLine`; never rejects, so that wrk's run beside it ends normally. */
async function runPerf(args: string[], onLine?: (line: string) => void) {
  const child = spawn(PERF, args, { stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const code = new Promise<number | null>((resolve) => child.once('close', resolve))
  if (onLine && child.stdout) for await (const line of createInterface({ input: child.stdout })) onLine(line)
  return { code: await code, stderr: stderr.trim() }
}

/** Undefined if perf can profile with kernel frames here; else why not. */
function perfProblem(dir: string): string | undefined {
  if (!existsSync(PERF)) return `perf.js: ${PERF} not found. ${HELP}`
  const probe = ['record', '-e', 'cpu-clock', '-g', '-o', join(dir, 'probe.data'), '--', 'true']
  const result = spawnSync(PERF, probe, { encoding: 'utf8' })
  if (result.status !== 0) return `perf.js: perf record failed: ${result.stderr.trim()}\n${HELP}`
  // Short of the right, perf quietly leaves the kernel out (its fallback speaks only with -v).
  const paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8'))
  if (process.getuid?.() !== 0 && paranoid > 1)
    return `perf.js: kernel.perf_event_paranoid is ${paranoid}: kernel time would not be seen. ${HELP}`
  return undefined
}

async function profileRun(pid: number, url: string, headers: Record<string, string>, dir: string) {
  const data = join(dir, `perf-${pid}.data`)
  const seconds = String(options.seconds)
  const before = sampleCpu(pid)
  const args = ['record', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-g', '-p', String(pid), '-o', data]
  const [recorded, wrk] = await Promise.all([
    runPerf([...args, '--', 'sleep', seconds]),
    runWrk({ url, headers, connections: CONNECTIONS, seconds: options.seconds, dir }),
  ])
  const cpu = cpuUsed(before, sampleCpu(pid)) // wrk's run, give or take perf's exit
  if (recorded.code !== 0)
    throw new PerfFailure(`perf record failed (exit ${recorded.code}): ${recorded.stderr}`)
  // The map as it stands, of overlapping entries the newest (see newestMapEntries); renamed over
  // the old, so the server's own further writes go to the file it has open, not this one.
  const map = `/tmp/perf-${pid}.map`
  writeFileSync(`${map}.newest`, newestMapEntries(readFileSync(map, 'utf8')))
  renameSync(`${map}.newest`, map)
  const samples: Sample[] = []
  const script = await runPerf(['script', '-i', data, '-F', 'tid,period,ip,sym,dso'], (line) =>
    readLine(samples, line),
  )
  if (script.code !== 0) throw new PerfFailure(`perf script failed (exit ${script.code}): ${script.stderr}`)
  if (samples.length === 0) throw new PerfFailure(`perf recorded no samples of ${pid}: ${recorded.stderr}`)
  return { wrk, cpu, samples }
}

async function measure(name: Name, child: Child, url: string, headers: Record<string, string>, dir: string) {
  const pid = child.process.pid as number
  if (!existsSync(`/tmp/perf-${pid}.map`)) throw new Error(`perf.js: ${name} wrote no /tmp/perf-${pid}.map`)
  console.error(`perf.js: ${LABELS[name]}: ${WARMUP_SECONDS} s warm-up, then ${options.seconds} s profiled`)
  await runWrk({ url, headers, connections: CONNECTIONS, seconds: WARMUP_SECONDS, dir })
  const { wrk, cpu, samples } = await profileRun(pid, url, headers, dir)
  const answered = wrk.requests - wrk.non2xx
  const writerThread = name === 'waybill' && !postgres
  const nodeBinary = process.execPath // resolved by Node, as perf names the binary
  const profile = attribute(samples, { pid, answered, writerThread, nodeBinary, top: options.top })
  return { label: LABELS[name], wrk, answered, cpu, profile }
}

const us = (value: number | undefined) => (value === undefined ? '' : value.toFixed(2))
const share = (value: number, total: number) => `${((value / total) * 100).toFixed(1)} %`
const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0)

function listed(title: string, entries: [string, number][], total: number): void {
  const rows = entries.map(([name, value]) => [us(value), share(value, total), name])
  console.log(`\n  ${title}\n${table(rows, 'rrl')}`)
}

function report(m: Measured): void {
  const proc = (seconds: number | undefined) => ((seconds ?? 0) / m.answered) * 1e6
  const { threads, kinds, stages, leaves, writerStages, writerLeaves } = m.profile
  const rows = [['CPU µs per answered request', 'perf', '/proc', ...KINDS]]
  for (const group of [MAIN, WRITER, OTHERS].filter((g) => threads[g] !== undefined)) {
    const fromProc =
      group === MAIN ? proc(m.cpu.serverMain) : threads[WRITER] ? undefined : proc(m.cpu.serverOther)
    rows.push([group, us(threads[group]), us(fromProc), ...KINDS.map((kind) => us(kinds[group]?.[kind]))])
  }
  rows.push(['all threads', us(sum(threads)), us(proc(m.cpu.serverMain) + proc(m.cpu.serverOther))])
  console.log(
    `\n${m.label}: ${int(m.answered)} answered (${m.wrk.non2xx} non-2xx) in ${m.wrk.durationSeconds.toFixed(1)} s, ` +
      `${int(m.answered / m.wrk.durationSeconds)} req/s, p99 ${m.wrk.p99Ms.toFixed(2)} ms\n${table(rows, 'lrrrrrrr')}`,
  )
  const main = threads[MAIN] ?? 0
  listed(`${m.label}, main thread by stage (µs per request, share)`, Object.entries(stages), main)
  listed(`${m.label}, main thread's top ${leaves.length} leaf symbols`, leaves, main)
  if (threads[WRITER] !== undefined) {
    listed(`${m.label}, writer thread by stage`, Object.entries(writerStages), threads[WRITER])
    listed(
      `${m.label}, writer thread's top ${writerLeaves.length} leaf symbols`,
      writerLeaves,
      threads[WRITER],
    )
  }
}

function compare(measured: Measured[]): void {
  const rows = [['main thread, µs per request', ...measured.map((m) => m.label)]]
  for (const kind of KINDS) rows.push([kind, ...measured.map((m) => us(m.profile.kinds[MAIN]?.[kind] ?? 0))])
  rows.push(['main thread', ...measured.map((m) => us(m.profile.threads[MAIN] ?? 0))])
  rows.push(['all threads', ...measured.map((m) => us(sum(m.profile.threads)))])
  console.log(`\nSide by side (perf)\n${table(rows, `l${'r'.repeat(measured.length)}`)}`)
}

/** Starts the servers, profiles each in turn, reports; stops them (and removes their perf maps) after. */
async function profileAll(dir: string, children: Child[], postgresUrl?: string): Promise<number> {
  try {
    const secretKey = randomBytes(32).toString('hex')
    const databaseUrl = postgresUrl ?? `sqlite:${join(dir, 'waybill.db')}`
    const service = launchService(dir, serviceEnv(databaseUrl, secretKey), { nodeArgs: [PERF_MAP] })
    children.push(service)
    const port = await serviceReady(service, ...serviceLogs(dir))
    const headers = { Authorization: `Bearer ${await clientToken(secretKey)}` }
    const path = `/next-tracking-number?${new URLSearchParams(SAMPLE_FIELDS)}`
    const servers: Partial<Record<Name, { child: Child; port: number }>> = {
      waybill: { child: service, port },
    }
    if (options.only.some((name) => name !== 'waybill')) {
      const captured = await captureReply(`http://127.0.0.1:${port}${path}`, headers, dir)
      for (const [name, script] of REFERENCES) {
        if (!options.only.includes(name)) continue
        servers[name] = await reference(name, script, dir, { nodeArgs: [PERF_MAP] })
        children.push(servers[name].child)
        const url = `http://127.0.0.1:${servers[name].port}${path}`
        await assertSameReply(LABELS[name], url, headers, captured)
      }
      if (options.only.includes('node-in-waybill')) {
        // The baseline beside a second Waybill in one process: on SQLite a file of its own, on
        // PostgreSQL the same database (instances share one by design). Its log stays off stdout.
        const inside = {
          ...serviceEnv(postgresUrl ?? `sqlite:${join(dir, 'inside.db')}`, secretKey),
          BASELINE_INSIDE_SERVICE: '1',
          LOG_LEVEL: 'warn',
        }
        const server = await reference('node-in-waybill', BASELINE_SCRIPT, dir, {
          env: inside,
          nodeArgs: [PERF_MAP],
        })
        servers['node-in-waybill'] = server
        children.push(server.child)
      }
    }
    const measured: Measured[] = []
    for (const name of options.only) {
      const server = servers[name] as { child: Child; port: number }
      measured.push(await measure(name, server.child, `http://127.0.0.1:${server.port}${path}`, headers, dir))
      report(measured.at(-1) as Measured)
    }
    if (measured.length > 1) compare(measured)
    return 0
  } finally {
    // Before the database is dropped: its sessions end with the services.
    await Promise.all(children.map((child) => stop(child)))
    removeMaps(children)
  }
}

function removeMaps(children: Child[]): void {
  for (const child of children) rmSync(`/tmp/perf-${child.process.pid}.map`, { force: true })
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-perf-'))
  const children: Child[] = []
  // Ctrl-C: the servers stopped by pid, the folder and the perf maps removed (and, on PostgreSQL,
  // the database dropped by withFreshDatabase).
  const forget = onInterrupt(() => {
    for (const child of children) child.process.kill('SIGTERM')
    removeMaps(children)
    rmSync(dir, { recursive: true, force: true })
  })
  try {
    const problem = perfProblem(dir)
    if (problem) {
      console.error(problem)
      return 1
    }
    if (!postgres) return await profileAll(dir, children)
    return await withFreshDatabase(postgres.url, (url) => profileAll(dir, children, url))
  } catch (error) {
    if (!(error instanceof PerfFailure)) throw error
    console.error(`perf.js: ${error.message}\n${HELP}`)
    return 1
  } finally {
    forget()
    rmSync(dir, { recursive: true, force: true })
  }
}

const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE)
  process.exit(0)
}
const { options, problems } = parseArgs(args)
if (problems.length > 0) {
  console.error(`perf.js: ${problems.join('; ')}\n\n${USAGE}`)
  process.exit(2)
}
const missing = wrkMissing()
if (missing) {
  console.error(missing)
  process.exit(1)
}
const postgres = urlFromEnv('BENCH_DATABASE_URL')
process.exitCode = await main()
