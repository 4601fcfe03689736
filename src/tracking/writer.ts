import { Worker } from 'node:worker_threads'
import type { Config } from '../config.js'
import { type PackedBatch, packBatch } from './packing.js'
import type { Block, TrackingRepository, WriteEntry } from './repository.js'

/** Every write of the tracking feature: block reservations, group commits, key clean-up. */
export interface TrackingWriter {
  reserveBlock(size: number): Promise<Block>
  writeBatch(entries: WriteEntry[]): Promise<boolean[]>
  deleteIdempotencyKeysBefore(createdAt: string): Promise<number>
  close(): Promise<void>
}

/** Writes on the caller's own connection: right for drivers that do not block the event loop. */
export function directWriter(
  repository: Pick<TrackingRepository, 'reserveBlock' | 'writeBatch' | 'deleteIdempotencyKeysBefore'>,
): TrackingWriter {
  return {
    reserveBlock: (size) => repository.reserveBlock(size),
    writeBatch: (entries) => repository.writeBatch(entries),
    deleteIdempotencyKeysBefore: (createdAt) => repository.deleteIdempotencyKeysBefore(createdAt),
    close: async () => {},
  }
}

export type WriterRequest =
  | { id: number; method: 'reserveBlock'; args: [number] }
  | { id: number; method: 'writePacked'; args: [PackedBatch] }
  | { id: number; method: 'deleteIdempotencyKeysBefore'; args: [string] }
export type WriterReply =
  | { id: number; result: unknown }
  | { id: number; error: { message: string; code?: string; name: string } }

// Under tsx this module is the .ts source; compiled, it is .js: the thread's entry must match.
const THREAD = new URL(
  `./writer-thread${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`,
  import.meta.url,
)

function startThread(workerData: unknown): Worker {
  if (!THREAD.pathname.endsWith('.ts')) return new Worker(THREAD, { workerData })
  // From TypeScript sources (tests, npm run dev): Node 20 does not pass tsx's hooks on to threads.
  const tsx = import.meta.resolve('tsx/esm/api')
  const code = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD.href)}) })`
  return new Worker(code, { eval: true, workerData })
}

/**
 * Writes in a thread of their own, on a connection of their own: a synchronous driver (SQLite)
 * then blocks only that thread, fsync included, while the event loop keeps serving requests.
 * The thread is restarted on the next call if it ever dies. On SQLite it is also the one
 * connection that checkpoints (see writer-thread.ts).
 */
export function threadedWriter(database: Config['database']): TrackingWriter {
  type Waiting = { resolve: (value: never) => void; reject: (error: unknown) => void }
  // Each thread answers only its own calls: a dying thread fails what it was sent, nothing else.
  let current: { worker: Worker; pending: Map<number, Waiting> } | undefined
  let nextId = 0

  const start = () => {
    const pending = new Map<number, Waiting>()
    const worker = startThread(database)
    const failAll = (error: unknown) => {
      for (const waiting of pending.values()) waiting.reject(error)
      pending.clear()
    }
    worker.on('message', (reply: WriterReply) => {
      const waiting = pending.get(reply.id)
      if (!waiting) return
      pending.delete(reply.id)
      if ('error' in reply) waiting.reject(Object.assign(new Error(reply.error.message), reply.error))
      else waiting.resolve(reply.result as never)
    })
    worker.on('error', failAll)
    worker.on('exit', (code) => {
      if (current?.worker === worker) current = undefined
      failAll(new Error(`database writer thread exited with code ${code}`))
    })
    return { worker, pending }
  }
  // Started now, not on the first write: it also checkpoints what the main connection writes.
  current = start()
  const call = <T>(request: Omit<WriterRequest, 'id'>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      current ??= start()
      current.pending.set(id, { resolve: resolve as (value: never) => void, reject })
      current.worker.postMessage({ ...request, id })
    })

  return {
    reserveBlock: (size) => call<Block>({ method: 'reserveBlock', args: [size] }),
    // Packed here: a few flat arrays and one string cross to the thread faster than records as objects (packing.ts).
    writeBatch: (entries) => call<boolean[]>({ method: 'writePacked', args: [packBatch(entries)] }),
    deleteIdempotencyKeysBefore: (createdAt) =>
      call<number>({ method: 'deleteIdempotencyKeysBefore', args: [createdAt] }),
    close: async () => {
      const thread = current?.worker
      current = undefined
      if (thread) await thread.terminate()
    },
  }
}
