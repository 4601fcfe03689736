// PostgreSQL mode of the HTTP benchmark. Each run gets a database of its own, created for it and dropped
// (WITH (FORCE)) afterwards, so the database's own statistics count this run's block reservations only:
// a reservation is one `UPDATE counters …`, so the reservations PostgreSQL saw are n_tup_upd of counters.
//
// The URL comes from BENCH_DATABASE_URL, else TEST_DATABASE_URL; only its database name is replaced.
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { benchHttp, type HttpBenchResult } from './http.js'
import { urlFromEnv } from './servers.js'

const STATS_TIMEOUT_MS = 15_000

export function postgresUrl(): { url: string; from: string } | undefined {
  return urlFromEnv('BENCH_DATABASE_URL', 'TEST_DATABASE_URL')
}

/** The service's own counters (prom-client), for all its workers. */
export interface ServiceCounters {
  reserved: number // tracking_blocks_reserved_total
  issued: number // tracking_numbers_issued_total (issued and committed)
}

export interface Reservations {
  workers: number
  /** UPDATEs of counters PostgreSQL counted over the whole run (start, sample, warm-up, measured run). */
  database: number
  /** Rows in tracking_numbers at the end: the database is fresh, so every number the run stored. */
  stored: number
  /** Right before and right after the measured run (the service still running). */
  before: ServiceCounters
  after: ServiceCounters
  /** At the very end (after the batches, the service still running). */
  end: ServiceCounters
  /** end.reserved ≤ database ≤ end.reserved + workers (a refill may still commit as the load stops). */
  consistent: boolean
}

export interface PostgresBenchResult {
  http: HttpBenchResult
  reservations: Reservations
  database: string
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql)).rows
  } finally {
    await client.end()
  }
}

/** Drops the database on the way out, also on Ctrl-C (the service's connections are terminated). */
export async function withFreshDatabase<T>(
  serverUrl: string,
  run: (url: string, name: string) => Promise<T>,
) {
  // Lower-case letters, digits and _ only: safe as an unquoted identifier.
  const name = `waybill_bench_${randomBytes(6).toString('hex')}`
  const drop = () => query(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`postgres: ${signal}; dropping database ${name}`)
    drop().then(
      () => process.exit(130),
      () => process.exit(130),
    )
  }
  // template0: no other session can be connected to it, which CREATE DATABASE would refuse.
  await query(serverUrl, `CREATE DATABASE ${name} TEMPLATE template0`)
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
  try {
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    return await run(url.toString(), name)
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
    await drop().catch((error: Error) => {
      console.error(`postgres: could not drop database ${name} (drop it by hand): ${error.message}`)
    })
  }
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // A connection of its own (no keep-alive agent), so the cluster primary hands it to the next worker.
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        body += chunk
      })
      response.on('end', () =>
        response.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${response.statusCode}`)),
      )
    })
    req.on('error', reject).end()
  })
}

/**
 * The service's /metrics: with WEB_CONCURRENCY, whichever worker answers gives every worker's counts
 * (the primary gathers them: src/observability/cluster-metrics.ts). Checked afterwards against the
 * database.
 */
export async function scrape(origin: string): Promise<ServiceCounters> {
  const body = await get(`${origin}/metrics`)
  const value = (metric: string) => {
    const found = new RegExp(`^${metric} (\\S+)$`, 'm').exec(body)?.[1]
    if (found === undefined) throw new Error(`postgres: /metrics has no ${metric}`)
    return Number(found)
  }
  return { reserved: value('tracking_blocks_reserved_total'), issued: value('tracking_numbers_issued_total') }
}

/**
 * n_tup_upd of counters, once the service's connections are gone: a backend flushes its statistics as it
 * exits, before it leaves pg_stat_activity. Read again until two readings 500 ms apart agree.
 */
async function reservationsSeen(url: string): Promise<number> {
  const deadline = Date.now() + STATS_TIMEOUT_MS
  let last: number | undefined
  for (;;) {
    const [row] = await query<{ sessions: string; updates: string | null }>(
      url,
      `select (select count(*) from pg_stat_activity
                where datname = current_database() and backend_type = 'client backend'
                  and pid <> pg_backend_pid()) as sessions,
              (select n_tup_upd from pg_stat_user_tables
                where relname = 'counters' and schemaname = current_schema()) as updates`,
    )
    const updates = Number(row?.updates ?? Number.NaN)
    if (Number(row?.sessions) === 0 && updates === last) return updates
    if (Date.now() > deadline) {
      throw new Error(`postgres: statistics of counters not settled (${row?.sessions} sessions left)`)
    }
    if (Number(row?.sessions) === 0) last = updates
    await sleep(500)
  }
}

/**
 * Processes of other databases (sessions, autovacuum workers): on a shared machine, other work's
 * backends must not count as this run's database CPU. What is left is this run's backends and the
 * server's own background processes (WAL writer, checkpointer…), which this run's commits drive.
 */
export async function otherDatabasePids(client: pg.Client, database: string): Promise<Set<number>> {
  const { rows } = await client.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname is not null and datname <> $1',
    [database],
  )
  return new Set(rows.map((row) => row.pid))
}

/** One HTTP benchmark run (with its own node:http baseline) on a fresh database; workers = WEB_CONCURRENCY. */
export async function benchPostgres(serverUrl: string, workers: number): Promise<PostgresBenchResult> {
  return withFreshDatabase(serverUrl, async (url, database) => {
    const counters: Partial<Record<'before' | 'after' | 'end', ServiceCounters>> = {}
    // One session for the whole run: connecting for each sample would itself start a backend.
    const stats = new pg.Client({ connectionString: serverUrl })
    await stats.connect()
    let http: HttpBenchResult
    try {
      http = await benchHttp({
        label: workers === 1 ? 'postgres' : `postgres-x${workers}`,
        databaseUrl: url,
        env: { WEB_CONCURRENCY: String(workers) },
        ...(workers === 1 ? {} : { singlesOnly: true }),
        otherDatabasePids: () => otherDatabasePids(stats, database),
        probe: async (origin, moment) => {
          counters[moment] = await scrape(origin)
        },
      })
    } finally {
      await stats.end()
    }
    const { before, after, end } = counters
    if (!before || !after || !end) throw new Error('postgres: /metrics was not read around the measured run')
    const seen = await reservationsSeen(url)
    const reservations: Reservations = {
      workers,
      database: seen,
      stored: http.rows,
      before,
      after,
      end,
      consistent: end.reserved <= seen && seen <= end.reserved + workers,
    }
    return { http, reservations, database }
  })
}
