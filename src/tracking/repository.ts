import { CompiledQuery, PostgresAdapter, sql } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import type { Database, PreparedExecutor } from '../db/index.js'
import type { TrackingNumbersTable } from '../db/schema.js'
import { type PackedBatch, SHARED, unpackValues } from './packing.js'

export type TrackingRecord = TrackingNumbersTable

export interface Block {
  start: number
  end: number
  /**
   * PostgreSQL: set when this reservation found the database on another timeline than the last
   * one (a failover) and moved the counter ahead by FENCE_GAP before taking its block.
   */
  jumped?: { previousTimeline: number; timeline: number }
}

/**
 * How far a reservation moves the counter ahead when it finds the database on a new timeline: 2^36
 * values. With asynchronous replication the promoted standby may lack the last reservations the
 * old primary committed (and whose values were answered); the counter moves past all of them
 * whichever instance reserves first, and an instance started after the failover too. The lost
 * reservations are at most a few blocks per instance (TRACKING_BLOCK_MAX is at most 10^7), far
 * below 2^36 ≈ 6.9·10^10, while 2^53 / 2^36 leaves room for 131,072 failovers before sequence
 * values stop being exact in a JavaScript number.
 */
export const FENCE_GAP = 2 ** 36

// One statement, so no reservation can slip between reading the timeline and moving the counter:
// the old row is read under its lock (in READ COMMITTED, the newest version: a concurrent
// reservation that already moved to the new timeline is seen, and this one does not jump again).
// The timeline is the first 8 hex digits of the current WAL file's name: it changes at promotion
// (pg_control_checkpoint()'s timeline_id only at the next checkpoint). On a standby
// pg_current_wal_lsn() fails, as the UPDATE would.
const RESERVE_POSTGRES_SQL = `with server as (
    select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint as timeline
  ), previous as (
    select timeline from counters where name = 'tracking' for update
  )
  update counters set
    next_value = counters.next_value + $1::bigint + case
      when previous.timeline is not null and previous.timeline <> server.timeline then $2::bigint
      else 0 end,
    timeline = server.timeline
  from server, previous
  where counters.name = 'tracking'
  returning counters.next_value, previous.timeline as previous_timeline, server.timeline as timeline`

/** One request's writes, committed together: its records and, if it sent one, its idempotency key. */
export interface WriteEntry {
  records: TrackingRecord[]
  idempotency?: { key: string; requestHash: string; createdAt: string }
}

/** The columns of tracking_numbers, in the order a packed batch lists each record's values. */
const RECORD_COLUMNS = [
  'sequence',
  'tracking_number',
  'uuid',
  ...SHARED,
] as const satisfies readonly (keyof TrackingRecord)[]
const WIDTH = RECORD_COLUMNS.length

/** A group commit's entries as one multi-row INSERT's parameters, with what each entry adds. */
interface Rows {
  values: Array<string | number | null>
  /** Records per entry, in order. */
  rows: number[]
  /** The entries that carry an idempotency key, by index. */
  keys: PackedBatch['keys']
}

function flatten(entries: WriteEntry[]): Rows {
  const values: Array<string | number | null> = []
  const rows: number[] = []
  const keys: Rows['keys'] = []
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as WriteEntry
    for (const r of entry.records) {
      values.push(
        r.sequence,
        r.tracking_number,
        r.uuid,
        r.origin_country,
        r.destination_country,
        r.weight_grams,
        r.order_created_at,
        r.customer_id,
        r.customer_name,
        r.customer_slug,
        r.created_at,
      )
    }
    rows.push(entry.records.length)
    if (entry.idempotency) keys.push({ entry: i, ...entry.idempotency })
  }
  return { values, rows, keys }
}

// Multi-row inserts stay well below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_INSERT = 1_000
// Group commits come in a range of sizes; their INSERT statements are compiled once per size, and
// those of up to PREPARED_ROWS records are kept prepared by the server (at most that many per connection).
const INSERT_SQL_CACHE = 64
const PREPARED_ROWS = 64

