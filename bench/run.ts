// Entry point of `npm run bench`: the codec micro-benchmark, the HTTP benchmark on SQLite, then on
// PostgreSQL (single process, and WEB_CONCURRENCY=2 for information, if BENCH_DATABASE_URL or
// TEST_DATABASE_URL is set), on MySQL/MariaDB (if BENCH_MYSQL_URL or TEST_MYSQL_URL is set), a table of the figures and PASS/FAIL for each bar. Exits 1 if any bar
// fails, after printing all. The load generator is wrk (apt-get install wrk); the bench installs nothing.
//
//   npm run bench                           every part
//   node dist/bench/run.js --only=postgres  one part (codec | sqlite | postgres | mysql | orders; http = sqlite)
//   BENCH_SECONDS=N                         seconds per measured HTTP run (default 10)
//   BENCH_ROUNDS=N                          measured runs per server, in turns (default 3)
//   BENCH_WRK=path                          wrk to run (default /usr/bin/wrk)
import { arch, cpus, loadavg, platform } from 'node:os'
import { benchCodec } from './codec.js'
import { benchHttp } from './http.js'
import { benchMysql, type MysqlBenchResult, mysqlUrl } from './mysql.js'
import { benchOrders } from './orders.js'
import { benchPostgres, type PostgresBenchResult, postgresUrl, type Reservations } from './postgres.js'
import { type Bar, httpBars, int, printHttp, table } from './report.js'
import { wrkMissing } from './wrk.js'

const CODEC_BAR = 2_000_000
// Waybill's CPU per answered request at most this many times bare Fastify's sending the same bytes.
const SQLITE_RATIO_BAR = 1.6
const PG_RATIO_BAR = 1.8
const P99_BAR_MS = 15
// Durable numbers a second in batches of 1000 at 16 connections.
const SQLITE_BATCH_BAR = 400_000
const PG_BATCH_BAR = 200_000
const PG_WORKERS = 2
const NUMBERS_PER_RESERVATION_BAR = 1_000
// MySQL/MariaDB: PostgreSQL's bars until the figures say otherwise.
const MYSQL_RATIO_BAR = PG_RATIO_BAR
const MYSQL_BATCH_BAR = PG_BATCH_BAR
const MYSQL_HOW_TO = 'TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/ npm run bench -- --only=mysql'
const PG_HOW_TO = 'TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- --only=postgres'

type Part = 'codec' | 'sqlite' | 'postgres' | 'mysql' | 'orders'

function parseOnly(args: string[]): Part | undefined {
  let only: Part | undefined
  for (const arg of args) {
    const match = /^--only=(codec|sqlite|http|postgres|mysql|orders)$/.exec(arg)
    if (!match) {
      console.error(
        `bench: unknown argument "${arg}"; usage: node dist/bench/run.js [--only=codec|sqlite|postgres|mysql|orders]`,
      )
      process.exit(2)
    }
    only = match[1] === 'http' ? 'sqlite' : (match[1] as Part)
  }
  return only
}

function command(): string {
  const node = `node ${process.argv
    .slice(1)
    .map((a) => a.replace(`${process.cwd()}/`, ''))
    .join(' ')}`
  const viaNpm = process.env.npm_lifecycle_event === 'bench' ? 'npm run bench  →  ' : ''
  const seconds = process.env.BENCH_SECONDS ? `BENCH_SECONDS=${process.env.BENCH_SECONDS} ` : ''
  return `${seconds}${viaNpm}${node}`
}

/** The URL without its password, and where it came from. */
function postgresTarget(): string {
  const target = postgresUrl()
  if (!target) return 'not set (BENCH_DATABASE_URL or TEST_DATABASE_URL)'
  const url = new URL(target.url)
  if (url.password) url.password = '***'
  return `${url.toString()} (${target.from}; each run on a database of its own, dropped after)`
}

/** The URL without its password, and where it came from. */
function mysqlTarget(): string {
  const target = mysqlUrl()
  if (!target) return 'not set (BENCH_MYSQL_URL or TEST_MYSQL_URL)'
  const url = new URL(target.url)
  if (url.password) url.password = '***'
  return `${url.toString()} (${target.from}; a database of its own, dropped after)`
}

