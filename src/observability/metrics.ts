import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { AppError } from '../http/errors.js'
import type { OutcomeKind } from '../notifications/worker.js'

type RequestLabels = { method: string; route: string; status_code: number }
/** prom-client's record of one series of a histogram (lib/histogram.js, createBaseValues). */
type SeriesRecord = { labels: object; bucketValues: Record<string, number>; sum: number; count: number }

/**
 * http_request_duration_seconds, observed once per request. prom-client's observe() checks the
 * labels, builds a string key from them and looks the series up on every call (about a
 * microsecond a request, measured with bench/profile.ts); here a series is found once, in nested
 * maps, and each later request adds to prom-client's own record of it, so that everything that
 * reads the histogram (the text format, get(), the cluster aggregation, reset) is prom-client's.
 * Should that record not be found where prom-client 15 keeps it, observe() is used throughout.
 */
export class RequestDurations extends Histogram<'method' | 'route' | 'status_code'> {
  private series = new Map<string, Map<string, Map<number, SeriesRecord | null>>>()
  private readonly bounds: number[]
  private readonly boundKeys: string[]

  constructor(buckets: number[], registry: Registry) {
    super({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets,
      registers: [registry],
    })
    this.bounds = buckets // in prom-client's order: the first bound at or above the value counts it
    this.boundKeys = this.bounds.map(String)
  }

  /** Counts one request that took `seconds`. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.series.get(route)
    if (byMethod === undefined) {
      byMethod = new Map()
      this.series.set(route, byMethod)
    }
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) {
      byStatus = new Map()
      byMethod.set(method, byStatus)
    }
    const record = byStatus.get(status)
    if (record === undefined || record === null || !Number.isFinite(seconds)) {
      const labels: RequestLabels = { method, route, status_code: status }
      this.observe(labels, seconds)
      if (record === undefined) byStatus.set(status, this.recordOf(labels))
      return
    }
    record.sum += seconds
    record.count += 1
    const { bounds } = this
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= (bounds[i] as number)) {
        const key = this.boundKeys[i] as string
        record.bucketValues[key] = (record.bucketValues[key] as number) + 1
        return
      }
    }
  }

  /** The record observe() just made for `labels` (it keeps the labels object), or null. */
  private recordOf(labels: RequestLabels): SeriesRecord | null {
    const records = (this as unknown as { hashMap?: Record<string, Partial<SeriesRecord>> }).hashMap
    for (const record of Object.values(records ?? {})) {
      if (
        record.labels === labels &&
        typeof record.sum === 'number' &&
        typeof record.count === 'number' &&
        typeof record.bucketValues === 'object' &&
        this.boundKeys.every((key) => typeof record.bucketValues?.[key] === 'number')
      ) {
        return record as SeriesRecord
      }
    }
    return null
  }

  // Each of these replaces or drops prom-client's records: the series are found again.
  override reset(): void {
    super.reset()
    this.series = new Map()
  }
  override zero(labels: RequestLabels): void {
    super.zero(labels)
    this.series = new Map()
  }
  override remove(...values: string[]): void
  override remove(labels: Partial<RequestLabels>): void
  override remove(...args: unknown[]): void {
    ;(super.remove as (...args: unknown[]) => void).apply(this, args)
    this.series = new Map()
  }
}

const SMS_OUTCOMES: readonly OutcomeKind[] = ['sent', 'retry', 'failed']

/**
 * Every metric Waybill exports, on a registry of its own (one per app, so tests do not collide).
 * `standbys`: whether the database has standbys to count (PostgreSQL); elsewhere the gauge is not
 * exported, as a 0 there would set off an alert on it.
 */
export function createMetrics(options: { standbys?: boolean } = {}) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const metrics = {
    registry,
    httpDuration: new RequestDurations(
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registry,
    ),
    issued: new Counter({
      name: 'tracking_numbers_issued_total',
      help: 'Tracking numbers issued and committed',
      registers: [registry],
    }),
    blocksReserved: new Counter({
      name: 'tracking_blocks_reserved_total',
      help: 'Blocks of sequence values reserved in the database',
      registers: [registry],
    }),
    blockSize: new Gauge({
      name: 'tracking_block_size',
      help: 'Size of the most recently reserved block',
      registers: [registry],
    }),
    syncStandbys: new Gauge({
      name: 'database_synchronous_standbys',
      help: 'PostgreSQL standbys confirming each commit (sync or quorum) as the primary last reported',
      registers: options.standbys ? [registry] : [],
    }),
    commitBatchSize: new Histogram({
      name: 'tracking_commit_batch_size',
      help: 'Records written per group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    smsOutcomes: new Counter({
      name: 'sms_notifications_total',
      help: 'SMS send attempts by outcome (sent, retry, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    commitDuration: new Histogram({
      name: 'tracking_commit_duration_seconds',
      help: 'Duration of one group commit transaction',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  }
  // Every outcome exported from the start, at 0: a series that appears only at the first SMS
  // leaves rate() and an alert on failures with nothing to compare until then.
  for (const outcome of SMS_OUTCOMES) metrics.smsOutcomes.inc({ outcome }, 0)
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

// fastify-plugin: the timing hook must see every route, not only those inside this plugin.
export const metricsPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      metrics: Metrics
      /** What /metrics answers instead of this process's registry (a cluster worker: the group's). */
      gather?: () => Promise<string>
    },
  ) => {
    const { metrics } = options
    const gather = options.gather ?? (() => metrics.registry.metrics())
    // A callback hook: an async one costs a promise per request.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.httpDuration.observeRequest(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        reply.statusCode,
        reply.elapsedTime / 1000,
      )
      done()
    })
    app.get(
      '/metrics',
      { config: { auth: 'public', rateLimit: false }, schema: { hide: true } },
      async (_request, reply) => {
        let text: string
        try {
          text = await gather()
        } catch (error) {
          throw new AppError(
            'unavailable',
            'The metrics could not be gathered; try again shortly',
            {},
            {
              cause: error,
              headers: { 'retry-after': '1' },
            },
          )
        }
        return reply.type(metrics.registry.contentType).send(text)
      },
    )
  },
)