// PostgreSQL: a batch larger than PREPARED_ROWS as one array per column, one statement whatever the
// number of rows. A 1,000-row VALUES list is 11,000 parameters the server parses and plans anew on
// every call; this is 11, planned once per connection.
const UNNEST_SQL = `insert into tracking_numbers (${RECORD_COLUMNS.join(', ')})
  select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`

/** Row-after-row values as one array per column. */
function columnsOf(values: Rows['values']): Array<Array<string | number | null>> {
  const columns = RECORD_COLUMNS.map(() => [] as Array<string | number | null>)
  for (let i = 0; i < values.length; i += WIDTH) {
    for (let c = 0; c < WIDTH; c++)
      (columns[c] as Array<string | number | null>).push(values[i + c] as string | number | null)
  }
  return columns
}

function compareKeys(a: string, b: string): number {
  if (a === b) return 0
  return a < b ? -1 : 1
}

/**
 * `executePrepared` (DatabaseHandle's), when given, runs the common group commit, a single INSERT,
 * as a prepared statement: on PostgreSQL that halves the server's work per record.
 */
export function createTrackingRepository(db: Database, executePrepared?: PreparedExecutor) {
  // MySQL and MariaDB have no INSERT … ON CONFLICT and no RETURNING.
  const mysql = dialectOf(db) === 'mysql'
  // The SQL of an INSERT of n records, compiled by Kysely for this dialect, kept for the next
  // batch of the same size: its parameters are exactly a packed batch's values.
  const insertSql = new Map<number, string>()
  function insertSqlFor(rowCount: number): string {
    let text = insertSql.get(rowCount)
    if (text === undefined) {
      const placeholder = Object.fromEntries(RECORD_COLUMNS.map((column) => [column, ''])) as never
      text = db
        .insertInto('tracking_numbers')
        .values(Array.from({ length: rowCount }, () => placeholder))
        .compile().sql
      if (insertSql.size >= INSERT_SQL_CACHE) insertSql.delete(insertSql.keys().next().value as number)
      insertSql.set(rowCount, text)
    }
    return text
  }

  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  function insertRecords(executor: Database, values: Rows['values'], rowCount: number) {
    if (postgres && rowCount > PREPARED_ROWS) {
      return executor.executeQuery(CompiledQuery.raw(UNNEST_SQL, columnsOf(values)))
    }
    return executor.executeQuery(CompiledQuery.raw(insertSqlFor(rowCount), values))
  }

  async function insertAll(executor: Database, values: Rows['values']): Promise<void> {
    const step = ROWS_PER_INSERT * WIDTH
    for (let i = 0; i < values.length; i += step) {
      const chunk = values.slice(i, i + step)
      await insertRecords(executor, chunk, chunk.length / WIDTH)
    }
  }

  async function writeRows(batch: Rows): Promise<boolean[]> {
    // The common case, one multi-row INSERT, is atomic by itself: no BEGIN/COMMIT round trips.
    if (batch.keys.length === 0 && batch.values.length <= ROWS_PER_INSERT * WIDTH) {
      const rowCount = batch.values.length / WIDTH
      if (executePrepared && rowCount > 0 && rowCount <= PREPARED_ROWS) {
        await executePrepared(`waybill_insert_tracking_${rowCount}`, insertSqlFor(rowCount), batch.values)
      } else if (executePrepared && postgres && rowCount > 0) {
        await executePrepared('waybill_insert_tracking_unnest', UNNEST_SQL, columnsOf(batch.values))
      } else if (rowCount > 0) {
        await insertRecords(db, batch.values, rowCount)
      }
      return batch.rows.map(() => true)
    }
    return db.transaction().execute(async (trx) => {
      // Each entry's values, by where they start and end in batch.values.
      const bounds: Array<[number, number]> = []
      for (let i = 0, start = 0; i < batch.rows.length; i++) {
        const end = start + (batch.rows[i] as number) * WIDTH
        bounds.push([start, end])
        start = end
      }
      const valuesOf = (entry: number) => batch.values.slice(...(bounds[entry] as [number, number]))
      const written = batch.rows.map(() => true)
      // Keys in one order in every process: two transactions never wait on each other's keys.
      const keys = [...batch.keys].sort((a, b) => compareKeys(a.key, b.key))
      for (const { entry, key, requestHash, createdAt } of keys) {
        const sequences = valuesOf(entry).filter((_, v) => v % WIDTH === 0)
        const insert = trx
          .insertInto('idempotency_keys')
          .values({ key, request_hash: requestHash, sequences: sequences.join(','), created_at: createdAt })
        if (mysql) {
          // INSERT IGNORE skips a taken key: no row inserted. (It would also turn a value too long
          // into a truncated one: the key's column holds more than the API lets through.)
          const result = await insert.ignore().executeTakeFirst()
          written[entry] = Number(result.numInsertedOrUpdatedRows) === 1
        } else {
          const row = await insert
            .onConflict((oc) => oc.column('key').doNothing())
            .returning('key')
            .executeTakeFirst()
          written[entry] = row !== undefined
        }
      }
      const values = written.every(Boolean)
        ? batch.values
        : batch.rows.flatMap((_, i) => (written[i] ? valuesOf(i) : []))
      await insertAll(trx, values)
      return written
    })
  }

  return {
    /** Moves the counter forward by `size` in one committed statement; the caller owns [start, end). */
    async reserveBlock(size: number): Promise<Block> {
      if (mysql) {
        // LAST_INSERT_ID(expr) stores the new value in the session, and the server returns it in
        // the statement's reply (the OK packet's insert id): the value this UPDATE wrote, read
        // under its row lock, with no second statement and no other connection's value.
        const result = await db.executeQuery(
          db
            .updateTable('counters')
            .set({ next_value: sql`last_insert_id(next_value + ${size})` })
            .where('name', '=', 'tracking')
            .compile(),
        )
        if (Number(result.numAffectedRows) !== 1 || result.insertId === undefined) {
          throw new Error('the tracking counter is missing')
        }
        const end = Number(result.insertId)
        return { start: end - size, end }
      }
      if (postgres) {
        const { rows } = await db.executeQuery<{
          next_value: string
          previous_timeline: string | null
          timeline: string
        }>(CompiledQuery.raw(RESERVE_POSTGRES_SQL, [size, FENCE_GAP]))
        const row = rows[0]
        if (!row) throw new Error('the tracking counter is missing')
        const end = Number(row.next_value)
        const previous = row.previous_timeline === null ? undefined : Number(row.previous_timeline)
        const timeline = Number(row.timeline)
        if (previous === undefined || previous === timeline) return { start: end - size, end }
        return { start: end - size, end, jumped: { previousTimeline: previous, timeline } }
      }
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
     * PostgreSQL after a failover: moves the counter past `end` (a block this process reserved)
     * and past every stored record, if it is behind. Returns where it was and where it is now.
     */
    async advanceCounterPast(end: number): Promise<{ from: number; to: number } | undefined> {
      return db.transaction().execute(async (trx) => {
        const counter = await trx
          .selectFrom('counters')
          .select('next_value')
          .where('name', '=', 'tracking')
          .forUpdate()
          .executeTakeFirstOrThrow()
        const stored = await trx
          .selectFrom('tracking_numbers')
          .select((eb) => eb.fn.max('sequence').as('highest'))
          .executeTakeFirst()
        const highest =
          stored?.highest === null || stored?.highest === undefined ? -1 : Number(stored.highest)
        const from = Number(counter.next_value)
        const to = Math.max(end, highest + 1)
        if (from >= to) return undefined
        await trx.updateTable('counters').set({ next_value: to }).where('name', '=', 'tracking').execute()
        return { from, to }
      })
    },

    /**
     * Writes all entries in one transaction. Returns, per entry, whether it was written: false when
     * its idempotency key was already taken (by another process), in which case none of its records are.
     */
    writeBatch(entries: WriteEntry[]): Promise<boolean[]> {
      return writeRows(flatten(entries))
    },

    /** writeBatch for entries packed by packBatch (the writer thread receives them so). */
    writePacked(batch: PackedBatch): Promise<boolean[]> {
      return writeRows({ values: unpackValues(batch), rows: batch.rows, keys: batch.keys })
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
