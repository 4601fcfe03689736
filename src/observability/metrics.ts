import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { AppError } from '../http/errors.js'

/** Every metric Waybill exports, on a registry of its own (one per app, so tests do not collide). */
export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
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
      registers: [registry],
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
      metrics.httpDuration.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status_code: reply.statusCode,
        },
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
