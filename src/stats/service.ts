import { randomUUID } from 'node:crypto'
import type { OrderStatus } from '../db/schema.js'
import { STATUSES } from '../orders/schemas.js'
import type { StatsRepository } from './repository.js'

const MINUTE = 60_000
const CHART_MINUTES = 30
const ROLL_UP_EVERY_MS = 60 * 60_000

function minuteOf(ms: number): string {
  return new Date(ms - (ms % MINUTE)).toISOString()
}

/**
 * Counts issued numbers per minute in memory (a map increment on the request path) and adds
 * them to the database every few seconds, so that every instance's dashboard sees every
 * instance's numbers. A crash loses at most the last few seconds of counts, never a number.
 */
export function createStatsService(deps: {
  repository: StatsRepository
  outbox: () => Promise<{ pending: number; failed: number; sent: number }>
  flushIntervalMs: number
  onFlushError: (error: unknown) => void
  now?: () => number
}) {
  const instance = randomUUID()
  const now = deps.now ?? Date.now
  let pending = new Map<string, number>()
  let flushing: Promise<void> | undefined
  let currentMinuteStart = Number.NEGATIVE_INFINITY
  let currentMinute = ''

  async function flush(): Promise<void> {
    if (pending.size === 0) return
    const batch = pending
    pending = new Map()
    try {
      await deps.repository.addIssueCounts(
        instance,
        [...batch].map(([minute, count]) => ({ minute, count })),
      )
    } catch (error) {
      // Keep the counts for the next flush.
      for (const [minute, count] of batch) pending.set(minute, (pending.get(minute) ?? 0) + count)
      throw error
    }
  }
  let lastRollUp = now()
  const timer = setInterval(() => {
    if (now() - lastRollUp >= ROLL_UP_EVERY_MS) {
      lastRollUp = now()
      // Minutes older than two days become daily rows (any instance may do it; it is idempotent).
      const before = new Date(lastRollUp - 2 * 86_400_000).toISOString().slice(0, 10)
      deps.repository.rollUp(`${before}T00:00:00.000Z`).catch(deps.onFlushError)
    }
    flushing ??= flush()
      .catch(deps.onFlushError)
      .finally(() => {
        flushing = undefined
      })
  }, deps.flushIntervalMs)
  timer.unref()

  return {
    issued(count: number): void {
      const at = now()
      // On the request path: format the minute once per minute, not once per number.
      if (at - currentMinuteStart >= MINUTE || at < currentMinuteStart) {
        currentMinuteStart = at - (at % MINUTE)
        currentMinute = minuteOf(at)
      }
      pending.set(currentMinute, (pending.get(currentMinute) ?? 0) + count)
    },

    async summary() {
      await flushing
      await flush()
      const at = now()
      const today = new Date(at).toISOString().slice(0, 10)
      const start = at - (CHART_MINUTES - 1) * MINUTE
      const [total, issuedToday, perMinute, byStatus, outbox] = await Promise.all([
        deps.repository.issuedSince(),
        deps.repository.issuedSince(`${today}T00:00:00.000Z`),
        deps.repository.issuedPerMinute(minuteOf(start)),
        deps.repository.ordersByStatus(),
        deps.outbox(),
      ])
      const per_minute = Array.from({ length: CHART_MINUTES }, (_, i) => {
        const minute = minuteOf(start + i * MINUTE)
        return { minute, count: perMinute.get(minute) ?? 0 }
      })
      const by_status = Object.fromEntries(STATUSES.map((s) => [s, byStatus[s] ?? 0])) as Record<
        OrderStatus,
        number
      >
      return {
        tracking: { issued_total: total, issued_today: issuedToday, per_minute },
        orders: { by_status },
        outbox,
      }
    },

    async close(): Promise<void> {
      clearInterval(timer)
      await flushing
      await flush()
    },
  }
}
export type StatsService = ReturnType<typeof createStatsService>
