import type { FastifyBaseLogger } from 'fastify'
import type { ReplicationStatus } from '../db/replication.js'

// Replication changes seldom; a standby that drops away is noticed within this long.
const REFRESH_MS = 2_000

export class NoSyncStandbyError extends Error {
  override name = 'NoSyncStandbyError'
  readonly code = 'NO_SYNC_STANDBY'
}

/**
 * What the PostgreSQL primary promises about commits: whether a synchronous standby confirms
 * them. Logged at start and at every change (a reconnect to another server included), shown on
 * /ready and as a metric; with `require`, issuing is refused while no synchronous standby is attached.
 */
export class ReplicationWatch {
  private status: ReplicationStatus | undefined
  private timer: NodeJS.Timeout | undefined
  private refreshing: Promise<void> | undefined

  constructor(
    private readonly options: {
      read: () => Promise<ReplicationStatus>
      log: FastifyBaseLogger
      onStatus: (status: ReplicationStatus) => void
      require: boolean
    },
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), REFRESH_MS).unref()
    void this.refresh()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  current(): ReplicationStatus | undefined {
    return this.status
  }

  /** Reads the status now; `reason` forces a log line (start, a new server). */
  refresh(reason?: string): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const status = await this.options.read()
        const previous = this.status
        this.status = status
        this.options.onStatus(status)
        if (reason || previous?.synchronousStandbys !== status.synchronousStandbys)
          this.report(status, reason)
      } catch {
        // The database is unreachable: the writes and /ready report that already.
      } finally {
        this.refreshing = undefined
      }
    })()
    return this.refreshing
  }

  /** Why issuing must wait, when the operator requires a synchronous standby and none is attached. */
  refusal(): NoSyncStandbyError | undefined {
    if (!this.options.require || (this.status?.synchronousStandbys ?? 0) > 0) return undefined
    return new NoSyncStandbyError('no synchronous standby is attached (DATABASE_REQUIRE_SYNC_STANDBY=true)')
  }

  private report(status: ReplicationStatus, reason: string | undefined): void {
    const fields = { ...status, reason }
    if (status.synchronousStandbys > 0) {
      this.options.log.info(fields, 'PostgreSQL: commits are confirmed by a synchronous standby')
    } else {
      this.options.log.warn(
        fields,
        'PostgreSQL: no synchronous standby; a failover can lose the last commits (Waybill moves its counter past its own blocks)',
      )
    }
  }
}
