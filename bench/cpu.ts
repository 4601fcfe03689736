// CPU time per request, read from Linux's /proc: what a server costs for each answer, the figure the
// benchmark's bars are set on. The servers, the load generator (wrk, a process of its own: see wrk.ts)
// and, for PostgreSQL and MySQL/MariaDB, the database server all share this machine's cores, so req/s moves with
// whatever else runs; CPU per answered request moves much less.
//
// Per-thread figures come from /proc/<pid>/task/<tid>/stat (utime + stime, in USER_HZ ticks, which
// the kernel reports as 1/100 s on every architecture Node supports). On other systems it reports
// nothing, and the benchmark prints no CPU table.
import { readdirSync, readFileSync } from 'node:fs'

const TICK_SECONDS = 0.01

/** CPU seconds so far, by group. */
export type CpuSample = Map<string, number>

/** CPU seconds used between two samples, by group. */
export type CpuUse = Record<string, number>

interface Stat {
  pid: number
  ppid: number
  name: string
  seconds: number
}

function stat(path: string): Stat | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined // exited between the listing and the read
  }
  // The name is in parentheses and may hold spaces or parentheses itself: split after the last ')'.
  const close = text.lastIndexOf(')')
  const fields = text.slice(close + 2).split(' ')
  return {
    pid: Number(text.slice(0, text.indexOf(' '))),
    ppid: Number(fields[1]),
    name: text.slice(text.indexOf('(') + 1, close),
    seconds: (Number(fields[11]) + Number(fields[12])) * TICK_SECONDS,
  }
}

function processes(): Stat[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  return entries.flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return []
    const found = stat(`/proc/${entry}/stat`)
    return found ? [found] : []
  })
}

/** The root and every process started under it (cluster workers, for `WEB_CONCURRENCY`). */
function tree(root: number, all: Stat[]): number[] {
  const pids = [root]
  for (let i = 0; i < pids.length; i++) {
    for (const p of all) if (p.ppid === pids[i]) pids.push(p.pid)
  }
  return pids
}

/**
 * One sample: for the server tree rooted at `server`, its main threads (one per process) apart from
 * its other threads (the SQLite writer, libuv's pool, V8's helpers); and, when `database` is given,
 * every process named `postgres` on the machine but those in `database.exclude` (other databases'
 * sessions: on a shared machine other work runs beside the benchmark); or, given `database.pid`,
 * that one process with all its threads (MySQL/MariaDB: one process, a thread per connection).
 */
export type DatabaseCpu = { exclude: Set<number> } | { pid: number }

export function sampleCpu(server: number, database?: DatabaseCpu): CpuSample {
  const sample: CpuSample = new Map()
  const add = (group: string, seconds: number) => sample.set(group, (sample.get(group) ?? 0) + seconds)
  const all = processes()
  for (const pid of tree(server, all)) {
    let threads: string[] = []
    try {
      threads = readdirSync(`/proc/${pid}/task`)
    } catch {}
    for (const tid of threads) {
      const thread = stat(`/proc/${pid}/task/${tid}/stat`)
      if (thread) add(Number(tid) === pid ? 'serverMain' : 'serverOther', thread.seconds)
    }
  }
  if (database && 'pid' in database) {
    // The process line counts every thread, those that exited too.
    sample.set('database', stat(`/proc/${database.pid}/stat`)?.seconds ?? 0)
  } else if (database) {
    sample.set('database', 0)
    for (const p of all) if (p.name === 'postgres' && !database.exclude.has(p.pid)) add('database', p.seconds)
  }
  add(MACHINE, machineBusySeconds())
  return sample
}

/** Every core's busy time (all processes, the kernel's interrupts included), from /proc/stat. */
function machineBusySeconds(): number {
  let line = ''
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  } catch {
    return 0
  }
  // cpu  user nice system idle iowait irq softirq steal …
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * TICK_SECONDS
  )
}

/** The machine's total, not a group: `others` = machine − the groups (other processes' work). */
export const MACHINE = 'machine'

/** CPU seconds of everything on the machine that is not the benchmark's own processes. */
export function othersSeconds(use: CpuUse): number {
  const ours = Object.entries(use).reduce(
    (sum, [group, seconds]) => (group === MACHINE ? sum : sum + seconds),
    0,
  )
  return Math.max(0, (use[MACHINE] ?? 0) - ours)
}

export function cpuUsed(before: CpuSample, after: CpuSample): CpuUse {
  const use: CpuUse = {}
  for (const [group, seconds] of after) {
    // A group that was not there before (a process started during the run) counts from zero.
    use[group] = Math.max(0, seconds - (before.get(group) ?? 0))
  }
  return use
}

/** /proc exists and reads as expected (Linux). */
export function cpuMeasurable(): boolean {
  const self = stat(`/proc/${process.pid}/stat`)
  return self !== undefined && self.pid === process.pid
}
