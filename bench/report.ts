// Tables of the HTTP benchmark: every measured run, then each server's medians, the CPU ratio and the
// batches; and the bars shared by SQLite and PostgreSQL.
import {
  BATCH_COUNT,
  cpuPerAnswer,
  type HttpBenchResult,
  othersCores,
  type Round,
  type Server,
} from './http.js'

export interface Bar {
  name: string
  pass: boolean
  value: string
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => n.toFixed(2)

/** Columns padded to a common width; `align` has one letter per column, l or r (default: all l). */
export function table(rows: string[][], align = ''): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? []
  const cell = (text: string, column: number) =>
    align[column] === 'r' ? text.padStart(widths[column] ?? 0) : text.padEnd(widths[column] ?? 0)
  return rows.map((row) => `  ${row.map(cell).join('   ')}`.trimEnd()).join('\n')
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

const rate = (r: Round) => r.answered / r.wrk.durationSeconds
const perAnswer = (r: Round, group: string) =>
  ((r.cpu[group] ?? 0) / Math.max(1, r.answered * (r.server === 'waybill batch' ? BATCH_COUNT : 1))) * 1e6

/** What the bars are judged on: the medians over the rounds. */
export interface Summary {
  /** Each round's waybill CPU per answer / fastify's. */
  ratios: number[]
  ratio: number
  cpu: Record<Server, number>
  rps: Record<Server, number>
  p99: Record<Server, number>
  /** Durable numbers per second in batches. */
  batchNumbersPerSecond: number
  non2xx: number
}

export function summarise(result: HttpBenchResult): Summary {
  const of = (server: Server) => result.runs.filter((r) => r.server === server)
  const servers: Server[] = ['node:http', 'fastify', 'waybill', 'waybill batch']
  const pick = (f: (r: Round) => number) =>
    Object.fromEntries(servers.map((s) => [s, median(of(s).map(f))])) as Record<Server, number>
  const fastify = of('fastify')
  const ratios = of('waybill').map((r, i) => cpuPerAnswer(r) / cpuPerAnswer(fastify[i] as Round))
  const service = result.runs.filter((r) => r.server.startsWith('waybill'))
  return {
    ratios,
    ratio: median(ratios),
    cpu: pick(cpuPerAnswer),
    rps: pick(rate),
    p99: pick((r) => r.wrk.p99Ms),
    batchNumbersPerSecond: median(of('waybill batch').map((r) => rate(r) * BATCH_COUNT)),
    non2xx: service.reduce((n, r) => n + r.wrk.non2xx + r.wrk.errors, 0) + result.warmupFailures,
  }
}

export function printHttp(result: HttpBenchResult, title: string, extra: string[][] = []): Summary {
  const db = result.database !== 'sqlite'
  console.log(
    `\nHTTP ${title}: wrk -t1 -c${result.connections} (batches: -c16, count ${BATCH_COUNT}), ` +
      `${result.rounds} rounds of ${result.seconds} s per server in turns; reply ${result.bodyBytes} bytes; ` +
      'a bearer token on every request',
  )
  console.log(
    `CPU in µs per answered request (batches: per number), from /proc: every thread of the server` +
      `${
        result.database === 'postgres'
          ? ' plus this run’s postgres processes (db)'
          : db
            ? ' plus the database server’s process, all threads (db)'
            : ''
      }; wrk = the load generator's own`,
  )
  const header = ['round', 'server', 'req/s', 'p50 ms', 'p99 ms', 'main', 'other', ...(db ? ['db'] : [])]
  console.log(
    table(
      [
        [...header, 'CPU µs', 'wrk µs', 'non-2xx', 'others', 'load'],
        ...result.runs.map((r) => [
          String(r.round),
          r.server,
          int(r.server === 'waybill batch' ? rate(r) * BATCH_COUNT : rate(r)) +
            (r.server === 'waybill batch' ? ' n/s' : ''),
          ms(r.wrk.p50Ms),
          ms(r.wrk.p99Ms),
          perAnswer(r, 'serverMain').toFixed(2),
          perAnswer(r, 'serverOther').toFixed(2),
          ...(db ? [perAnswer(r, 'database').toFixed(2)] : []),
          cpuPerAnswer(r).toFixed(2),
          perAnswer(r, 'loadGenerator').toFixed(2),
          int(r.wrk.non2xx + r.wrk.errors),
          `${othersCores(r).toFixed(2)} cores`,
          r.load.toFixed(2),
        ]),
      ],
      `llrrrrr${db ? 'r' : ''}rrrrr`,
    ),
  )
  const s = summarise(result)
  console.log(
    table([
      ...(['node:http', 'fastify', 'waybill'] as const).map((server) => [
        `median ${server}`,
        `${s.cpu[server].toFixed(1)} µs/request, ${int(s.rps[server])} req/s, p99 ${ms(s.p99[server])} ms`,
      ]),
      [
        'CPU ratio waybill/fastify',
        `${s.ratio.toFixed(2)} (median of the rounds: ${s.ratios.map((r) => r.toFixed(2)).join(', ')})`,
      ],
      ...(Number.isNaN(s.batchNumbersPerSecond)
        ? []
        : [
            [
              'batches (median)',
              `${int(s.batchNumbersPerSecond)} durable numbers/s, ${s.cpu['waybill batch'].toFixed(2)} µs CPU per number`,
            ],
          ]),
      ['numbers answered (2xx)', `${int(result.answered)} (sample, warm-ups, measured runs, batches)`],
      [
        'rows stored this run',
        `${int(result.stored)} (+${int(result.stored - result.answered)} in flight at stop)`,
      ],
      ['rows / distinct in table', `${int(result.rows)} / ${int(result.distinct)}`],
      ['service log', `${(result.serviceLogBytes / 1e6).toFixed(1)} MB; exit code ${result.serviceExitCode}`],
      ...extra,
    ]),
  )
  return s
}

/** The bars for one database. */
export function httpBars(
  prefix: string,
  result: HttpBenchResult,
  s: Summary,
  bars: { ratio: number; p99Ms: number; batch?: number },
): Bar[] {
  const list: Bar[] = [
    {
      name: `${prefix}CPU per request ≤ ${bars.ratio}× bare Fastify's`,
      pass: s.ratio <= bars.ratio,
      value: `${s.ratio.toFixed(2)}× (${s.cpu.waybill.toFixed(1)} against ${s.cpu.fastify.toFixed(1)} µs)`,
    },
    {
      name: `${prefix}p99 ≤ ${bars.p99Ms} ms`,
      pass: s.p99.waybill <= bars.p99Ms,
      value: `${ms(s.p99.waybill)} ms`,
    },
    {
      name: `${prefix}service answered only 2xx`,
      pass: s.non2xx === 0,
      value: `${int(s.non2xx)} non-2xx or errors`,
    },
    { name: `${prefix}zero duplicates`, pass: result.duplicates === 0, value: int(result.duplicates) },
    {
      name: `${prefix}every answered number stored`,
      pass: result.stored >= result.answered,
      value: `${int(result.stored)} stored ≥ ${int(result.answered)} answered`,
    },
  ]
  if (bars.batch !== undefined) {
    list.push({
      name: `${prefix}batches ≥ ${int(bars.batch)} durable numbers/s`,
      pass: s.batchNumbersPerSecond >= bars.batch,
      value: `${int(s.batchNumbersPerSecond)}/s, ${s.cpu['waybill batch'].toFixed(2)} µs CPU per number`,
    })
  }
  return list
}
