import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../db/index.js'
import type { SendOutcome, SmsGateway } from './africastalking.js'
import { type ClaimedNotification, claimDue, markFailed, markRetry, markSent } from './outbox.js'

// Delivers the outbox. Safe in every instance at once: claimDue hands each row to one worker, and
// an outcome is written only under that claim. A worker that dies between claim and outcome leaves
// its rows to be claimed again once the claim expires: nothing is lost. The one window for a
// duplicate is an exit after the gateway accepted a message and before markSent committed: a crash,
// or a stop whose time ran out while the gateway was still answering (stop() logs those).
// claimTimeoutMs must exceed the gateway's timeout, or a slow send could be claimed twice; a batch
// is sent concurrently, so it takes one timeout, not one per row.

export type OutcomeKind = 'sent' | 'retry' | 'failed'

export interface NotificationWorkerOptions {
  db: Database
  gateway: SmsGateway | undefined
  log: Pick<FastifyBaseLogger, 'error' | 'warn' | 'info' | 'debug'>
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  pollIntervalMs: number
  claimTimeoutMs: number
  batchSize?: number
  onOutcome?(kind: OutcomeKind): void
  /** For tests: a number in [0, 1). */
  random?: () => number
}

export interface NotificationWorker {
  start(): void
  /** Looks for work now, e.g. after an order commit, instead of at the next poll. */
  wake(): void
  /** One claim-and-send pass; resolves with the number of notifications it handled. */
  runOnce(): Promise<number>
  /**
   * Stops claiming and waits for the sends in flight and their outcome writes, for at most
   * `timeoutMs` (default: as long as they take). A send still in flight then is abandoned, with a
   * warning naming it: its claim expires and another worker sends it again, maybe a second time.
   * Called again, it returns the first call's promise (start closing early, await it later).
   */
  stop(timeoutMs?: number): Promise<void>
}

/**
 * "Equal jitter": half the exponential step is fixed, half random. Each delay is at least the
 * previous step, so waits grow even when unlucky, and workers retrying together spread apart.
 */
export function retryDelay(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1))
  return Math.round(step / 2 + random() * (step / 2))
}

/** True if `work` settles within `timeoutMs`; false if the time ran out first. */
function within(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  const settled = work.then(() => true)
  // Beyond 2^31-1 ms Node's timers fire at once: that is as good as no limit.
  if (!(timeoutMs <= 2_147_483_647)) return settled
  return Promise.race([settled, sleep(Math.max(0, timeoutMs), false, { ref: false })])
}

const DISABLED = 'SMS is disabled (AT_USERNAME and AT_API_KEY are not set): notifications stay pending'

