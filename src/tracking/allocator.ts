import type { Block } from './repository.js'

export interface AllocatorOptions {
  /** One committed database write that hands this process [start, end) for good. */
  reserve: (size: number) => Promise<Block>
  minBlock: number
  maxBlock: number
  /** A block should last about this long at the current issue rate. */
  blockSeconds: number
  /** Reserve the next block once the current one has this share left (double buffering). */
  refillAt?: number
  now?: () => number
  onReserve?: (block: Block) => void
  /**
   * After `fence()`, run before the next reservation: makes sure the counter is past `end`, the
   * highest end of a block this process reserved (the new server may have lost reservations).
   */
  fence?: (end: number) => Promise<void>
  onError?: (error: unknown) => void
}

// A block is at most this many times the previous one. The rate is measured from values handed to
// the supply, which takes them a chunk at a time: right after a start, one chunk looks like a huge
// rate, and without this cap the second block would be the largest allowed (values lost at the
// next restart). Slow start: from the smallest block to the largest in a few reservations.
const MAX_GROWTH = 8

export interface Range {
  start: number
  count: number
}

/**
 * Hands out sequence values from blocks whose reservation is already committed, so no value is
 * ever handed out twice, across processes and restarts (unused values of a block are simply lost).
 * The next block is reserved while the current one still has a good share left: requests wait on
 * the database only when both buffers are empty.
 */
export class Allocator {
  private current: Block & { next: number; size: number } = { start: 0, end: 0, next: 0, size: 0 }
  private spare: Block | undefined
  private reserving: Promise<void> | undefined
  private issuedSinceReserve = 0
  private lastSize: number
  private lastReserveAt: number
  /** Counts fences: a reservation that began before the latest one is never handed out. */
  private generation = 0
  private fencePending = false
  private highestEnd = 0
  private readonly now: () => number
  private readonly refillAt: number

  constructor(private readonly options: AllocatorOptions) {
    this.now = options.now ?? (() => performance.now())
    this.refillAt = options.refillAt ?? 0.5
    this.lastReserveAt = this.now()
    this.lastSize = options.minBlock
  }

  /** Up to `max` consecutive sequence values from one block. */
  async nextRange(max: number): Promise<Range> {
    for (;;) {
      const block = this.current
      if (block.next < block.end) {
        const start = block.next
        const count = Math.min(max, block.end - start)
        block.next += count
        this.issuedSinceReserve += count
        if (!this.spare && !this.reserving && block.end - block.next <= block.size * this.refillAt) {
          this.reserve().catch((error) => this.options.onError?.(error))
        }
        return { start, count }
      }
      if (this.spare) {
        this.install(this.spare)
        this.spare = undefined
        continue
      }
      await this.reserve()
    }
  }

  /**
   * The database is now another server or timeline (a failover): the unused rest of every block
   * reserved before is dropped, and the counter is checked before the next reservation.
   */
  fence(): void {
    this.generation++
    this.fencePending = true
    this.current = { start: 0, end: 0, next: 0, size: 0 }
    this.spare = undefined
  }

  /** The block size for the observed rate (a block should last about `blockSeconds`), growing gradually. */
  nextBlockSize(): number {
    const { minBlock, maxBlock, blockSeconds } = this.options
    const elapsedSeconds = Math.max((this.now() - this.lastReserveAt) / 1000, 0.001)
    const rate = this.issuedSinceReserve / elapsedSeconds
    const wanted = Math.max(minBlock, Math.ceil(rate * blockSeconds))
    return Math.min(maxBlock, this.lastSize * MAX_GROWTH, wanted)
  }

  private reserve(): Promise<void> {
    this.reserving ??= (async () => {
      try {
        const generation = this.generation
        if (this.fencePending && this.options.fence) {
          await this.options.fence(this.highestEnd)
          if (generation === this.generation) this.fencePending = false
        }
        const size = this.nextBlockSize()
        const block = await this.options.reserve(size)
        this.highestEnd = Math.max(this.highestEnd, block.end)
        // Reserved on the server before a failover: its values may be unknown to the new one.
        if (generation !== this.generation) return
        this.lastSize = size
        this.issuedSinceReserve = 0
        this.lastReserveAt = this.now()
        this.options.onReserve?.(block)
        if (this.current.next >= this.current.end) this.install(block)
        else this.spare = block
      } finally {
        this.reserving = undefined
      }
    })()
    return this.reserving
  }

  private install(block: Block): void {
    this.current = { start: block.start, end: block.end, next: block.start, size: block.end - block.start }
  }
}
