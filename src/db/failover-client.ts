import pg from 'pg'
import { driverCode } from './errors.js'
import { type HostLocator, identify, NotPrimaryError } from './postgres-hosts.js'

/**
 * PostgreSQL's answer to a COMMIT whose wait for the synchronous standby was cancelled: success,
 * plus this WARNING (a notice to pg). The transaction is committed locally and may be missing on
 * the standby promoted next: for Waybill a failed commit.
 */
const SYNC_REP_CANCELLED = /canceling (the )?wait for synchronous replication/i

export class ReplicationNotConfirmedError extends Error {
  override name = 'ReplicationNotConfirmedError'
  // Class 08 (connection exception): the outcome is unknown to the client; a 503 to retry.
  readonly code = '08007'
}

// The server is going away or this session can no longer write: never hand the connection out again.
const FATAL_CODES = new Set(['25006', '57P01', '57P02', '57P03', '08006', '08003', 'ECONNRESET', 'EPIPE'])
const GAVE_UP = /Query read timeout|Connection terminated/

type NoticeMessage = { code?: string; message?: string }
type Callback = (error: Error | null, result?: unknown) => void

/**
 * A pg.Client for pg.Pool (its `Client` option) that connects to the current primary of a
 * multi-host URL, refuses to report a commit the standby did not confirm, and closes itself after
 * any error that shows its server is gone, demoted, or still busy with a timed-out query.
 */
export function failoverClient(locator: HostLocator) {
  return class FailoverClient extends pg.Client {
    private replicationLost: NoticeMessage | undefined

    constructor(config?: pg.ClientConfig) {
      super(config)
      // From the start: a connection that dies after connecting but before pg-pool hands the client
      // out (while identify() runs, as a primary is killed) emits 'error' besides failing the
      // query, and pg-pool listens only once connect() has returned. Unheard, it ended the process.
      this.on('error', () => {})
      this.on('notice', (notice: NoticeMessage) => {
        if (notice.code === '01000' && SYNC_REP_CANCELLED.test(notice.message ?? ''))
          this.replicationLost = notice
      })
    }

    override connect(): Promise<pg.Client>
    override connect(callback: (error: Error | null, client?: pg.Client) => void): void
    override connect(
      callback?: (error: Error | null, client?: pg.Client) => void,
    ): Promise<pg.Client> | undefined {
      const connecting = this.connectToPrimary().then(() => this as pg.Client)
      if (!callback) return connecting
      connecting.then(
        (client) => callback(null, client),
        (error: Error) => callback(error),
      )
      return undefined
    }

    private async connectToPrimary(): Promise<void> {
      const { target, ssl } = await locator.locate()
      // pg.Client reads host, port and ssl when it connects, not only in its constructor.
      this.host = target.host
      this.port = target.port
      ;(this as unknown as { connection: { ssl: unknown } }).connection.ssl = ssl ?? false
      try {
        await super.connect()
        const identity = await identify(this)
        if (identity.inRecovery && locator.wantsPrimary) {
          throw new NotPrimaryError(`${target.host}:${target.port} is no longer the primary`)
        }
        locator.connected(identity)
      } catch (error) {
        locator.forget(target)
        this.destroy()
        throw error
      }
    }

    // biome-ignore lint/suspicious/noExplicitAny: pg's query has a dozen overloads; all pass through here.
    override query(...args: any[]): any {
      const last = args[args.length - 1]
      const first = args[0]
      // Submittables (cursors, streams) and queries with a callback in their config pass untouched.
      if (typeof first?.submit === 'function' || typeof first?.callback === 'function') {
        return (super.query as (...a: unknown[]) => unknown)(...args)
      }
      this.replicationLost = undefined
      if (typeof last === 'function') {
        const callback = last as Callback
        return (super.query as (...a: unknown[]) => unknown)(
          ...args.slice(0, -1),
          (error: Error | null, result: unknown) => {
            const failure = this.check(error)
            callback(failure, failure ? undefined : result)
          },
        )
      }
      return (super.query as (...a: unknown[]) => Promise<unknown>)(...args).then(
        (result) => {
          const failure = this.check(null)
          if (failure) throw failure
          return result
        },
        (error: Error) => {
          throw this.check(error)
        },
      )
    }

    /** The error the caller must see, if any; closes the connection when it cannot be trusted. */
    private check(error: Error | null): Error | null {
      const lost = this.replicationLost
      this.replicationLost = undefined
      if (error) {
        const code = driverCode(error)
        if ((code && FATAL_CODES.has(code)) || GAVE_UP.test(error.message)) {
          if (code === '25006' || code === '57P01') locator.forget({ host: this.host, port: this.port })
          this.abandon(/Query read timeout/.test(error.message))
        }
        return error
      }
      if (lost) {
        return new ReplicationNotConfirmedError(
          `the commit was not confirmed by the synchronous standby: ${lost.message ?? ''}`.trim(),
        )
      }
      return null
    }

    /**
     * Closes the connection for good. After a client-side timeout the server may still be
     * running the query (a commit waiting for a standby ignores statement_timeout): its backend
     * is terminated from another connection, best effort, so it does not linger.
     */
    private abandon(stillRunning: boolean): void {
      const internals = this as unknown as { processID?: number; connectionParameters: pg.ClientConfig }
      const pid = internals.processID
      this.destroy()
      if (!stillRunning || !pid) return
      const killer = new pg.Client({
        ...internals.connectionParameters,
        host: this.host,
        port: this.port,
        ssl: (this as unknown as { connection: { ssl: pg.ClientConfig['ssl'] } }).connection.ssl,
        connectionTimeoutMillis: 2_000,
        query_timeout: 2_000,
      } as pg.ClientConfig)
      killer.on('error', () => {})
      killer
        .connect()
        .then(() => killer.query('select pg_terminate_backend($1)', [pid]))
        .catch(() => {})
        .finally(() => killer.end().catch(() => {}))
    }

    private destroy(): void {
      const self = this as unknown as { _ending: boolean; connection: { stream?: { destroy(): void } } }
      self._ending = true // pg-pool removes an ending client when it is released
      self.connection.stream?.destroy()
    }
  }
}