function printHeader(only: Part | undefined): void {
  const cpu = cpus()
  console.log('Waybill benchmark')
  console.log(
    table([
      ['machine', `${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), ${platform()} ${arch()}`],
      ['node', process.version],
      ['command', command()],
      ['started', new Date().toISOString()],
      // Other work on a small machine moves the figures; the 1-minute load average shows how much.
      ['load', `${loadavg()[0]?.toFixed(2)} (1-min average at start)`],
      ...(only === undefined || only === 'postgres' ? [['postgres', postgresTarget()]] : []),
      ...(only === undefined || only === 'mysql' ? [['mysql', mysqlTarget()]] : []),
    ]),
  )
}

function runCodec(bars: Bar[]): void {
  console.error('codec: measuring (about 2 s)')
  const result = benchCodec()
  console.log('\nCodec (one thread, 2 s: 75 % batched bodies + assemble, 25 % single encode)')
  console.log(
    table(
      [
        ['bodies(start, 256) + assemble', `${int(result.bodiesPerSecond)} /s`],
        ['single encode()', `${int(result.singleEncodesPerSecond)} /s`],
      ],
      'lr',
    ),
  )
  bars.push({
    name: `codec ≥ ${int(CODEC_BAR)} numbers/s (batched)`,
    pass: result.bodiesPerSecond >= CODEC_BAR,
    value: `${int(result.bodiesPerSecond)}/s`,
  })
}

function runSqlite(bars: Bar[]): Promise<void> {
  return guarded('SQLite: ', bars, async () => {
    const result = await benchHttp({ label: 'sqlite' })
    const summary = printHttp(result, 'on SQLite')
    bars.push(
      ...httpBars('SQLite: ', result, summary, {
        ratio: SQLITE_RATIO_BAR,
        p99Ms: P99_BAR_MS,
        batch: SQLITE_BATCH_BAR,
      }),
    )
  })
}

/** A harness failure is itself a failed bar; the bars measured so far are still printed. */
async function guarded(prefix: string, bars: Bar[], run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (error) {
    console.error(error)
    bars.push({
      name: `${prefix}benchmark ran`,
      pass: false,
      value: (error as Error).message.split('\n')[0] ?? '',
    })
  }
}

const perReservation = (numbers: number, reservations: number) =>
  reservations === 0 ? 'no reservation' : `${int(numbers / reservations)} numbers per reservation`

/** The measured run, from the service's counters read right before and right after it. */
function measuredWindow(r: Reservations) {
  return { reserved: r.after.reserved - r.before.reserved, issued: r.after.issued - r.before.issued }
}

function reservationRows(r: Reservations): string[][] {
  const window = measuredWindow(r)
  const workers = r.workers === 1 ? '1 process' : `${r.workers} workers, gathered by the primary`
  return [
    ['baseline', 'its own node:http runs, measured in turns with the service in this run'],
    ['block reservations', 'one UPDATE counters … RETURNING next_value per block'],
    [
      '  measured run (bar)',
      `${int(window.reserved)} for ${int(window.issued)} numbers issued = ` +
        `${perReservation(window.issued, window.reserved)} (service /metrics before/after, ${workers})`,
    ],
    [
      '  before it',
      `${int(r.before.reserved)} for ${int(r.before.issued)} numbers ` +
        '(start-up, sample, warm-up; blocks start at 100, grow to rate × 2 s)',
    ],
    [
      '  whole run, database',
      `${int(r.database)} UPDATEs of counters (n_tup_upd once the service stopped) ` +
        `for ${int(r.stored)} rows stored = ${perReservation(r.stored, r.database)}`,
    ],
    [
      '  whole run, service',
      `${int(r.end.reserved)} (/metrics at the end, batches included): ` +
        (r.consistent ? 'agrees with the database' : 'DOES NOT AGREE with the database'),
    ],
  ]
}

function postgresBars(prefix: string, result: PostgresBenchResult, bars: Bar[]): void {
  const r = result.reservations
  const window = measuredWindow(r)
  bars.push({
    name: `${prefix}≥ ${int(NUMBERS_PER_RESERVATION_BAR)} numbers per reservation (measured run)`,
    pass: r.consistent && window.reserved * NUMBERS_PER_RESERVATION_BAR <= window.issued,
    value: r.consistent
      ? `${int(window.reserved)} for ${int(window.issued)}: ${perReservation(window.issued, window.reserved)}`
      : `service counted ${int(r.end.reserved)}, database ${int(r.database)}: cannot tell`,
  })
}

