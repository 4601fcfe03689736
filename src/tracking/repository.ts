import { CompiledQuery, PostgresAdapter, sql } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import type { Database, PreparedExecutor } from '../db/index.js'
import type { TrackingNumbersTable } from '../db/schema.js'
import {
  HEAD_COLUMNS,
  HEAD_WIDTH,
  MEMBER_COLUMNS,
  MEMBER_WIDTH,
  type PackedBatch,
  type Rows,
  rowsOf,
  SHARED,
  unpackRows,
} from './packing.js'

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

/** What a request's numbers share: stored once, on the row of its first number (migration 0011). */
export type RequestColumns = Pick<TrackingNumbersTable, (typeof SHARED)[number]>

/** A stored number with its request's columns: what a lookup or a replay answers. */
export type TrackingRecord = Omit<TrackingNumbersTable, 'request_sequence'>

/** One request's numbers: what they share, once, and what differs, index by index. */
export interface Issued extends RequestColumns {
  sequences: number[]
  tracking_numbers: string[]
  /**
   * Each number's UUID, when the caller needs them before the commit (a reply that shows one);
   * else they are made where the rows are written (on SQLite, by the writer thread).
   */
  uuids?: string[]
}

/** One request's writes, committed together: its numbers and, if it sent one, its idempotency key. */
export interface WriteEntry {
  issued: Issued
  idempotency?: { key: string; requestHash: string; createdAt: string }
}

/** Each number of `issued` as a record (one request: they share its columns). */
export function recordsOf(issued: Issued & { uuids: string[] }): TrackingRecord[] {
  const { sequences, tracking_numbers: numbers, uuids, ...request } = issued
  return sequences.map((sequence, i) => ({
    sequence,
    tracking_number: numbers[i] as string,
    uuid: uuids[i] as string,
    ...request,
  }))
}

/** Records of one request (a replay's) as what issuing them answered. */
export function issuedOf(records: TrackingRecord[]): Issued {
  const first = records[0]
  if (!first) throw new Error('no records')
  const { sequence: _s, tracking_number: _t, uuid: _u, ...request } = first
  return {
    ...request,
    sequences: records.map((r) => r.sequence),
    tracking_numbers: records.map((r) => r.tracking_number),
    uuids: records.map((r) => r.uuid),
  }
}

type Value = string | number | null

// Multi-row inserts stay well below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_INSERT = 1_000
// SQLite and MySQL: group commits come in a range of sizes; their INSERT statements are compiled
// once per size, and those of up to PREPARED_ROWS rows are kept prepared (at most that many per
// connection).
const INSERT_SQL_CACHE = 64
const PREPARED_ROWS = 64

// PostgreSQL: rows go as one array per column, one statement whatever the number of rows. A
// VALUES list is 11 parameters a row that node-postgres serializes and the server binds one by
// one, and a statement per size; this is 11 parameters, mostly one joined text each (columnsOf),
// one statement planned once per connection. For single numbers' group commits (about 30 rows)
// it cost 13-15 % less CPU per answered request, service and database together, than a prepared
// VALUES statement per size (docs/benchmarks.md).
const UNNEST_HEADS = `select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
  $6::integer[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`
const INSERT_HEADS = `insert into tracking_numbers (${HEAD_COLUMNS.join(', ')}) ${UNNEST_HEADS}`
const UNNEST_MEMBERS = (from: number) =>
  `select * from unnest($${from}::bigint[], $${from + 1}::text[], $${from + 2}::text[], $${from + 3}::text[], $${from + 4}::bigint[])`
const INSERT_MEMBERS = `insert into tracking_numbers (${MEMBER_COLUMNS.join(', ')}) ${UNNEST_MEMBERS(1)}`
// Heads and members in one statement (a data-modifying WITH runs to completion): atomic without
// BEGIN and COMMIT round trips.
const INSERT_BOTH = `with heads as (${INSERT_HEADS})
  insert into tracking_numbers (${MEMBER_COLUMNS.join(', ')}) ${UNNEST_MEMBERS(HEAD_WIDTH + 1)}`

// A column whose values are all integers, tracking numbers, UUIDs, ISO times or codes: nothing in
// it needs quoting in an array literal.
const PLAIN = /^[0-9A-Za-z:.,-]*$/
const LITERAL_NULL = /(^|,)null(,|$)/i

