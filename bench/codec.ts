// Throughput of the tracking-number codec on the current thread. A measurement, not a test: it reports
// figures and whether the 2,000,000 numbers/s bar is met, and never fails.
//
//   npx tsx bench/codec.ts [seconds]
import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { createCodec, type TrackingFormat } from '../src/tracking/codec.js'

export const TARGET_PER_SECOND = 2_000_000
const BATCH = 256

export interface CodecBenchResult {
  bodiesPerSecond: number
  singleEncodesPerSecond: number
}

// Runs `step` (which handles `perStep` numbers) until `seconds` have passed; returns numbers per second.
function measure(seconds: number, perStep: number, step: (i: number) => number): number {
  let sink = 0
  let done = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  let now = start
  for (let i = 0; now < deadline; i++) {
    sink += step(i)
    done += perStep
    now = performance.now()
  }
  // Consume the results so the work cannot be optimised away.
  if (sink < 0) throw new Error('unreachable')
  return done / ((now - start) / 1000)
}

/**
 * bodies(start, 256) + assemble for each number, advancing start (≈ 75 % of the time), then single
 * encode() calls (≈ 25 %), after a short warm-up so the JIT has settled.
 */
export function benchCodec(options: { seconds?: number; format?: TrackingFormat } = {}): CodecBenchResult {
  const seconds = options.seconds ?? 2
  const codec = createCodec({ key: randomBytes(32), format: options.format ?? 'default' })
  const lane = { origin: 'NL', destination: 'DE' }
  let next = 1_000_000

  const batch = (): number => {
    const bodies = codec.bodies(next, BATCH)
    next += BATCH
    let sum = 0
    for (const body of bodies) sum += codec.assemble(body, lane).charCodeAt(15)
    return sum
  }
  const single = (i: number): number => codec.encode(BigInt(i), lane).charCodeAt(15)

  measure(Math.min(0.3, seconds / 10), BATCH, batch)
  measure(Math.min(0.1, seconds / 20), 1, single)
  return {
    bodiesPerSecond: measure(seconds * 0.75, BATCH, batch),
    singleEncodesPerSecond: measure(seconds * 0.25, 1, single),
  }
}

const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const seconds = Number(process.argv[2] ?? 2)
  const format = (n: number) => Math.round(n).toLocaleString('en-US')
  console.log(`codec bench, node ${process.version}, ${seconds} s per format, one thread`)
  // Only the first codec in a process gets V8's context-specialised code; later instances (here: route)
  // share generic code and run ~15 % slower. A server creates one codec, so the first figure is the real one.
  for (const trackingFormat of ['default', 'route'] as const) {
    const result = benchCodec({ seconds, format: trackingFormat })
    const met = result.bodiesPerSecond >= TARGET_PER_SECOND ? 'met' : 'NOT met'
    console.log(
      `  ${trackingFormat.padEnd(7)}  bodies(start, ${BATCH}) + assemble: ${format(result.bodiesPerSecond)}/s ` +
        `(bar ${format(TARGET_PER_SECOND)}/s ${met}); single encode(): ` +
        `${format(result.singleEncodesPerSecond)}/s`,
    )
  }
}