export function createNotificationWorker(options: NotificationWorkerOptions): NotificationWorker {
  const { db, gateway, log, maxAttempts, retryBaseMs, retryMaxMs, claimTimeoutMs } = options
  const batchSize = options.batchSize ?? 20
  const random = options.random ?? Math.random
  let started = false
  let stopping = false
  let warned = false
  let timer: NodeJS.Timeout | undefined
  let pass: Promise<number> | undefined
  let again = false
  let stopped: Promise<void> | undefined
  /** Claimed and not yet settled: sent or being sent, or its outcome being written. */
  const inFlight = new Map<number, ClaimedNotification>()
  const unrecorded = new Map<number, { row: ClaimedNotification; outcome: SendOutcome }>()

  async function record(row: ClaimedNotification, outcome: SendOutcome): Promise<OutcomeKind | undefined> {
    const held = { id: row.id, claimToken: row.claim_token }
    const context = { notification: row.id, order: row.order_id, event: row.event, attempt: row.attempts }
    if (outcome.kind === 'sent') {
      const applied = await markSent(db, held, outcome)
      if (!applied) log.warn(context, 'SMS sent but its claim was taken over: the outcome is not recorded')
      else log.info({ ...context, messageId: outcome.messageId }, 'SMS sent')
      return applied ? 'sent' : undefined
    }
    // Operator-fixable faults (bad key, no balance) do not use up attempts: once fixed, all goes.
    const exhausted = outcome.kind === 'retry' && !outcome.operatorAction && row.attempts >= maxAttempts
    if (outcome.kind === 'permanent' || exhausted) {
      const error = exhausted ? `gave up after ${row.attempts} attempts: ${outcome.reason}` : outcome.reason
      const applied = await markFailed(db, held, error)
      // A customer will not hear of their order: always an error, whoever is at fault.
      // `npm run cli -- sms retry <id>` puts it back in the queue.
      if (applied) log.error({ ...context, reason: error }, 'SMS failed for good')
      return applied ? 'failed' : undefined
    }
    const loud = outcome.operatorAction ? log.error.bind(log) : log.warn.bind(log)
    // An operator fault gives its attempt back (the limit is for passing faults) and waits the
    // longest delay: the gateway answers the same until someone fixes the account.
    const operator = outcome.kind === 'retry' && outcome.operatorAction === true
    const delay = retryDelay(
      operator ? Number.MAX_SAFE_INTEGER : row.attempts,
      retryBaseMs,
      retryMaxMs,
      random,
    )
    const applied = await markRetry(
      db,
      held,
      new Date(Date.now() + delay),
      outcome.reason,
      new Date(),
      !operator,
    )
    if (applied) loud({ ...context, reason: outcome.reason, retryInMs: delay }, 'SMS not sent, will retry')
    return applied ? 'retry' : undefined
  }

  async function deliver(row: ClaimedNotification, sms: SmsGateway): Promise<void> {
    inFlight.set(row.id, row)
    try {
      let outcome: SendOutcome
      try {
        outcome = await sms.send({ to: row.recipient, message: row.message })
      } catch (error) {
        outcome = { kind: 'retry', reason: error instanceof Error ? error.message : String(error) }
      }
      await settleOutcome(row, outcome)
    } finally {
      inFlight.delete(row.id)
    }
  }

  async function settleOutcome(row: ClaimedNotification, outcome: SendOutcome): Promise<boolean> {
    let kind: OutcomeKind | undefined
    try {
      kind = await record(row, outcome)
    } catch (error) {
      // The database is down. The outcome is kept and written at the next pass, while the claim
      // still holds: forgetting a 'sent' would have the row sent again once the claim expires.
      log.error({ err: error, notification: row.id, outcome: outcome.kind }, 'could not record SMS outcome')
      unrecorded.set(row.id, { row, outcome })
      return false
    }
    if (kind) options.onOutcome?.(kind)
    return true
  }

  async function recordLeftovers(): Promise<void> {
    for (const [id, { row, outcome }] of unrecorded) {
      // Refused again: it stays (settleOutcome put it back), and the rest wait for the next pass.
      if (!(await settleOutcome(row, outcome))) return
      unrecorded.delete(id)
    }
  }

  async function claimAndSend(): Promise<number> {
    if (!gateway) {
      if (!warned) log.warn(DISABLED)
      warned = true
      return 0
    }
    await recordLeftovers()
    // Stopping: claim nothing more. What is claimed is sent, as stop() waits for it.
    if (stopping) return 0
    const rows = await claimDue(db, { limit: batchSize, now: new Date(), claimTimeoutMs })
    await Promise.all(rows.map((row) => deliver(row, gateway)))
    return rows.length
  }

  async function finish(timeoutMs: number): Promise<void> {
    const finished = (async () => {
      await pass?.catch(() => 0)
      // Last chance for outcomes the database refused during the pass.
      await recordLeftovers().catch(() => undefined)
    })()
    if (!(await within(finished, timeoutMs))) {
      // The process is about to exit: the gateway may have taken these, and once their claim
      // expires another worker sends them again.
      for (const row of inFlight.values()) {
        log.warn(
          { notification: row.id, order: row.order_id, event: row.event, attempt: row.attempts },
          'stopped with an SMS in flight: it may be sent twice',
        )
      }
    }
    for (const { row, outcome } of unrecorded.values()) {
      if (outcome.kind !== 'sent') continue
      log.warn(
        { notification: row.id, order: row.order_id, event: row.event, messageId: outcome.messageId },
        'stopped with an SMS sent but not recorded: it will be sent twice',
      )
    }
  }

  // One pass at a time per worker; a wake() during a pass asks for another right after it.
  function runOnce(): Promise<number> {
    if (pass) {
      again = true
      return pass
    }
    pass = claimAndSend().finally(() => {
      pass = undefined
    })
    return pass
  }

  function schedule(delayMs: number): void {
    if (!started || stopping) return
    clearTimeout(timer)
    timer = setTimeout(tick, delayMs)
    // The HTTP server keeps the process alive; a forgotten worker must not.
    timer.unref()
  }

  function tick(): void {
    timer = undefined
    again = false
    runOnce().then(
      // A full batch means more may be due: keep going without waiting for the poll.
      (handled) => schedule(handled >= batchSize || again ? 0 : options.pollIntervalMs),
      (error: unknown) => {
        log.error({ err: error }, 'notification worker pass failed; retrying at the next poll')
        schedule(options.pollIntervalMs)
      },
    )
  }

  return {
    start() {
      if (started) return
      started = true
      if (!gateway) {
        if (!warned) log.warn(DISABLED)
        warned = true
        return
      }
      schedule(0)
    },
    wake() {
      if (!started || stopping || !gateway) return
      if (pass) again = true
      else schedule(0)
    },
    runOnce,
    stop(timeoutMs = Number.POSITIVE_INFINITY) {
      stopping = true
      clearTimeout(timer)
      timer = undefined
      stopped ??= finish(timeoutMs)
      return stopped
    },
  }
}