/**
 * Row-after-row values as one parameter per column: PostgreSQL's array literal text where the
 * column's values need no quoting (most of a batch: sequence values, numbers, UUIDs, times), made
 * by one join (node-postgres escapes an array value by value: 0.3-0.4 us per number for a batch's
 * columns); the array itself otherwise, for the driver to escape (names, NULLs).
 */
function columnsOf(values: Value[], width: number): Array<Value[] | string> {
  const columns = Array.from({ length: width }, () => [] as Value[])
  for (let i = 0; i < values.length; i += width) {
    for (let c = 0; c < width; c++) (columns[c] as Value[]).push(values[i + c] as Value)
  }
  return columns.map((column) => {
    if (column.includes(null) || column.includes('')) return column
    const text = column.join(',')
    // An unquoted NULL (any case) in an array literal is SQL's NULL, not the text; a comma in a
    // value would split it in two (the joined text has exactly one between each two values).
    return PLAIN.test(text) && !LITERAL_NULL.test(text) && commas(text) === column.length - 1
      ? `{${text}}`
      : column
  })
}

function commas(text: string): number {
  let count = 0
  for (let i = text.indexOf(','); i !== -1; i = text.indexOf(',', i + 1)) count++
  return count
}

function compareKeys(a: string, b: string): number {
  if (a === b) return 0
  return a < b ? -1 : 1
}

/** Where each entry's members start in `batch.members`, and (last) where they end. */
function memberStarts(batch: Rows): number[] {
  const starts = [0]
  for (const count of batch.rows) starts.push((starts.at(-1) as number) + (count - 1) * MEMBER_WIDTH)
  return starts
}

/** Only the entries written: their heads and members. */
function keep(batch: Rows, written: boolean[], starts: number[]): Pick<Rows, 'heads' | 'members'> {
  if (written.every(Boolean)) return batch
  const heads: Value[] = []
  const members: Value[] = []
  for (let e = 0; e < batch.rows.length; e++) {
    if (!written[e]) continue
    heads.push(...batch.heads.slice(e * HEAD_WIDTH, (e + 1) * HEAD_WIDTH))
    members.push(...batch.members.slice(starts[e], starts[e + 1]))
  }
  return { heads, members }
}

/** An entry's sequence values, by its place in the batch. */
function sequencesOf(batch: Rows, entry: number, starts: number[]): number[] {
  const sequences = [batch.heads[entry * HEAD_WIDTH] as number]
  const end = starts[entry + 1] as number
  for (let i = starts[entry] as number; i < end; i += MEMBER_WIDTH) sequences.push(batch.members[i] as number)
  return sequences
}

/** An Idempotency-Key as stored, by an issuing route or an order's creation (its sequence). */
export async function findIdempotencyKey(db: Database, key: string) {
  return db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'sequences', 'created_at'])
    .where('key', '=', key)
    .executeTakeFirst()
}

/**
 * `executePrepared` (DatabaseHandle's), when given, runs the common group commit, a single INSERT,
 * as a prepared statement: on PostgreSQL that halves the server's work per record.
 */
