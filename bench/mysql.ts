// MySQL/MariaDB mode of the HTTP benchmark. Each run gets a database of its own, created for it and
// dropped afterwards. The database server's CPU is its one process (mariadbd or mysqld: every
// connection is a thread of it), all threads, from /proc: so the server must run on this machine, and
// on a shared machine other databases' work on that server counts too (PostgreSQL's sessions of other
// databases can be told apart by process; MySQL's threads cannot).
//
// The URL comes from BENCH_MYSQL_URL, else TEST_MYSQL_URL; only its database name is replaced.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createConnection } from 'mysql2/promise'
import { benchHttp, type HttpBenchResult } from './http.js'
import { type ServiceCounters, scrape } from './postgres.js'
import { urlFromEnv } from './servers.js'

export function mysqlUrl(): { url: string; from: string } | undefined {
  return urlFromEnv('BENCH_MYSQL_URL', 'TEST_MYSQL_URL')
}

export interface MysqlBenchResult {
  http: HttpBenchResult
  database: string
  /** The server process whose CPU was counted: "mariadbd (pid 123)". */
  server: string
  /** The service's counters right before and right after the measured run of single numbers. */
  before: ServiceCounters
  after: ServiceCounters
}

// mysql2 speaks both; it only knows the mysql: scheme.
const driverUrl = (url: string) => url.replace(/^mariadb:/, 'mysql:')

async function query<T>(url: string, sql: string): Promise<T[]> {
  const connection = await createConnection({ uri: driverUrl(url) })
  try {
    const [rows] = await connection.query(sql)
    return rows as T[]
  } finally {
    await connection.end()
  }
}

/**
 * The server's pid from its pid file (@@pid_file), checked against /proc: the file is the server's
 * own word, and the name check makes sure it is a database server on this machine, not a stale pid.
 */
export async function serverProcess(url: string): Promise<{ pid: number; name: string }> {
  const [row] = await query<{ file: string }>(url, 'select @@pid_file as file')
  let pid = Number.NaN
  let name = ''
  try {
    pid = Number(readFileSync(row?.file ?? '', 'utf8').trim())
    name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {}
  if (name !== 'mariadbd' && name !== 'mysqld') {
    throw new Error(
      `mysql: no mariadbd or mysqld process found from @@pid_file (${row?.file}); ` +
        'the benchmark counts the database server’s CPU from /proc, so the server must run on this machine',
    )
  }
  return { pid, name }
}

/** Drops the database on the way out, also on Ctrl-C. */
export async function withFreshDatabase<T>(
  serverUrl: string,
  run: (url: string, name: string) => Promise<T>,
) {
  // Lower-case letters, digits and _ only: safe as an unquoted identifier.
  const name = `waybill_bench_${process.pid}_${randomBytes(3).toString('hex')}`
  const drop = () => query(serverUrl, `drop database if exists ${name}`)
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`mysql: ${signal}; dropping database ${name}`)
    drop().then(
      () => process.exit(130),
      () => process.exit(130),
    )
  }
  await query(serverUrl, `create database ${name} character set utf8mb4 collate utf8mb4_bin`)
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
  try {
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    return await run(url.toString(), name)
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
    await drop().catch((error: Error) => {
      console.error(`mysql: could not drop database ${name} (drop it by hand): ${error.message}`)
    })
  }
}

/** One HTTP benchmark run (with its own node:http and Fastify references) on a fresh database. */
export async function benchMysql(serverUrl: string): Promise<MysqlBenchResult> {
  const server = await serverProcess(serverUrl)
  return withFreshDatabase(serverUrl, async (url, database) => {
    const counters: Partial<Record<'before' | 'after' | 'end', ServiceCounters>> = {}
    const http = await benchHttp({
      label: 'mysql',
      databaseUrl: url,
      databaseServerPid: server.pid,
      probe: async (origin, moment) => {
        counters[moment] = await scrape(origin)
      },
    })
    const { before, after } = counters
    if (!before || !after) throw new Error('mysql: /metrics was not read around the measured run')
    return { http, database, server: `${server.name} (pid ${server.pid})`, before, after }
  })
}
