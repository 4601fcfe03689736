import { sql } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import type { Database } from '../db/index.js'
import type { OrderStatus } from '../db/schema.js'

// The instance name of the rolled-up rows: one per day, for days older than the chart.
const DAILY = 'daily'

type IssueCount = { minute: string; instance: string; count: number }

/** Inserts the rows, adding each count to the row's existing one, if any. */
async function addTo(db: Database, rows: IssueCount[]): Promise<void> {
  const insert = db.insertInto('issue_counts').values(rows)
  await (dialectOf(db) === 'mysql'
    ? // MySQL's upsert: VALUES(count) is the count the row would have been inserted with.
      insert.onDuplicateKeyUpdate({ count: sql<number>`count + values(count)` })
    : insert.onConflict((oc) =>
        oc.columns(['minute', 'instance']).doUpdateSet((eb) => ({
          count: eb('issue_counts.count', '+', eb.ref('excluded.count')),
        })),
      )
  ).execute()
}

export function createStatsRepository(db: Database) {
  return {
    /** Adds this process's counts to its own rows. */
    async addIssueCounts(instance: string, counts: Array<{ minute: string; count: number }>): Promise<void> {
      if (counts.length === 0) return
      await addTo(
        db,
        counts.map((c) => ({ ...c, instance })),
      )
    },

    async issuedSince(since?: string): Promise<number> {
      let query = db
        .selectFrom('issue_counts')
        .select((eb) => eb.fn.sum<number | string | null>('count').as('n'))
      if (since) query = query.where('minute', '>=', since)
      const row = await query.executeTakeFirst()
      return Number(row?.n ?? 0)
    },

    async issuedPerMinute(since: string): Promise<Map<string, number>> {
      const rows = await db
        .selectFrom('issue_counts')
        .select((eb) => ['minute', eb.fn.sum<number | string>('count').as('n')])
        .where('minute', '>=', since)
        .groupBy('minute')
        .execute()
      return new Map(rows.map((r) => [r.minute, Number(r.n)]))
    },

    /**
     * Folds the per-minute, per-process rows older than `before` into one row per day, so the
     * table stays small: a few days of minutes plus a row a day. Totals are unchanged.
     */
    async rollUp(before: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const rows = await trx
          .selectFrom('issue_counts')
          .select((eb) => [
            sql<string>`substr(minute, 1, 10)`.as('day'),
            eb.fn.sum<number | string>('count').as('n'),
          ])
          .where('minute', '<', before)
          .where('instance', '<>', DAILY)
          .groupBy(sql`substr(minute, 1, 10)`)
          .execute()
        if (rows.length === 0) return
        await trx
          .deleteFrom('issue_counts')
          .where('minute', '<', before)
          .where('instance', '<>', DAILY)
          .execute()
        await addTo(
          trx,
          rows.map((r) => ({ minute: `${r.day}T00:00:00.000Z`, instance: DAILY, count: Number(r.n) })),
        )
      })
    },

    async ordersByStatus(): Promise<Partial<Record<OrderStatus, number>>> {
      const rows = await db
        .selectFrom('orders')
        .select((eb) => ['status', eb.fn.countAll<number | string>().as('n')])
        .groupBy('status')
        .execute()
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
    },
  }
}
export type StatsRepository = ReturnType<typeof createStatsRepository>