export function createTrackingRepository(db: Database, executePrepared?: PreparedExecutor) {
  // MySQL and MariaDB have no INSERT … ON CONFLICT and no RETURNING.
  const mysql = dialectOf(db) === 'mysql'
  // The SQL of an INSERT of n rows of either shape, compiled by Kysely for this dialect, kept for
  // the next batch of the same size: its parameters are exactly Rows' values.
  const insertSql = new Map<string, string>()
  function insertSqlFor(columns: readonly string[], rowCount: number): string {
    const cacheKey = `${columns.length} ${rowCount}`
    let text = insertSql.get(cacheKey)
    if (text === undefined) {
      const placeholder = Object.fromEntries(columns.map((column) => [column, ''])) as never
      text = db
        .insertInto('tracking_numbers')
        .values(Array.from({ length: rowCount }, () => placeholder))
        .compile().sql
      if (insertSql.size >= INSERT_SQL_CACHE) insertSql.delete(insertSql.keys().next().value as string)
      insertSql.set(cacheKey, text)
    }
    return text
  }

  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  async function insertRows(executor: Database, columns: readonly string[], values: Value[]) {
    const width = columns.length
    const step = ROWS_PER_INSERT * width
    for (let i = 0; i < values.length; i += step) {
      const chunk = i === 0 && values.length <= step ? values : values.slice(i, i + step)
      const rowCount = chunk.length / width
      const query = postgres
        ? CompiledQuery.raw(width === HEAD_WIDTH ? INSERT_HEADS : INSERT_MEMBERS, columnsOf(chunk, width))
        : CompiledQuery.raw(insertSqlFor(columns, rowCount), chunk)
      await executor.executeQuery(query)
    }
  }

  /**
   * The common group commit, without idempotency keys, in one statement (atomic by itself: no
   * BEGIN/COMMIT round trips), kept prepared. False if it takes more than one.
   */
  async function insertInOne(batch: Rows): Promise<boolean> {
    if (!executePrepared) return false
    const heads = batch.heads.length / HEAD_WIDTH
    const members = batch.members.length / MEMBER_WIDTH
    if (heads === 0) return true
    if (postgres) {
      if (members > 0) {
        const both = [...columnsOf(batch.heads, HEAD_WIDTH), ...columnsOf(batch.members, MEMBER_WIDTH)]
        await executePrepared('waybill_insert_tracking_both', INSERT_BOTH, both)
      } else {
        await executePrepared(
          'waybill_insert_tracking_unnest',
          INSERT_HEADS,
          columnsOf(batch.heads, HEAD_WIDTH),
        )
      }
      return true
    }
    if (members > 0 || heads > ROWS_PER_INSERT) return false
    if (heads > PREPARED_ROWS) await insertRows(db, HEAD_COLUMNS, batch.heads)
    else
      await executePrepared(
        `waybill_insert_tracking_${heads}`,
        insertSqlFor(HEAD_COLUMNS, heads),
        batch.heads,
      )
    return true
  }

  async function writeRows(batch: Rows): Promise<boolean[]> {
    if (batch.keys.length === 0 && (await insertInOne(batch))) return batch.rows.map(() => true)
    return db.transaction().execute(async (trx) => {
      const written = batch.rows.map(() => true)
      const starts = memberStarts(batch)
      // Keys in one order in every process: two transactions never wait on each other's keys.
      const keys = [...batch.keys].sort((a, b) => compareKeys(a.key, b.key))
      for (const { entry, key, requestHash, createdAt } of keys) {
        const sequences = sequencesOf(batch, entry, starts)
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
      const { heads, members } = keep(batch, written, starts)
      await insertRows(trx, HEAD_COLUMNS, heads)
      await insertRows(trx, MEMBER_COLUMNS, members)
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
      return writeRows(rowsOf(entries))
    },

    /** writeBatch for entries packed by packBatch (the writer thread receives them so). */
    writePacked(batch: PackedBatch): Promise<boolean[]> {
      return writeRows(unpackRows(batch))
    },

    /** The stored records of these sequence values, in order, each with its request's columns. */
    async findBySequences(sequences: number[]): Promise<TrackingRecord[]> {
      if (sequences.length === 0) return []
      const rows = await db
        .selectFrom('tracking_numbers')
        .selectAll()
        .where('sequence', 'in', sequences)
        .orderBy('sequence')
        .execute()
      const found = new Map(rows.map((row) => [Number(row.sequence), row]))
      const missing = new Set<number>()
      for (const row of rows) {
        const head = row.request_sequence === null ? undefined : Number(row.request_sequence)
        if (head !== undefined && !found.has(head)) missing.add(head)
      }
      if (missing.size > 0) {
        const heads = await db
          .selectFrom('tracking_numbers')
          .selectAll()
          .where('sequence', 'in', [...missing])
          .execute()
        for (const head of heads) found.set(Number(head.sequence), head)
      }
      return rows.map(({ request_sequence, ...row }) => {
        if (request_sequence === null) return row
        const head = found.get(Number(request_sequence))
        if (!head) throw new Error(`tracking number ${row.sequence}: its request's row is missing`)
        const request = Object.fromEntries(
          SHARED.map((column: (typeof SHARED)[number]) => [column, head[column]]),
        ) as RequestColumns
        return { ...row, ...request, created_at: row.created_at }
      })
    },

    findIdempotencyKey: (key: string) => findIdempotencyKey(db, key),

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
