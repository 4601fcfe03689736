// The reading half of bench/perf.ts, without I/O: turns the text of `perf script -F tid,period,ip,sym,dso`
// into samples, and a run's samples into CPU µs per answered request by thread, by the kind of code a
// sample was taken in (its leaf frame) and by stage (whose code it was working for). Tested with
// hand-written perf output in test/bench/perf-attribution.test.ts.
//
// perf script prints each sample as a header line `  <tid>  <period>`, then one line per frame, leaf
// first: `\t<hex ip> <symbol> (<dso>)`, then a blank line. Under the cpu-clock event a sample's
// period is the CPU nanoseconds it stands for. Node started with --perf-basic-prof-only-functions
// writes /tmp/perf-<pid>.map, which gives JIT frames names: `JS:*name file:///…/x.js:12:31`.
//
// The map only grows: JIT code placed where collected code was gets an entry of its own, and perf
// takes the first entry that covers an address, the old code's. Unfixed, that named hot Node code
// after start-up code long gone (half of one run's main thread went to a package that never runs on
// a request); newestMapEntries() keeps, of entries that overlap, the one written last. One limit is
// left: cpu-clock is a timer, and a sample due while the kernel has interrupts off is taken where it
// turns them back on, so irq-enable points (pvm_irq_enable on a paravirtualized guest) gather the
// kernel's leaf samples; the kernel's total is right, its leaf symbols less so.
import { basename } from 'node:path'

/**
 * A perf map (`<hex start> <hex size> <name>` a line, in the order V8 wrote them) with, of entries
 * whose address ranges overlap, only the one written last: the code that was there since. An entry
 * beaten by a newer one is dropped whole, and an older one it had beaten stays dropped.
 */
export function newestMapEntries(text: string): string {
  const entries = text
    .split('\n')
    .map((line, order) => {
      const [start, size] = line.split(' ', 2)
      return { line, order, start: Number.parseInt(start ?? '', 16), size: Number.parseInt(size ?? '', 16) }
    })
    .filter((entry) => Number.isFinite(entry.start) && Number.isFinite(entry.size))
    .sort((a, b) => a.start - b.start || a.order - b.order)
  const kept: typeof entries = []
  for (const entry of entries) {
    const last = kept.at(-1)
    if (last && entry.start < last.start + last.size) {
      if (entry.order > last.order) kept[kept.length - 1] = entry
    } else kept.push(entry)
  }
  return kept
    .sort((a, b) => a.order - b.order)
    .map((entry) => `${entry.line}\n`)
    .join('')
}

export interface Frame {
  symbol: string
  dso: string
}

export interface Sample {
  tid: number
  /** CPU nanoseconds (cpu-clock). */
  period: number
  /** Leaf first. */
  frames: Frame[]
}

export const KINDS = ['kernel', 'JIT', 'node binary', 'libc', 'other native'] as const
export type Kind = (typeof KINDS)[number]

export const MAIN = 'main thread'
export const WRITER = 'writer thread'
export const OTHERS = 'other threads'

export interface AttributionOptions {
  /** The process's pid: its main thread's tid. */
  pid: number
  answered: number
  /** Name the busiest thread but the main one "writer thread" (Waybill on SQLite). */
  writerThread: boolean
  /** The node executable's path, as perf names its frames (besides /usr/bin/node). */
  nodeBinary: string
  /** How many of the main thread's leaf symbols to keep. */
  top: number
}

/** Every figure in CPU µs per answered request, each record sorted largest first. */
export interface Attribution {
  threads: Record<string, number>
  /** By thread group, then leaf kind. */
  kinds: Record<string, Record<Kind, number>>
  /** The main thread's samples by stage. */
  stages: Record<string, number>
  /** The main thread's busiest leaf symbols. */
  leaves: [string, number][]
  /** The writer thread's samples by stage; empty when there is none. */
  writerStages: Record<string, number>
  /** The writer thread's busiest leaf symbols; empty when there is none. */
  writerLeaves: [string, number][]
}

const HEADER = /^\s*(\d+)\s+(\d+)\s*$/
const FRAME = /^\s*[0-9a-f]+\s+(.*?)\s*\(([^()]*)\)$/
const KERNEL = '[kernel.kallsyms]'
// The last package in the path: a dependency's own node_modules names the package whose code ran.
const PACKAGE = /.*\/node_modules\/((?:@[^/\s]+\/)?[^/\s]+)\//
const OWN = /\/dist\/(src\/\S+)\.js:\d+:\d+$/
const INTERNAL = / (node:[^\s:]+)(?::\d+:\d+)?$/
const GC = /Scavenge|MarkCompact|Heap::/
const WRITER_STAGES: [string, RegExp][] = [
  ['fsync', /fsync|fdatasync/],
  ['SQLite statement execution', /sqlite3VdbeExec|sqlite3_step/],
  ['binding', /BindValueFromJS|Binder/],
  ['message deserialization', /ValueDeserializer/],
  ['UUIDs', /randomUuids/],
  ['waiting/polling (epoll)', /epoll/],
]

