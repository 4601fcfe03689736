import { Worker } from 'node:worker_threads'
import type { Config } from '../config.js'
import type { Block, TrackingRepository, WriteEntry } from './repository.js'

/** Every write of the issuing path: block reservations and group commits. */
export interface TrackingWriter {
  reserveBlock(size: number): Promise<Block>
  writeBatch(entries: WriteEntry[]): Promise<boolean[]>
  close(): Promise<void>
}

/** Writes on the caller's own connection: right for drivers that do not block the event loop. */
export function directWriter(
  repository: Pick<TrackingRepository, 'reserveBlock' | 'writeBatch'>,
): TrackingWriter {
  return {
    reserveBlock: (size) => repository.reserveBlock(size),
    writeBatch: (entries) => repository.writeBatch(entries),
    close: async () => {},
  }
}

export type WriterRequest =
  | { id: number; method: 'reserveBlock'; args: [number] }
  | { id: number; method: 'writeBatch'; args: [WriteEntry[]] }
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
 * The thread is restarted on the next call if it ever dies.
 */
export function threadedWriter(database: Config['database']): TrackingWriter {
  let worker: Worker | undefined
  let nextId = 0
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: unknown) => void }>()

  const failAll = (error: unknown) => {
    for (const p of pending.values()) p.reject(error)
    pending.clear()
  }
  const start = (): Worker => {
    const thread = startThread(database)
    thread.on('message', (reply: WriterReply) => {
      const waiting = pending.get(reply.id)
      if (!waiting) return
      pending.delete(reply.id)
      if ('error' in reply) waiting.reject(Object.assign(new Error(reply.error.message), reply.error))
      else waiting.resolve(reply.result as never)
    })
    thread.on('error', failAll)
    thread.on('exit', (code) => {
      if (worker === thread) worker = undefined
      failAll(new Error(`database writer thread exited with code ${code}`))
    })
    return thread
  }
  const call = <T>(request: Omit<WriterRequest, 'id'>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (value: never) => void, reject })
      worker ??= start()
      worker.postMessage({ ...request, id })
    })

  return {
    reserveBlock: (size) => call<Block>({ method: 'reserveBlock', args: [size] }),
    writeBatch: (entries) => call<boolean[]>({ method: 'writeBatch', args: [entries] }),
    close: async () => {
      const thread = worker
      worker = undefined
      if (thread) await thread.terminate()
    },
  }
}
