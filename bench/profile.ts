// Profiles Waybill under wrk: starts dist/src/server.js with --cpu-prof on a fresh SQLite file (or
// DATABASE_URL), drives one route for a while, stops it, and prints the profile's self time per
// module and per function in µs per request (scripts/profile-summary.mjs).
//
//   npm run build && node dist/bench/profile.js [single|batch] [seconds=10]
//
// V8's profiler samples wall-clock time: a thread descheduled by a busy machine, or blocked in a
// system call (fsync, a socket write), shows up as the function it is in. Read the shares, and the
// per-request CPU from /proc printed above them, not the µs as CPU.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuUsed, sampleCpu } from './cpu.js'
import {
  clientToken,
  launchService,
  SAMPLE_FIELDS,
  serviceEnv,
  serviceLogs,
  serviceReady,
  stop,
} from './servers.js'
import { runWrk } from './wrk.js'

const mode = process.argv[2] === 'batch' ? 'batch' : 'single'
const seconds = Number(process.argv[3]) || 10
const dir = mkdtempSync(join(tmpdir(), 'waybill-profile-'))
const secretKey = randomBytes(32).toString('hex')
const service = launchService(
  dir,
  serviceEnv(process.env.DATABASE_URL ?? `sqlite:${join(dir, 'waybill.db')}`, secretKey),
  { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] },
)
const origin = `http://127.0.0.1:${await serviceReady(service, ...serviceLogs(dir))}`
const headers = { Authorization: `Bearer ${await clientToken(secretKey)}` }
const query = new URLSearchParams(SAMPLE_FIELDS).toString()
const pid = service.process.pid as number
const load = (run: number) =>
  runWrk(
    mode === 'batch'
      ? {
          url: `${origin}/tracking-numbers/batch`,
          method: 'POST',
          body: JSON.stringify({ ...SAMPLE_FIELDS, count: 1000 }),
          headers,
          connections: 16,
          seconds: run,
          dir,
        }
      : { url: `${origin}/next-tracking-number?${query}`, headers, connections: 64, seconds: run, dir },
  )
await load(2) // warm-up: the JIT's work is not the request's
const before = sampleCpu(pid)
const result = await load(seconds)
const cpu = cpuUsed(before, sampleCpu(pid))
await stop(service)
const answered = result.requests - result.non2xx
const per = (group: string) => (((cpu[group] ?? 0) / answered) * 1e6).toFixed(2)
console.log(
  `${mode}: ${answered} answered (${result.non2xx} non-2xx) in ${result.durationSeconds.toFixed(1)} s, ` +
    `p99 ${result.p99Ms.toFixed(2)} ms; CPU per request: main ${per('serverMain')} µs, other threads ${per('serverOther')} µs` +
    ` (profiling adds to the main thread's)`,
)
// One profile per thread, named CPU.<date>.<time>.<pid>.<thread id>.<n>: thread 0 is the main thread.
const summary = new URL('../../scripts/profile-summary.mjs', import.meta.url)
for (const profile of readdirSync(dir)
  .filter((name) => name.endsWith('.cpuprofile'))
  .sort()) {
  const thread = profile.split('.')[4] === '0' ? 'main thread' : 'writer thread'
  console.log(`\n${thread}: ${join(dir, profile)}`)
  const args = [summary.pathname, join(dir, profile), String(answered), '40', String(result.durationSeconds)]
  console.log(execFileSync(process.execPath, args, { encoding: 'utf8' }))
}