/** Adds one line of perf script's output to `samples`: a header starts a sample, a frame extends the last. */
export function readLine(samples: Sample[], line: string): void {
  const header = HEADER.exec(line)
  if (header) {
    samples.push({ tid: Number(header[1]), period: Number(header[2]), frames: [] })
    return
  }
  const sample = samples.at(-1)
  if (!sample || line.trim() === '') return
  const frame = FRAME.exec(line)
  sample.frames.push({ symbol: frame?.[1] ?? line.trim(), dso: frame?.[2] ?? '[unknown]' })
}

export function leafKind(leaf: Frame | undefined, nodeBinary: string): Kind {
  if (leaf?.dso === KERNEL) return 'kernel'
  if (leaf?.symbol.startsWith('JS:')) return 'JIT'
  if (leaf?.dso === '/usr/bin/node' || leaf?.dso === nodeBinary) return 'node binary'
  if (leaf && /^libc[.-]/.test(basename(leaf.dso))) return 'libc'
  return 'other native' // native addons (better_sqlite3.node), libstdc++, [vdso], [unknown]
}

/** A JIT frame of Waybill's own code (dist/src/x.js: src/x) or of a package (its name). */
function codeStage(frame: Frame): string | undefined {
  if (!frame.symbol.startsWith('JS:')) return undefined
  return PACKAGE.exec(frame.symbol)?.[1] ?? OWN.exec(frame.symbol)?.[1]
}

/** Whose work a main-thread sample is: the code nearest its leaf that is ours or a package's. */
export function mainStage(frames: Frame[]): string {
  for (const frame of frames) {
    const stage = codeStage(frame)
    if (stage) return stage
  }
  for (const frame of frames) {
    const internal = frame.symbol.startsWith('JS:') && INTERNAL.exec(frame.symbol)?.[1]
    if (internal) return internal
  }
  if (frames[0]?.dso === KERNEL) return 'kernel (no JS above)'
  if (frames.some((frame) => GC.test(frame.symbol))) return 'V8 GC'
  return 'native (event loop, parser)'
}

export function writerStage(frames: Frame[]): string {
  const found = WRITER_STAGES.find(([, pattern]) => frames.some((frame) => pattern.test(frame.symbol)))
  return found?.[0] ?? 'other'
}

/** A leaf's name for the top list: JIT paths from dist/ or node_modules/ on, others with their library. */
export function leafName(leaf: Frame | undefined): string {
  if (!leaf) return '(no frames)'
  if (leaf.dso === KERNEL) return `${leaf.symbol} [kernel]`
  if (leaf.symbol.startsWith('JS:'))
    return leaf.symbol.replace(/(?:file:\/\/)?\/\S*?\/(?=(?:dist|node_modules)\/)/, '')
  return `${leaf.symbol} (${basename(leaf.dso)})`
}

function add(totals: Map<string, number>, key: string, nanoseconds: number): void {
  totals.set(key, (totals.get(key) ?? 0) + nanoseconds)
}

function busiestOther(samples: Sample[], pid: number): number | undefined {
  const byTid = new Map<string, number>()
  for (const sample of samples) if (sample.tid !== pid) add(byTid, String(sample.tid), sample.period)
  const [busiest] = [...byTid].sort((a, b) => b[1] - a[1])
  return busiest && Number(busiest[0])
}

export function attribute(samples: Sample[], options: AttributionOptions): Attribution {
  const writer = options.writerThread ? busiestOther(samples, options.pid) : undefined
  const threads = new Map<string, number>()
  const kinds = new Map<string, Map<string, number>>()
  const stages = new Map<string, number>()
  const leaves = new Map<string, number>()
  const writerStages = new Map<string, number>()
  const writerLeaves = new Map<string, number>()
  for (const sample of samples) {
    const group = sample.tid === options.pid ? MAIN : sample.tid === writer ? WRITER : OTHERS
    add(threads, group, sample.period)
    if (!kinds.has(group)) kinds.set(group, new Map(KINDS.map((kind) => [kind, 0])))
    add(
      kinds.get(group) as Map<string, number>,
      leafKind(sample.frames[0], options.nodeBinary),
      sample.period,
    )
    if (group === MAIN) {
      add(stages, mainStage(sample.frames), sample.period)
      add(leaves, leafName(sample.frames[0]), sample.period)
    }
    if (group === WRITER) {
      add(writerStages, writerStage(sample.frames), sample.period)
      add(writerLeaves, leafName(sample.frames[0]), sample.period)
    }
  }
  const perRequest = (totals: Map<string, number>) =>
    [...totals]
      .sort((a, b) => b[1] - a[1])
      .map(([key, nanoseconds]): [string, number] => [key, nanoseconds / 1000 / options.answered])
  return {
    threads: Object.fromEntries(perRequest(threads)),
    kinds: Object.fromEntries(
      [...kinds].map(([group, byKind]) => [
        group,
        Object.fromEntries(KINDS.map((kind) => [kind, (byKind.get(kind) ?? 0) / 1000 / options.answered])),
      ]),
    ) as Record<string, Record<Kind, number>>,
    stages: Object.fromEntries(perRequest(stages)),
    leaves: perRequest(leaves).slice(0, options.top),
    writerStages: Object.fromEntries(perRequest(writerStages)),
    writerLeaves: perRequest(writerLeaves).slice(0, options.top),
  }
}
