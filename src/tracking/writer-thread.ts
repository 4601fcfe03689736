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

let queue = Promise.resolve()
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
