// The load generator: Debian's wrk, a process of its own (C, epoll), so that what the benchmark
// measures is the servers, not a JavaScript client sharing their cores and event loop. One run is one
// wrk process; a Lua script sets the method, headers and body and prints wrk's own summary as JSON
// (exact latency percentiles in µs, error counts) for this module to read.
//
// wrk's CPU is read from this process's /proc/self/stat (cutime + cstime: children waited for): wrk
// is the only child that exits during a run, so the difference across it is wrk's own CPU.
import { spawn } from 'node:child_process'
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const WRK = process.env.BENCH_WRK || '/usr/bin/wrk'
const TICK_SECONDS = 0.01

export interface WrkOptions {
  url: string
  headers: Record<string, string>
  connections: number
  threads?: number
  seconds: number
  method?: 'GET' | 'POST'
  body?: string
  /** Where the run's Lua script is written (a temporary directory of the benchmark). */
  dir: string
}

/** wrk's summary of one run. */
export interface WrkResult {
  /** Responses read in full, whatever their status. */
  requests: number
  /** Statuses wrk counts as errors (400 and up). */
  non2xx: number
  /** Connect, read, write errors and timeouts. */
  errors: number
  durationSeconds: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** CPU seconds wrk itself used (user + system). */
  cpuSeconds: number
}

/** Undefined if wrk can be run; else what to do about it. */
export function wrkMissing(): string | undefined {
  try {
    accessSync(WRK, constants.X_OK)
    return undefined
  } catch {
    return `bench: ${WRK} not found; the benchmark's load generator is wrk: apt-get install wrk (or set BENCH_WRK to its path)`
  }
}

const lua = (text: string) => JSON.stringify(text) // a JSON string is a valid Lua string literal here

function script(options: WrkOptions): string {
  const lines = [`wrk.method = ${lua(options.method ?? 'GET')}`]
  for (const [name, value] of Object.entries(options.headers))
    lines.push(`wrk.headers[${lua(name)}] = ${lua(value)}`)
  if (options.body !== undefined) {
    lines.push(`wrk.headers["Content-Type"] = "application/json"`, `wrk.body = ${lua(options.body)}`)
  }
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRK_JSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,' +
      '"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n\',',
    '    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,',
    '    latency:percentile(50), latency:percentile(99), latency.max))',
    'end',
  )
  return `${lines.join('\n')}\n`
}

/** CPU seconds of this process's children that have exited and been waited for. */
function childrenCpuSeconds(): number {
  const text = readFileSync('/proc/self/stat', 'utf8')
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) * TICK_SECONDS
}

interface Summary {
  requests: number
  duration_us: number
  status: number
  connect: number
  read: number
  write: number
  timeout: number
  p50_us: number
  p99_us: number
  max_us: number
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const path = join(options.dir, 'load.lua')
  writeFileSync(path, script(options))
  const args = [
    `-t${options.threads ?? 1}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '10s',
    '-s',
    path,
    options.url,
  ]
  const cpuBefore = childrenCpuSeconds()
  const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  const cpuSeconds = childrenCpuSeconds() - cpuBefore
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '))
  if (code !== 0 || !line) throw new Error(`wrk exited with ${code}:\n${out.trim()}`)
  const s = JSON.parse(line.slice('WRK_JSON '.length)) as Summary
  return {
    requests: s.requests,
    non2xx: s.status,
    errors: s.connect + s.read + s.write + s.timeout,
    durationSeconds: s.duration_us / 1e6,
    p50Ms: s.p50_us / 1e3,
    p99Ms: s.p99_us / 1e3,
    maxMs: s.max_us / 1e3,
    cpuSeconds,
  }
}
