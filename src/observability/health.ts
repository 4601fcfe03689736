import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { driverCode, isUnavailable } from '../db/errors.js'
import type { ReplicationWatch } from './replication.js'

const Status = Type.Object({
  status: Type.String(),
  reason: Type.Optional(Type.String({ description: 'Why not ready, e.g. the driver error code' })),
  since: Type.Optional(Type.String({ description: 'When writes began to fail (RFC 3339)' })),
  synchronous_standbys: Type.Optional(
    Type.Integer({ description: 'PostgreSQL: standbys confirming each commit, as the primary last said' }),
  ),
})
// Probes are public and never rate limited: load balancers and orchestrators poll them.
const PROBE = { auth: 'public', rateLimit: false } as const
// OpenAPI: no bearer token, overriding the document's global security requirement.
const NO_TOKEN: [] = []

// A failure younger than this answers /ready by itself; an older one is probed again first.
const PROBE_AFTER_MS = 1_000

export interface WriteFailure {
  /** The driver's error code, e.g. SQLITE_FULL or 25006. */
  code: string
  message: string
  /** When the current run of failures began (RFC 3339). */
  since: string
}

/**
 * Whether the database takes the service's writes, as its last commits found. A database can
 * answer `select 1` and still refuse every write (disk full, read-only): /ready asks this too.
 *
 * Writes report here (a field read per commit when all is well). After a failure nothing may
 * write again (a load balancer stops sending traffic to a service that is not ready), so a
 * failure older than a second is checked again by `probe`, a harmless write, when /ready asks:
 * recovery is seen at the next poll, with no timer and no work while writes succeed.
 */
export class WriteStatus {
  private failure: (WriteFailure & { at: number }) | undefined
  private probing: Promise<void> | undefined
  private readonly now: () => number

  constructor(
    private readonly options: {
      /** A harmless real write through the same writer: it must never issue or store a number. */
      probe: () => Promise<unknown>
      probeAfterMs?: number
      /** Monotonic milliseconds, the clock of `started` (default performance.now()). */
      now?: () => number
    },
  ) {
    this.now = options.now ?? (() => performance.now())
  }

  /** A write that began at `started` committed: a failure recorded before it began is over. */
  succeeded(started: number): void {
    if (this.failure !== undefined && started >= this.failure.at) this.failure = undefined
  }

  /** A write failed. Only the database refusing or not answering counts (not, say, a bad row). */
  failed(error: unknown): void {
    if (isUnavailable(error)) this.record(error)
  }

  /** Why writes fail now, or undefined if they work (or nothing says otherwise). */
  async failing(): Promise<WriteFailure | undefined> {
    const failure = this.failure
    if (failure === undefined) return undefined
    if (this.now() - failure.at >= (this.options.probeAfterMs ?? PROBE_AFTER_MS)) {
      // Concurrent polls share one probe.
      this.probing ??= this.probe().finally(() => {
        this.probing = undefined
      })
      await this.probing
    }
    return (
      this.failure && { code: this.failure.code, message: this.failure.message, since: this.failure.since }
    )
  }

  private async probe(): Promise<void> {
    const started = this.now()
    try {
      await this.options.probe()
      this.succeeded(started)
    } catch (error) {
      this.record(error) // whatever the error: the probe is a write that should always work
    }
  }

  private record(error: unknown): void {
    const code = driverCode(error) ?? (error instanceof Error ? error.name : 'unknown')
    const message = error instanceof Error ? error.message : String(error)
    const since = this.failure?.since ?? new Date().toISOString()
    this.failure = { at: this.now(), code, message, since }
  }
}

type Readiness = { status: string; reason?: string; since?: string; synchronous_standbys?: number }

export async function healthRoutes(
  app: FastifyInstance,
  options: {
    ping: () => Promise<void>
    writes: Pick<WriteStatus, 'failing'>
    replication?: Pick<ReplicationWatch, 'current' | 'refusal'> | undefined
  },
) {
  // The last answer, to log changes only: probes poll every few seconds, outages last minutes.
  let last: Readiness = { status: 'ready' }

  // The answer, and for the log what the body leaves out (driver messages are not for clients).
  async function readiness(): Promise<{ answer: Readiness; cause?: unknown }> {
    const standbys = options.replication?.current()?.synchronousStandbys
    const promise = standbys === undefined ? {} : { synchronous_standbys: standbys }
    const refusal = options.replication?.refusal()
    if (refusal) return { answer: { status: 'no synchronous standby', reason: refusal.code, ...promise } }
    const failure = await options.writes.failing()
    if (failure) {
      return {
        answer: { status: 'database writes failing', reason: failure.code, since: failure.since },
        cause: failure.message,
      }
    }
    try {
      await options.ping()
      return { answer: { status: 'ready', ...promise } }
    } catch (error) {
      return {
        answer: { status: 'database unavailable', reason: driverCode(error) ?? 'no answer' },
        cause: error,
      }
    }
  }

  app.get(
    '/health',
    {
      config: PROBE,
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        security: NO_TOKEN,
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  )
  app.get(
    '/ready',
    {
      config: PROBE,
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the database answers and takes writes',
        description:
          'Not ready (503) while the database does not answer, or while the last write failed ' +
          '(disk full, read-only) and none succeeded since; ready again by itself once a write succeeds.',
        security: NO_TOKEN,
        response: { 200: Status, 503: Status },
      },
    },
    async (request, reply) => {
      const { answer, cause } = await readiness()
      if (answer.status !== last.status || answer.reason !== last.reason) {
        if (answer.status === 'ready') request.log.info({ was: last }, 'ready again')
        else {
          const detail = cause instanceof Error ? { err: cause } : { message: cause }
          request.log.warn({ ...answer, ...detail, was: last.status }, `not ready: ${answer.status}`)
        }
        last = answer
      }
      return answer.status === 'ready' ? answer : reply.code(503).send(answer)
    },
  )
}
