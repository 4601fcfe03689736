// Two variants of Waybill, measured in turns: A, B, A, B… each a fresh service on a fresh SQLite
// file (or a fresh PostgreSQL database when BENCH_DATABASE_URL is set, a fresh MySQL/MariaDB one
// when BENCH_MYSQL_URL is; TEST_DATABASE_URL and TEST_MYSQL_URL are not read here), `wrk -t1 -c64`
// on `GET /next-tracking-number` for a few seconds, CPU per answered request from /proc: every
// thread of the service and the database server's (on PostgreSQL its processes, those of other
// databases left out; on MySQL/MariaDB its one process, as bench/mysql.ts counts it), and in how
// many turns B cost less than A. With --batch,
// batches of 1000 from `wrk -t1 -c16` on `POST /tracking-numbers/batch` instead (as in
// `npm run bench`), and CPU per number. This machine's speed drifts within a minute: only variants
// measured in turns compare, and the medians of several turns say more than any one of them.
//
//   npm run build && node dist/bench/turns.js [--batch] [turns=6] [seconds=5] [A-settings] -- [B-settings]
//
// Settings are NAME=VALUE environment variables for that variant's service, and SCRIPT=path (an
// absolute path) runs another build's server (say, an older commit built in a git worktree), and
// NODE_ARGS='--flag …' gives node options before the script:
//   node dist/bench/turns.js 6 5 -- ISSUE_FAST_PATH=false               (the fast path off in B)
//   node dist/bench/turns.js 4 5 SCRIPT=/tmp/old/dist/src/server.js --  (an older build in A)
//   node dist/bench/turns.js 8 5 -- NODE_ARGS=--single-threaded-gc     (a V8 flag in B)
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { cpuUsed, type DatabaseCpu, sampleCpu } from './cpu.js'
import { BATCH_CONNECTIONS, BATCH_COUNT, BATCH_PATH } from './http.js'
import { serverProcess, withFreshDatabase as withFreshMysqlDatabase } from './mysql.js'
import { otherDatabasePids, withFreshDatabase } from './postgres.js'
import { median } from './report.js'
import {
  clientToken,
  launchService,
  onInterrupt,
  SAMPLE_FIELDS,
  serviceEnv,
  serviceLogs,
  serviceReady,
  stop,
  urlFromEnv,
} from './servers.js'
import { runWrk, wrkMissing } from './wrk.js'

const USAGE = `Usage: node dist/bench/turns.js [--batch] [turns=6] [seconds=5] [A settings] -- [B settings]

Runs two variants of Waybill in turns (A, B, A, B...), wrk -t1 -c64 on GET /next-tracking-number,
and prints each one's CPU per answered request (service threads, and on PostgreSQL or MySQL the
database server's), the medians, and in how many turns B cost less than A. With --batch: wrk -t1 -c16
posting batches of ${BATCH_COUNT} to ${BATCH_PATH}, and CPU per number.

Settings are NAME=VALUE environment variables for that variant's service;
SCRIPT=/absolute/path/to/dist/src/server.js runs another build (say, an older commit built in a
git worktree: docs/benchmarks.md, "Running them"); NODE_ARGS='--flag ...' passes options to node
before the script (V8's flags included; several in quotes, separated by spaces). On SQLite by
default; on PostgreSQL with BENCH_DATABASE_URL, on MySQL/MariaDB (a server on this machine) with
BENCH_MYSQL_URL: a database of its own per turn, dropped after.

  node dist/bench/turns.js 6 5 -- ISSUE_FAST_PATH=false
  BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/bench/turns.js 8 5 SCRIPT=/tmp/old/dist/src/server.js --
  BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/ node dist/bench/turns.js 8 5 COMMIT_GATHER_MS=0 -- COMMIT_GATHER_MS=1
  node dist/bench/turns.js --batch 6 5 SCRIPT=/tmp/old/dist/src/server.js --
  node dist/bench/turns.js 8 5 -- NODE_ARGS=--single-threaded-gc`

const batch = process.argv.includes('--batch')
/** Decimals of a printed µs figure: per number (batches) it is about a thousandth of a request's. */
const DIGITS = batch ? 2 : 1
const args = process.argv.slice(2).filter((arg) => arg !== '--batch')
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE)
  process.exit(0)
}
const split = args.indexOf('--')
const before = split === -1 ? args : args.slice(0, split)
const after = split === -1 ? [] : args.slice(split + 1)
const isNumber = (arg: string) => /^\d+$/.test(arg)
const isSetting = (arg: string) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)
const numbers = before.filter(isNumber).map(Number)
const problems = [
  ...before
    .filter((arg) => !isNumber(arg) && !isSetting(arg))
    .map((arg) => `not a number nor NAME=VALUE: ${arg}`),
  ...after.filter((arg) => !isSetting(arg)).map((arg) => `not NAME=VALUE (B's settings): ${arg}`),
  ...(numbers.length > 2 ? [`more numbers than turns and seconds: ${numbers.join(' ')}`] : []),
  ...(numbers.some((n) => n < 1) ? ['turns and seconds must be at least 1'] : []),
  ...(process.env.BENCH_DATABASE_URL && process.env.BENCH_MYSQL_URL
    ? ['BENCH_DATABASE_URL and BENCH_MYSQL_URL are both set: one database at a time']
    : []),
  ...[...before, ...after]
    .filter((arg) => arg.startsWith('SCRIPT=') && !arg.slice('SCRIPT='.length).startsWith('/'))
    .map((arg) => `SCRIPT= takes an absolute path: ${arg}`),
]
if (problems.length > 0) {
  console.error(`turns: ${problems.join('; ')}\n\n${USAGE}`)
  process.exit(2)
}
const [turns = 6, seconds = 5] = numbers
const settings = (list: string[]) =>
  Object.fromEntries(list.filter(isSetting).map((arg) => arg.split(/=(.*)/s).slice(0, 2)))
