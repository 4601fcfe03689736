// Requests refused in an outage, logged as a few lines rather than one per request. Kept apart from
// logger.ts (pino, node:crypto): src/http/errors.ts uses it, and the admin page's bundle reaches
// errors.ts through the modules it shares with the server.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { driverCode } from '../db/errors.js'

/**
 * A warning that an outage repeats (every request, every refill) written at most once per
 * `intervalMs`; `countField` says how many times it happened since the last line, this one included.
 */
export function occasionalWarning(
  log: FastifyBaseLogger,
  message: string,
  options: { intervalMs: number; countField: string },
): (fields: Record<string, unknown>) => void {
  let lastAt = Number.NEGATIVE_INFINITY
  let count = 0
  return (fields) => {
    count++
    const now = performance.now()
    if (now - lastAt < options.intervalMs) return
    log.warn({ ...fields, [options.countField]: count }, message)
    lastAt = now
    count = 0
  }
}

interface Outage {
  code: string
  /** Refused since the last line. */
  refused: number
  /** The same, by the cause's code (e.g. SQLITE_FULL, ECONNREFUSED). */
  causes: Record<string, number>
  lastRequestId: string
  quietSince: number
}

/**
 * Requests refused because something they need is unavailable (503). In an outage every request
 * fails the same way, thousands a second: the first is logged in full (error, with its stack),
 * then one warn line per interval counts those refused since, by cause code, with the last
 * request's id. After `quietMs` with none refused the outage is over: the next is logged in full.
 * Outages are told apart by message (the database, the identity provider).
 */
export class RefusalLog {
  private readonly outages = new Map<string, Outage>()
  private timer: NodeJS.Timeout | undefined
  private readonly intervalMs: number
  private readonly quietMs: number

  constructor(
    private readonly log: FastifyBaseLogger,
    options: { intervalMs?: number; quietMs?: number } = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1_000
    this.quietMs = options.quietMs ?? 10_000
  }

  refused(request: FastifyRequest, error: { code: string; message: string; cause?: unknown }): void {
    const outage = this.outages.get(error.message)
    if (outage === undefined) {
      request.log.error({ err: error.cause ?? error, code: error.code }, error.message)
      this.outages.set(error.message, {
        code: error.code,
        refused: 0,
        causes: {},
        lastRequestId: request.id,
        quietSince: Date.now(),
      })
      this.timer ??= setInterval(() => this.summarize(), this.intervalMs).unref()
      return
    }
    const cause = driverCode(error.cause) ?? 'unknown'
    outage.refused++
    outage.causes[cause] = (outage.causes[cause] ?? 0) + 1
    outage.lastRequestId = request.id
  }

  /** Writes the counts not yet written and stops (at shutdown). */
  close(): void {
    this.summarize()
    this.outages.clear()
    clearInterval(this.timer)
    this.timer = undefined
  }

  private summarize(now = Date.now()): void {
    for (const [message, outage] of this.outages) {
      if (outage.refused > 0) {
        this.log.warn(
          {
            code: outage.code,
            refused: outage.refused,
            causes: outage.causes,
            last_request_id: outage.lastRequestId,
          },
          `${outage.refused} more requests refused: ${message}`,
        )
        outage.refused = 0
        outage.causes = {}
        outage.quietSince = now
      } else if (now - outage.quietSince >= this.quietMs) {
        this.outages.delete(message)
      }
    }
    if (this.outages.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }
}
