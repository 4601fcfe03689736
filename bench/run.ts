// Entry point of `npm run bench`: the codec micro-benchmark, then the HTTP benchmark on SQLite, a table
// of the figures and PASS/FAIL for each bar of the issue. Exits 1 if any bar fails, after printing all.
//
//   npm run bench                       both parts
//   node dist/bench/run.js --only=http  one part (codec | http); BENCH_SECONDS=N per measured HTTP run
import { arch, cpus, loadavg, platform } from 'node:os'
import { benchCodec } from './codec.js'
import { benchHttp, type HttpBenchResult, type TargetFigures } from './http.js'

const CODEC_BAR = 2_000_000
const RATIO_BAR = 0.6
const P99_BAR_MS = 15
// What the issue asks for; shorter runs are allowed for quick checks but flagged in the output.
const MIN_SECONDS = 10

interface Bar {
  name: string
  pass: boolean
  value: string
}

function parseOnly(args: string[]): 'codec' | 'http' | undefined {
  let only: 'codec' | 'http' | undefined
  for (const arg of args) {
    const match = /^--only=(codec|http)$/.exec(arg)
    if (!match) {
      console.error(`bench: unknown argument "${arg}"; usage: node dist/bench/run.js [--only=codec|http]`)
      process.exit(2)
    }
    only = match[1] as 'codec' | 'http'
  }
  return only
}

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => n.toFixed(2)

/** Columns padded to a common width; `align` has one letter per column, l or r (default: all l). */
function table(rows: string[][], align = ''): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? []
  const cell = (text: string, column: number) =>
    align[column] === 'r' ? text.padStart(widths[column] ?? 0) : text.padEnd(widths[column] ?? 0)
  return rows.map((row) => `  ${row.map(cell).join('   ')}`.trimEnd()).join('\n')
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

function printHeader(): void {
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

function targetRow(name: string, figures: TargetFigures): string[] {
  return [
    name,
    int(figures.requestsPerSecond),
    ms(figures.p50Ms),
    ms(figures.p99Ms),
    int(figures.responses2xx),
    int(figures.non2xx),
    int(figures.errors),
  ]
}

function printHttp(result: HttpBenchResult): void {
  const short = result.seconds < MIN_SECONDS ? ` (shorter than the ${MIN_SECONDS} s the issue asks for)` : ''
  console.log(
    `\nHTTP ${result.label === result.database ? result.label : `${result.label} on ${result.database}`} ` +
      `(${result.connections} connections; ` +
      `${result.warmupSeconds} s warm-up + ${result.seconds} s measured per server${short}; ` +
      `reply ${result.bodyBytes} bytes)`,
  )
  console.log(
    table(
      [
        ['', 'req/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx', 'errors'],
        targetRow('baseline (node:http)', result.baseline),
        targetRow('service (waybill)', result.service),
      ],
      'lrrrrrr',
    ),
  )
  console.log(
    table([
      ['ratio service/baseline', result.ratio.toFixed(3)],
      ['numbers answered (200)', `${int(result.answered)} (1 sample + warm-up + measured)`],
      ['rows stored this run', `${int(result.stored)} (+${int(result.storedNotAnswered)} in flight at stop)`],
      ['rows / distinct in table', `${int(result.rows)} / ${int(result.distinct)}`],
      ['duplicates', int(result.duplicates)],
      ['service log', `${(result.serviceLogBytes / 1e6).toFixed(1)} MB; exit code ${result.serviceExitCode}`],
    ]),
  )
}

function httpBars(result: HttpBenchResult, bars: Bar[]): void {
  bars.push(
    { name: `HTTP ratio ≥ ${RATIO_BAR}`, pass: result.ratio >= RATIO_BAR, value: result.ratio.toFixed(3) },
    {
      name: `HTTP p99 ≤ ${P99_BAR_MS} ms`,
      pass: result.service.p99Ms <= P99_BAR_MS,
      value: `${ms(result.service.p99Ms)} ms`,
    },
    { name: 'zero duplicates', pass: result.duplicates === 0, value: int(result.duplicates) },
    {
      name: 'all answered numbers stored',
      pass: result.allStored,
      value: `${int(result.stored)} stored ≥ ${int(result.answered)} answered`,
    },
    {
      // Not one of the issue's bars, but a fast service answering errors must not pass the others.
      name: 'service answered only 2xx',
      pass: result.service.non2xx === 0 && result.service.errors === 0,
      value: `${int(result.service.non2xx)} non-2xx, ${int(result.service.errors)} errors`,
    },
  )
}

async function main(): Promise<void> {
  const only = parseOnly(process.argv.slice(2))
  const bars: Bar[] = []
  printHeader()
  if (only !== 'http') runCodec(bars)
  if (only !== 'codec') {
    try {
      const result = await benchHttp({ label: 'sqlite' })
      printHttp(result)
      httpBars(result, bars)
    } catch (error) {
      // Still print the bars measured so far; a harness failure is itself a failed bar.
      console.error(error)
      bars.push({
        name: 'HTTP benchmark ran',
        pass: false,
        value: (error as Error).message.split('\n')[0] ?? '',
      })
    }
  }

  console.log('\nBars')
  console.log(table(bars.map((bar) => [bar.pass ? 'PASS' : 'FAIL', bar.name, bar.value])))
  const failed = bars.filter((bar) => !bar.pass).length
  console.log(failed === 0 ? '\nAll bars met.' : `\n${failed} of ${bars.length} bars failed.`)
  process.exitCode = failed === 0 ? 0 : 1
}

await main()
