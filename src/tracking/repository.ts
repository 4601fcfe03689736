import type { Database } from '../db/index.js'
import type { TrackingNumbersTable } from '../db/schema.js'

export type TrackingRecord = TrackingNumbersTable

export interface Block {
  start: number
  end: number
}

/** One request's writes, committed together: its records and, if it sent one, its idempotency key. */
export interface WriteEntry {
  records: TrackingRecord[]
  idempotency?: { key: string; requestHash: string; createdAt: string }
}

// Multi-row inserts stay well below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_INSERT = 1_000

function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0
  if (a === undefined) return -1
  if (b === undefined) return 1
  return a < b ? -1 : 1
}

export function createTrackingRepository(db: Database) {
  return {
    /** Moves the counter forward by `size` in one committed statement; the caller owns [start, end). */
    async reserveBlock(size: number): Promise<Block> {
      const row = await db
        .updateTable('counters')
        .set((eb) => ({ next_value: eb('next_value', '+', size) }))
        .where('name', '=', 'tracking')
        .returning('next_value')
        .executeTakeFirstOrThrow()
      const end = Number(row.next_value)
      return { start: end - size, end }
    },

    /**
     * Writes all entries in one transaction. Returns, per entry, whether it was written: false when
     * its idempotency key was already taken (by another process), in which case none of its records are.
     */
    async writeBatch(entries: WriteEntry[]): Promise<boolean[]> {
      // The common case, one multi-row INSERT, is atomic by itself: no BEGIN/COMMIT round trips.
      if (entries.every((e) => !e.idempotency)) {
        const records = entries.flatMap((e) => e.records)
        if (records.length <= ROWS_PER_INSERT) {
          await db.insertInto('tracking_numbers').values(records).execute()
          return entries.map(() => true)
        }
      }
      return db.transaction().execute(async (trx) => {
        const written: boolean[] = []
        const records: TrackingRecord[] = []
        // Keys in one order in every process: two transactions never wait on each other's keys.
        const order = entries.map((_, i) => i)
        order.sort((a, b) => compareKeys(entries[a]?.idempotency?.key, entries[b]?.idempotency?.key))
        const claimedAt: boolean[] = []
        for (const i of order) {
          const entry = entries[i] as WriteEntry
          let claimed = true
          if (entry.idempotency) {
            const { key, requestHash, createdAt } = entry.idempotency
            const row = await trx
              .insertInto('idempotency_keys')
              .values({
                key,
                request_hash: requestHash,
                sequences: entry.records.map((r) => r.sequence).join(','),
                created_at: createdAt,
              })
              .onConflict((oc) => oc.column('key').doNothing())
              .returning('key')
              .executeTakeFirst()
            claimed = row !== undefined
          }
          claimedAt[i] = claimed
          if (claimed) records.push(...entry.records)
        }
        written.push(...entries.map((_, i) => claimedAt[i] ?? false))
        for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
          await trx
            .insertInto('tracking_numbers')
            .values(records.slice(i, i + ROWS_PER_INSERT))
            .execute()
        }
        return written
      })
    },

    async findBySequences(sequences: number[]): Promise<TrackingRecord[]> {
      if (sequences.length === 0) return []
      return db
        .selectFrom('tracking_numbers')
        .selectAll()
        .where('sequence', 'in', sequences)
        .orderBy('sequence')
        .execute()
    },

    async findIdempotencyKey(key: string) {
      return db
        .selectFrom('idempotency_keys')
        .select(['request_hash', 'sequences', 'created_at'])
        .where('key', '=', key)
        .executeTakeFirst()
    },

    async deleteIdempotencyKeysBefore(createdAt: string): Promise<number> {
      const result = await db
        .deleteFrom('idempotency_keys')
        .where('created_at', '<', createdAt)
        .executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  }
}

export type TrackingRepository = ReturnType<typeof createTrackingRepository>