async function runPostgres(bars: Bar[]): Promise<void> {
  const target = postgresUrl()
  if (!target) {
    console.log(
      '\nPostgreSQL mode not run: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server ' +
        `that lets this user CREATE DATABASE, e.g.\n  ${PG_HOW_TO}`,
    )
    return
  }
  for (const workers of [1, PG_WORKERS]) {
    const prefix = workers === 1 ? 'PostgreSQL: ' : `PostgreSQL ×${workers} workers: `
    await guarded(prefix, bars, async () => {
      const result = await benchPostgres(target.url, workers)
      const mode = workers === 1 ? 'single process' : `WEB_CONCURRENCY=${workers}, no batches`
      const summary = printHttp(
        result.http,
        `on PostgreSQL, ${mode}, database ${result.database}`,
        reservationRows(result.reservations),
      )
      // The bars are set for the single process; with workers the figures are for information.
      if (workers === 1) {
        bars.push(
          ...httpBars(prefix, result.http, summary, {
            ratio: PG_RATIO_BAR,
            p99Ms: P99_BAR_MS,
            batch: PG_BATCH_BAR,
          }),
        )
      }
      postgresBars(prefix, result, bars)
    })
  }
}

function mysqlRows(result: MysqlBenchResult): string[][] {
  const reserved = result.after.reserved - result.before.reserved
  const issued = result.after.issued - result.before.issued
  return [
    ['database server', `${result.server}: its CPU is in db, every thread (other databases’ work included)`],
    ['block reservations', 'one UPDATE counters … LAST_INSERT_ID(…) per block'],
    [
      '  measured run',
      `${int(reserved)} for ${int(issued)} numbers issued = ${perReservation(issued, reserved)} ` +
        '(service /metrics before/after)',
    ],
  ]
}

async function runMysql(bars: Bar[]): Promise<void> {
  const target = mysqlUrl()
  if (!target) {
    console.log(
      '\nMySQL/MariaDB mode not run: set BENCH_MYSQL_URL (or TEST_MYSQL_URL) to a server on this machine ' +
        `that lets this user CREATE DATABASE, e.g.\n  ${MYSQL_HOW_TO}`,
    )
    return
  }
  const prefix = 'MySQL/MariaDB: '
  await guarded(prefix, bars, async () => {
    const result = await benchMysql(target.url)
    const summary = printHttp(
      result.http,
      `on MySQL/MariaDB, single process, database ${result.database}`,
      mysqlRows(result),
    )
    bars.push(
      ...httpBars(prefix, result.http, summary, {
        ratio: MYSQL_RATIO_BAR,
        p99Ms: P99_BAR_MS,
        batch: MYSQL_BATCH_BAR,
      }),
    )
  })
}

async function runOrders(): Promise<void> {
  console.error('orders: seeding a million orders on SQLite, then timing (about 30 s)')
  const results = await benchOrders()
  console.log(
    '\nOrders on SQLite: one page of 20 (page 2) with its count, among 1,000,000 orders (median of 5)',
  )
  for (const r of results)
    console.log(`  ${r.name.padEnd(44)} ${r.ms.toFixed(1).padStart(8)} ms   count ${int(r.count)}`)
}

async function main(): Promise<void> {
  const only = parseOnly(process.argv.slice(2))
  if (only === 'postgres' && !postgresUrl()) {
    console.error(
      `bench: --only=postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL, e.g.\n  ${PG_HOW_TO}`,
    )
    process.exit(2)
  }
  if (only === 'mysql' && !mysqlUrl()) {
    console.error(`bench: --only=mysql needs BENCH_MYSQL_URL or TEST_MYSQL_URL, e.g.\n  ${MYSQL_HOW_TO}`)
    process.exit(2)
  }
  const missing = only === 'codec' || only === 'orders' ? undefined : wrkMissing()
  if (missing) {
    console.error(missing)
    process.exit(2)
  }
  const bars: Bar[] = []
  printHeader(only)
  if (only === undefined || only === 'codec') runCodec(bars)
  if (only === undefined || only === 'sqlite') await runSqlite(bars)
  if (only === undefined || only === 'postgres') await runPostgres(bars)
  if (only === undefined || only === 'mysql') await runMysql(bars)
  if (only === undefined || only === 'orders') await runOrders()

  console.log('\nBars')
  console.log(table(bars.map((bar) => [bar.pass ? 'PASS' : 'FAIL', bar.name, bar.value])))
  const failed = bars.filter((bar) => !bar.pass).length
  console.log(failed === 0 ? '\nAll bars met.' : `\n${failed} of ${bars.length} bars failed.`)
  process.exitCode = failed === 0 ? 0 : 1
}

await main()
