import type { Allocator } from './allocator.js'
import type { Codec } from './codec.js'

export interface Encoded {
  sequence: number
  body: string
}

// The codec is fastest on runs of consecutive values, so bodies are encoded a chunk at a time.
const CHUNK = 256

/** Sequence values from the allocator, already encoded to tracking-number bodies. */
export class Supply {
  private start = 0
  private bodies: string[] = []
  private index = 0
  private refilling: Promise<void> | undefined
  private generation = 0

  constructor(
    private readonly allocator: Pick<Allocator, 'nextRange'>,
    private readonly codec: Pick<Codec, 'bodies'>,
  ) {}

  /** The next value at once if one is encoded and waiting (nearly always); undefined otherwise. */
  take(): Encoded | undefined {
    if (this.index >= this.bodies.length) return undefined
    const i = this.index++
    return { sequence: this.start + i, body: this.bodies[i] as string }
  }

  async next(): Promise<Encoded> {
    for (;;) {
      const taken = this.take()
      if (taken) return taken
      this.refilling ??= this.refill().finally(() => {
        this.refilling = undefined
      })
      await this.refilling
    }
  }

  /** Forgets the values encoded and waiting: their block is no longer trusted (see Allocator.fence). */
  drop(): void {
    this.generation++
    this.bodies = []
    this.index = 0
  }

  private async refill(): Promise<void> {
    const generation = this.generation
    const range = await this.allocator.nextRange(CHUNK)
    if (generation !== this.generation) return // taken before a drop: lost, like a block's rest
    this.bodies = this.codec.bodies(range.start, range.count)
    this.start = range.start
    this.index = 0
  }
}
