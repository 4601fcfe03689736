import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { DatabaseHandle } from '../db/index.js'
import { WriteStatus } from '../observability/health.js'
import { flushLogs } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import { occasionalWarning } from '../observability/refusals.js'
import { ReplicationWatch } from '../observability/replication.js'
import { Allocator } from './allocator.js'
import { createCodec } from './codec.js'
import { Recorder } from './recorder.js'
import { createTrackingRepository, FENCE_GAP, type WriteEntry } from './repository.js'
import { createTrackingService, type TrackingServiceDeps } from './service.js'
import { Supply } from './supply.js'
import { directWriter, threadedWriter } from './writer.js'

const IDEMPOTENCY_CLEANUP_MS = 10 * 60_000
const RESERVE_WARN_MS = 10_000

/** The tracking-number machinery on one database: allocator, codec, recorder and service. */
export function createTracking(deps: {
  config: Config
  database: DatabaseHandle
  key: Buffer
  metrics: Metrics
  log: FastifyBaseLogger
  /** Told of every number issued (for the dashboard's counts). */
  onIssued?: (count: number) => void
  /** Where lookups find the numbers given to orders. */
  findOrder?: TrackingServiceDeps['findOrder']
}) {
  const { config, database, metrics, log } = deps
  const repository = createTrackingRepository(database.db, database.executePrepared)
  const writer = database.blocksEventLoop ? threadedWriter(config.database) : directWriter(repository)
  const codec = createCodec({ key: deps.key, format: config.tracking.format })
  // Every reservation, the probe's too: whichever comes first on a new timeline takes the jump.
  const reserveBlock = async (size: number) => {
    const block = await writer.reserveBlock(size)
    if (block.jumped) {
      log.error(
        { ...block.jumped, gap: FENCE_GAP, start: block.start },
        `the database is on a new timeline (failover): the counter was moved ahead by ${FENCE_GAP.toLocaleString('en-US')} values so that reservations the old primary may not have replicated are never handed out again`,
      )
      // Rare and what an operator looks for after a failover: out now, not at the next second.
      flushLogs(log)
    }
    return block
  }
  // The probe reserves a block of one value: the counter row's UPDATE, through the same writer
  // and connection as every commit (an empty block would not do: SQLite writes nothing for an
  // UPDATE that changes no byte). Its value is never handed out, lost like the rest of a block
  // at a restart: no number is issued or stored. At most one a second, only while writes fail.
  const writes = new WriteStatus({ probe: () => reserveBlock(1) })
  // During an outage every request taking a value can retry the refill: one line per 10 s.
  const reserveFailed = occasionalWarning(log, 'could not reserve the next block ahead of time', {
    intervalMs: RESERVE_WARN_MS,
    countField: 'failures',
  })
  const replication = database.replication
    ? new ReplicationWatch({
        read: database.replication,
        log,
        onStatus: (status) => metrics.syncStandbys.set(status.synchronousStandbys),
        require: config.database.requireSyncStandby === true,
      })
    : undefined
  const refuseWithoutStandby = () => {
    const refusal = replication?.refusal()
    if (refusal) throw refusal
  }
  const allocator = new Allocator({
    reserve: async (size) => {
      const started = performance.now()
      try {
        refuseWithoutStandby()
        const block = await reserveBlock(size)
        writes.succeeded(started)
        return block
      } catch (error) {
        writes.failed(error)
        throw error
      }
    },
    minBlock: config.tracking.blockMin,
    maxBlock: config.tracking.blockMax,
    blockSeconds: config.tracking.blockSeconds,
    onReserve: (block) => {
      metrics.blocksReserved.inc()
      metrics.blockSize.set(block.end - block.start)
      log.debug({ start: block.start, size: block.end - block.start }, 'reserved a block of sequence values')
    },
    onError: (error) => reserveFailed({ err: error }),
    fence: async (end) => {
      const moved = await repository.advanceCounterPast(end)
      if (moved) {
        log.error(
          { ...moved, cause: 'the new primary lost block reservations (asynchronous failover)' },
          'the counter was behind a block this process reserved: moved it past that block',
        )
      }
    },
  })
  const supply = new Supply(allocator, codec)
  database.server?.onServer((next, previous) => {
    void replication?.refresh(previous ? 'new primary' : 'start')
    if (!previous) return
    allocator.fence()
    supply.drop()
    log.warn(
      { previous, next },
      'PostgreSQL: now on another server or timeline (a failover); unused sequence values dropped',
    )
  })
  replication?.start()
  const recorder = new Recorder<WriteEntry>({
    write: (entries) => {
      refuseWithoutStandby()
      return writer.writeBatch(entries)
    },
    sizeOf: (entry) => entry.issued.sequences.length,
    maxBatch: config.tracking.commitMaxBatch,
    // SQLite: two in flight, so the next batch waits in the writer thread's queue rather than
    // behind a thread round trip (the thread still commits them one at a time, in order; each
    // reply still waits for its own commit): +14-18% measured. PostgreSQL commits in parallel, on
    // up to half the pool; but past one in flight only with a full commit's rows queued (batches):
    // single numbers then go in one commit at a time, each holding all that queued meanwhile, and
    // cost less CPU per answered request, in the service and the database, than with two or half
    // the pool in flight for them (docs/benchmarks.md).
    concurrency: database.blocksEventLoop ? 2 : Math.max(1, Math.floor(config.database.poolSize / 2)),
    steady: database.blocksEventLoop ? 2 : 1,
    // By default 1 ms on PostgreSQL and MySQL, none on SQLite (src/config.ts). Without it,
    // clients that each wait for their answer split into two groups whose commits alternate, each
    // about half as large; with it, CPU per answered request was 4-7 % lower in turns on
    // PostgreSQL and 6 % on MariaDB, the database's own 11-15 % lower (docs/benchmarks.md). No gain
    // measured on SQLite, whose writer thread already holds the next commit while one is on disk.
    gatherMs: config.tracking.commitGatherMs,
    onCommit: (rows, seconds, started) => {
      metrics.commitBatchSize.observe(rows)
      metrics.commitDuration.observe(seconds)
      writes.succeeded(started)
    },
    onError: (error) => writes.failed(error),
  })
  const service = createTrackingService({
    repository,
    supply,
    recorder,
    codec,
    ...(deps.findOrder ? { findOrder: deps.findOrder } : {}),
    onIssued: (count) => {
      metrics.issued.inc(count)
      deps.onIssued?.(count)
    },
  })

  const cleanup = setInterval(() => {
    const before = new Date(Date.now() - config.tracking.idempotencyTtlMs).toISOString()
    writer.deleteIdempotencyKeysBefore(before).catch((error) => {
      writes.failed(error)
      log.warn({ err: error }, 'could not delete expired idempotency keys')
    })
  }, IDEMPOTENCY_CLEANUP_MS).unref()

  return {
    service,
    /** Whether the database takes this feature's writes: what /ready asks besides a ping. */
    writes,
    /** PostgreSQL: whether a synchronous standby confirms commits (for /ready). */
    replication,
    /** Answers every request already accepted (their commits), then stops the writer. */
    async close(): Promise<void> {
      clearInterval(cleanup)
      replication?.stop()
      await recorder.flush()
      await writer.close()
    },
  }
}
