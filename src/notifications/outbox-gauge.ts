import { Gauge, type Registry } from 'prom-client'
import type { Database } from '../db/index.js'
import { outboxCounts } from './outbox.js'

const STATES = ['pending', 'failed', 'sent'] as const

/**
 * `sms_outbox_notifications{state}`: the outbox's rows by state, counted at each scrape, for
 * alerts on a growing backlog (pending) or on SMS that failed for good. A claimed row counts as
 * pending. The figures are the database's, the same from every process: the cluster's merged
 * scrape (WEB_CONCURRENCY > 1) takes the largest, not the sum; across instances use max() too.
 */
export function registerOutboxGauge(registry: Registry, db: Database): Gauge<'state'> {
  return new Gauge({
    name: 'sms_outbox_notifications',
    help: 'SMS notifications in the outbox by state (pending includes those being sent)',
    labelNames: ['state'],
    registers: [registry],
    aggregator: 'max',
    async collect() {
      try {
        const counts = await outboxCounts(db)
        for (const state of STATES) this.set({ state }, counts[state])
      } catch {
        // The database is down: report no figure rather than a stale one, and keep the rest of
        // the scrape (process metrics, HTTP errors) working. /ready tells of the outage.
        this.reset()
      }
    },
  })
}