const variants = { A: settings(before), B: settings(after) }
const missing = wrkMissing()
if (missing) {
  console.error(missing)
  process.exit(1)
}
const postgres = urlFromEnv('BENCH_DATABASE_URL')
const mysql = urlFromEnv('BENCH_MYSQL_URL')
const mysqlServer = mysql && (await serverProcess(mysql.url))

/** Other databases' processes, which must not count as this turn's database CPU. */
async function othersOf(database: string): Promise<Set<number>> {
  const client = new pg.Client({ connectionString: postgres?.url })
  await client.connect()
  try {
    return await otherDatabasePids(client, database)
  } finally {
    await client.end()
  }
}

/** One turn: on SQLite, or on a PostgreSQL or MySQL database of its own (dropped after, Ctrl-C included). */
function turn(name: 'A' | 'B'): Promise<number> {
  if (postgres) {
    return withFreshDatabase(postgres.url, (url, database) =>
      measureTurn(name, { url, cpu: async () => ({ exclude: await othersOf(database) }) }),
    )
  }
  if (mysql && mysqlServer) {
    const cpu = async (): Promise<DatabaseCpu> => ({ pid: mysqlServer.pid })
    return withFreshMysqlDatabase(mysql.url, (url) => measureTurn(name, { url, cpu }))
  }
  return measureTurn(name)
}

async function measureTurn(
  name: 'A' | 'B',
  database?: { url: string; cpu: () => Promise<DatabaseCpu> },
): Promise<number> {
  const { SCRIPT, NODE_ARGS, ...env } = variants[name]
  const dir = mkdtempSync(join(tmpdir(), 'waybill-turns-'))
  const secretKey = randomBytes(32).toString('hex')
  const databaseUrl = database?.url ?? `sqlite:${join(dir, 'waybill.db')}`
  const nodeArgs = NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const serviceVars = { ...serviceEnv(databaseUrl, secretKey), ...env }
  const service = launchService(dir, serviceVars, { script: SCRIPT, nodeArgs })
  const forget = onInterrupt(() => {
    service.process.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })
  try {
    const port = await serviceReady(service, ...serviceLogs(dir))
    const headers = { Authorization: `Bearer ${await clientToken(secretKey)}` }
    const origin = `http://127.0.0.1:${port}`
    const load = batch
      ? {
          url: `${origin}${BATCH_PATH}`,
          connections: BATCH_CONNECTIONS,
          method: 'POST' as const,
          body: JSON.stringify({ ...SAMPLE_FIELDS, count: BATCH_COUNT }),
        }
      : { url: `${origin}/next-tracking-number?${new URLSearchParams(SAMPLE_FIELDS)}`, connections: 64 }
    await runWrk({ ...load, headers, seconds: 2, dir }) // warm-up
    const pid = service.process.pid as number
    const databaseCpu = await database?.cpu()
    const before = sampleCpu(pid, databaseCpu)
    const result = await runWrk({ ...load, headers, seconds, dir })
    const cpu = cpuUsed(before, sampleCpu(pid, databaseCpu))
    const answered = (result.requests - result.non2xx) * (batch ? BATCH_COUNT : 1)
    const us = (seconds: number | undefined) => (((seconds ?? 0) / answered) * 1e6).toFixed(DIGITS)
    const perAnswer =
      (((cpu.serverMain ?? 0) + (cpu.serverOther ?? 0) + (cpu.database ?? 0)) / answered) * 1e6
    console.log(
      `${name}: ${perAnswer.toFixed(DIGITS)} µs per ${batch ? 'number' : 'answered request'} (main ${us(cpu.serverMain)}, ` +
        `other threads ${us(cpu.serverOther)}${database ? `, database ${us(cpu.database)}` : ''}), ` +
        `${Math.round(answered / result.durationSeconds).toLocaleString('en-US')} ${batch ? 'numbers' : 'req'}/s, ` +
        `p99 ${result.p99Ms.toFixed(2)} ms, non-2xx ${result.non2xx}`,
    )
    return perAnswer
  } finally {
    forget()
    await stop(service)
    rmSync(dir, { recursive: true, force: true })
  }
}

const seen: Record<'A' | 'B', number[]> = { A: [], B: [] }
console.log(
  `A: ${JSON.stringify(variants.A)}  B: ${JSON.stringify(variants.B)}; ${turns} turns of ${seconds} s each${batch ? `, batches of ${BATCH_COUNT}` : ''}`,
)
for (let i = 0; i < turns; i++) {
  for (const name of ['A', 'B'] as const) seen[name].push(await turn(name))
}
const lower = seen.B.filter((b, i) => b < (seen.A[i] as number)).length
console.log(
  `median A ${median(seen.A).toFixed(DIGITS)} µs, B ${median(seen.B).toFixed(DIGITS)} µs; ` +
    `B / A ${(median(seen.B) / median(seen.A)).toFixed(2)}; B lower in ${lower} of ${turns} turns`,
)
