import { parentPort, workerData } from 'node:worker_threads'
import type { Config } from '../config.js'
import { createDatabase } from '../db/index.js'
import { createTrackingRepository } from './repository.js'
import type { WriterReply, WriterRequest } from './writer.js'

// The writer thread: one connection, one request at a time, in the order they were sent.
const database = createDatabase(workerData as Config['database'])
const repository = createTrackingRepository(database.db, database.executePrepared)
const port = parentPort
if (!port) throw new Error('writer-thread must run as a worker thread')

// The service's main connection leaves checkpoints to this thread (see DatabaseOptions): SQLite's
// automatic one runs as this connection commits, and this covers what the main connection wrote
// (orders, customers, stats) while no tracking number was issued. Queued like any request: never
// inside another request's transaction.
const CHECKPOINT_INTERVAL_MS = 1_000

let queue = Promise.resolve()
setInterval(() => {
  queue = queue.then(() => database.checkpoint().catch(() => {})) // a busy database: next time
}, CHECKPOINT_INTERVAL_MS).unref()

port.on('message', (request: WriterRequest) => {
  queue = queue.then(async () => {
    let reply: WriterReply
    try {
      const result =
        request.method === 'reserveBlock'
          ? await repository.reserveBlock(...request.args)
          : request.method === 'writePacked'
            ? await repository.writePacked(...request.args)
            : await repository.deleteIdempotencyKeysBefore(...request.args)
      reply = { id: request.id, result }
    } catch (error) {
      const { message, name, code } = error as { message: string; name: string; code?: string }
      reply = { id: request.id, error: { message, name, code } }
    }
    port.postMessage(reply)
  })
})
