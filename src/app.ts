import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import type { Config } from './config.js'
import { createDatabase, type DatabaseHandle } from './db/index.js'
import { migrateToLatest } from './db/migrate.js'
import { registerErrorHandling, renderFrameworkError } from './errors.js'
import { healthRoutes } from './observability/health.js'
import { flushLogsPeriodically, loggerOptions, RequestLog, requestId } from './observability/logger.js'
import { createMetrics, metricsPlugin } from './observability/metrics.js'
import { Allocator } from './tracking/allocator.js'
import { createCodec } from './tracking/codec.js'
import { keyFingerprint, resolveTrackingKey } from './tracking/key.js'
import { Recorder } from './tracking/recorder.js'
import { createTrackingRepository, type WriteEntry } from './tracking/repository.js'
import { trackingRoutes } from './tracking/routes.js'
import { createTrackingService } from './tracking/service.js'
import { Supply } from './tracking/supply.js'
import { directWriter, threadedWriter } from './tracking/writer.js'
import { createValidatorCompiler } from './validation.js'

const IDEMPOTENCY_CLEANUP_MS = 10 * 60_000

/** Opens the database, migrates it and checks the tracking key; closes it again if any step fails. */
async function openDatabase(config: Config): Promise<{ database: DatabaseHandle; key: Buffer }> {
  const database = createDatabase(config.database)
  try {
    await migrateToLatest(database.db)
    const key = await resolveTrackingKey(database.db, config.tracking.key, config.tracking.format)
    return { database, key }
  } catch (error) {
    await database.close()
    throw error
  }
}

export async function buildApp(config: Config): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config),
    genReqId: requestId,
    logController: new RequestLog({ requestIdLogLabel: 'request_id' }),
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: 1024 * 1024,
    forceCloseConnections: 'idle',
    // Errors Fastify raises before routing (a malformed URL) get the same envelope as the rest.
    frameworkErrors: (error, request, reply) => renderFrameworkError(error, request, reply as FastifyReply),
  })

  const { database, key } = await openDatabase(config)
  app.log.info(
    {
      fingerprint: keyFingerprint(key),
      source: config.tracking.key ? 'TRACKING_KEY' : 'generated, kept in the database (back it up)',
    },
    'tracking key',
  )
  const metrics = createMetrics()
  const repository = createTrackingRepository(database.db)
  const writer = database.blocksEventLoop ? threadedWriter(config.database) : directWriter(repository)
  const codec = createCodec({ key, format: config.tracking.format })
  const allocator = new Allocator({
    reserve: (size) => writer.reserveBlock(size),
    minBlock: config.tracking.blockMin,
    maxBlock: config.tracking.blockMax,
    blockSeconds: config.tracking.blockSeconds,
    onReserve: (block) => {
      metrics.blocksReserved.inc()
      metrics.blockSize.set(block.end - block.start)
      app.log.debug(
        { start: block.start, size: block.end - block.start },
        'reserved a block of sequence values',
      )
    },
    onError: (error) => app.log.warn({ err: error }, 'could not reserve the next block ahead of time'),
  })
  const recorder = new Recorder<WriteEntry>({
    write: (entries) => writer.writeBatch(entries),
    sizeOf: (entry) => entry.records.length,
    maxBatch: config.tracking.commitMaxBatch,
    // SQLite: two in flight, so the next batch waits in the writer thread's queue rather than
    // behind a thread round trip (the thread still commits them one at a time, in order; each
    // reply still waits for its own commit): +14-18% measured. PostgreSQL commits in parallel,
    // on up to half the pool.
    concurrency: database.blocksEventLoop ? 2 : Math.max(1, Math.floor(config.database.poolSize / 2)),
    onCommit: (rows, seconds) => {
      metrics.commitBatchSize.observe(rows)
      metrics.commitDuration.observe(seconds)
    },
  })
  const service = createTrackingService({
    repository,
    supply: new Supply(allocator, codec),
    recorder,
    codec,
    onIssued: (count) => metrics.issued.inc(count),
  })

  const cleanup = setInterval(() => {
    const before = new Date(Date.now() - config.tracking.idempotencyTtlMs).toISOString()
    writer
      .deleteIdempotencyKeysBefore(before)
      .catch((error) => app.log.warn({ err: error }, 'could not delete expired idempotency keys'))
  }, IDEMPOTENCY_CLEANUP_MS).unref()

  const stopFlushing = flushLogsPeriodically(app.log)
  app.addHook('onClose', async () => {
    clearInterval(cleanup)
    stopFlushing()
    await recorder.flush()
    await writer.close()
    await database.close()
  })

  // While shutting down, every reply ends its connection: a keep-alive connection that was busy
  // when closing began would otherwise hold close() open until the client's idle timeout.
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })

  app.setValidatorCompiler(createValidatorCompiler())
  app.removeContentTypeParser('text/plain') // a JSON API: anything else is a 415
  registerErrorHandling(app)
  await app.register(swagger, {
    openapi: {
      info: { title: 'Waybill', version: '0.1.0', description: 'Unique parcel tracking numbers' },
      tags: [{ name: 'tracking' }, { name: 'operations' }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  await app.register(metricsPlugin, { metrics })
  await app.register(healthRoutes, { ping: database.ping })
  await app.register(trackingRoutes, { service })
  return app
}
