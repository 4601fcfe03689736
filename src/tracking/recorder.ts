export interface RecorderOptions<T> {
  /** Commits all entries in one transaction; returns one outcome per entry, in order. */
  write: (entries: T[]) => Promise<boolean[]>
  /** Size of an entry in rows, to cap a transaction at `maxBatch` rows. */
  sizeOf: (entry: T) => number
  maxBatch: number
  /**
   * Transactions in flight at once. 1 for a single-writer database (SQLite); more where the
   * server commits concurrently (PostgreSQL), so throughput is not one commit's latency bound.
   */
  concurrency?: number
  /**
   * Past this many transactions in flight (default: `concurrency`), another starts only when a full
   * one (`maxBatch` rows) is queued: single numbers go in fewer, larger commits, while batches,
   * which fill whole transactions, still use every slot.
   */
  steady?: number
  /**
   * Milliseconds (0: none) the next commit may wait, once none is in flight, for as many rows as
   * the one that just committed: its callers, answered now, are about to send their next requests.
   * It starts as soon as that many are queued, or when the time is up. Clients that each wait for
   * their answer before they ask again then share one commit instead of alternating between two,
   * and a database that spends much of its CPU per commit (PostgreSQL) spends less per row.
   */
  gatherMs?: number
  /** A transaction committed; `started` is when it began (performance.now()). */
  onCommit?: (rows: number, seconds: number, started: number) => void
  /** A transaction failed (once per transaction, not per entry): what /ready learns from. */
  onError?: (error: unknown) => void
}

interface Pending<T> {
  entry: T
  resolve: (written: boolean) => void
  reject: (error: unknown) => void
}

/**
 * Group commit: entries arriving while commits are being prepared or are in flight are written
 * together in the next transaction, and each caller is answered only once its transaction has
 * committed (no reply before durability). An entry is never split across transactions.
 */
export class Recorder<T> {
  private queue: Pending<T>[] = []
  private scheduled = false
  private inFlight = 0
  /** Rows in `queue`. */
  private queuedRows = 0
  private readonly concurrency: number
  private readonly steady: number
  /**
   * While the next commit waits for `rows` to be queued (gatherMs). Then none is in flight and
   * fewer than `rows` (at most maxBatch) are queued: nothing starts until it ends.
   */
  private gathering: { rows: number; timer: NodeJS.Timeout } | undefined

  constructor(private readonly options: RecorderOptions<T>) {
    this.concurrency = Math.max(1, options.concurrency ?? 1)
    this.steady = Math.min(this.concurrency, Math.max(1, options.steady ?? this.concurrency))
  }

  /** Resolves after the entry is committed: true if written, false if its idempotency key was taken. */
  write(entry: T): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, resolve, reject })
      this.queuedRows += this.options.sizeOf(entry)
      if (this.gathering && this.queuedRows >= this.gathering.rows) this.endGathering()
      if (this.scheduled || !this.mayStart()) return // a finishing commit pumps
      this.scheduled = true
      // Let every request parsed in this turn of the event loop join the same transaction.
      setImmediate(() => {
        this.scheduled = false
        this.pump()
      })
    })
  }

  /** Waits until everything queued so far is committed (or has failed). */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled || this.inFlight > 0) {
      if (this.gathering) {
        this.endGathering() // nothing waits for more once closing
        this.pump()
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  private mayStart(): boolean {
    if (this.gathering) return false
    if (this.inFlight < this.steady) return true
    return this.inFlight < this.concurrency && this.queuedRows >= this.options.maxBatch
  }

  private pump(): void {
    while (this.queue.length > 0 && this.mayStart()) {
      this.inFlight++
      void this.commit(this.takeBatch())
    }
  }

  private async commit(batch: Pending<T>[]): Promise<void> {
    const started = performance.now()
    const rows = batch.reduce((sum, p) => sum + this.options.sizeOf(p.entry), 0)
    let committed = false
    try {
      const outcomes = await this.options.write(batch.map((p) => p.entry))
      committed = true
      this.options.onCommit?.(rows, (performance.now() - started) / 1000, started)
      batch.forEach((p, i) => {
        p.resolve(outcomes[i] ?? false)
      })
    } catch (error) {
      this.options.onError?.(error)
      for (const p of batch) p.reject(error)
    } finally {
      // Synchronously with the slot being freed, so a write queued meanwhile is never stranded:
      // pumped now, or when the gathering ends (enough written, its time up, or a flush).
      this.inFlight--
      const gatherMs = this.options.gatherMs ?? 0
      // After a failure, no wait: what is queued is tried at once, as without gatherMs. No more
      // than a commit may hold is waited for (one entry may be larger than maxBatch).
      const target = Math.min(rows, this.options.maxBatch)
      const gather = gatherMs > 0 && committed && this.inFlight === 0
      if (gather && this.queue.length > 0 && this.queuedRows < target) {
        const timer = setTimeout(() => {
          this.endGathering()
          this.pump()
        }, gatherMs)
        this.gathering = { rows: target, timer }
      } else {
        this.pump()
      }
    }
  }

  private endGathering(): void {
    clearTimeout(this.gathering?.timer)
    this.gathering = undefined
  }

  private takeBatch(): Pending<T>[] {
    let rows = 0
    let taken = 0
    while (taken < this.queue.length) {
      const size = this.options.sizeOf((this.queue[taken] as Pending<T>).entry)
      if (taken > 0 && rows + size > this.options.maxBatch) break
      rows += size
      taken++
    }
    this.queuedRows -= rows
    return this.queue.splice(0, taken)
  }
}
