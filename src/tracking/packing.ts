import type { TrackingNumbersTable } from '../db/schema.js'
import type { Issued, WriteEntry } from './repository.js'
import { randomUuids } from './uuids.js'

/**
 * A group commit's entries as the writer thread receives them. Every value sent is copied twice
 * (structured clone: serialised here, deserialised there), value by value for an array. So what
 * differs per number travels as an array of numbers and two strings, and what a request's numbers
 * share is sent once per request: a batch of 1,000 numbers is about 1,000 values, not 11,000
 * (numbers clone cheaply, strings do not; a long string is one copy).
 */
export interface PackedBatch {
  /** Each number's sequence value, entry after entry. */
  sequences: number[]
  /** The tracking numbers, end to end; each entry's are `widths[entry]` characters long. */
  numbers: string
  widths: number[]
  /** The UUIDs of the entries that came with theirs (`withUuids`), end to end, 36 characters each. */
  uuids: string
  withUuids: boolean[]
  /**
   * SHARED.length values per entry that does not repeat the one before: what its numbers share, in
   * SHARED's order. Consecutive requests that differ only in their numbers (a client issuing one at
   * a time for one customer) send them once.
   */
  shared: Array<string | number | null>
  /** Per entry: whether it shares the previous entry's columns (and has none in `shared`). */
  repeats: boolean[]
  /** Numbers per entry, in order. */
  rows: number[]
  /** The entries that carry an idempotency key, by index. */
  keys: Array<{ entry: number; key: string; requestHash: string; createdAt: string }>
}

const UUID_LENGTH = 36

/** The columns a request's numbers share, in tracking_numbers' column order (after sequence, number, UUID). */
export const SHARED = [
  'origin_country',
  'destination_country',
  'weight_grams',
  'order_created_at',
  'customer_id',
  'customer_name',
  'customer_slug',
  'created_at',
] as const satisfies readonly (keyof TrackingNumbersTable)[]

export function packBatch(entries: WriteEntry[]): PackedBatch {
  const sequences: number[] = []
  const numbers: string[] = []
  const widths: number[] = []
  const uuids: string[] = []
  const withUuids: boolean[] = []
  const shared: Array<string | number | null> = []
  const repeats: boolean[] = []
  const rows: number[] = []
  const keys: PackedBatch['keys'] = []
  let previous: Issued | undefined
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as WriteEntry
    const { issued } = entry
    const count = issued.sequences.length
    for (let n = 0; n < count; n++) sequences.push(issued.sequences[n] as number)
    // One request's numbers have one format and one lane: one length.
    const text = issued.tracking_numbers.join('')
    const width = issued.tracking_numbers[0]?.length ?? 0
    if (text.length !== width * count) throw new Error('the numbers of one request differ in length')
    numbers.push(text)
    widths.push(width)
    if (issued.uuids) uuids.push(issued.uuids.join(''))
    withUuids.push(issued.uuids !== undefined)
    const repeat = previous !== undefined && sameRequest(previous, issued)
    repeats.push(repeat)
    if (!repeat) for (const column of SHARED) shared.push(issued[column])
    previous = issued
    rows.push(count)
    if (entry.idempotency) keys.push({ entry: i, ...entry.idempotency })
  }
  return {
    sequences,
    numbers: numbers.join(''),
    widths,
    uuids: uuids.join(''),
    withUuids,
    shared,
    repeats,
    rows,
    keys,
  }
}

function sameRequest(a: Issued, b: Issued): boolean {
  for (const column of SHARED) if (a[column] !== b[column]) return false
  return true
}

type Value = string | number | null

/** The columns of a row that holds its request, in the order Rows.heads lists their values. */
export const HEAD_COLUMNS = ['sequence', 'tracking_number', 'uuid', ...SHARED] as const
/** The columns of a request's other numbers' rows (the request's columns stay null: migration 0011). */
export const MEMBER_COLUMNS = [
  'sequence',
  'tracking_number',
  'uuid',
  'created_at',
  'request_sequence',
] as const
export const HEAD_WIDTH = HEAD_COLUMNS.length
export const MEMBER_WIDTH = MEMBER_COLUMNS.length

/** A group commit as the rows it inserts: multi-row INSERTs' parameters, with what each entry adds. */
export interface Rows {
  /** HEAD_WIDTH values per entry: its first number and the request's columns. */
  heads: Value[]
  /** MEMBER_WIDTH values per further number of an entry, entry after entry. */
  members: Value[]
  /** Numbers per entry, in order (an entry has at least one). */
  rows: number[]
  /** The entries that carry an idempotency key, by index. */
  keys: PackedBatch['keys']
}

/** Rows straight from the entries (a writer on the caller's own connection). */
export function rowsOf(entries: WriteEntry[]): Rows {
  const heads: Value[] = []
  const members: Value[] = []
  const rows: number[] = []
  const keys: Rows['keys'] = []
  // One call for every UUID the entries lack (see randomUuids), not one per entry: a group commit
  // of single numbers is one entry per number.
  let lacking = 0
  for (let i = 0; i < entries.length; i++) {
    const { issued } = entries[i] as WriteEntry
    if (!issued.uuids) lacking += issued.sequences.length
  }
  const made = randomUuids(lacking)
  let madeAt = 0
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as WriteEntry
    const { issued } = entry
    const { sequences, tracking_numbers: numbers, created_at: createdAt } = issued
    const given = issued.uuids
    const first = sequences[0] as number
    heads.push(first, numbers[0] as string, (given ? given[0] : made[madeAt++]) as string)
    for (const column of SHARED) heads.push(issued[column])
    for (let n = 1; n < sequences.length; n++) {
      const uuid = (given ? given[n] : made[madeAt++]) as string
      members.push(sequences[n] as number, numbers[n] as string, uuid, createdAt, first)
    }
    rows.push(sequences.length)
    if (entry.idempotency) keys.push({ entry: i, ...entry.idempotency })
  }
  return { heads, members, rows, keys }
}

/** Rows from a packed batch (the writer thread), with a UUID made here for each number sent without. */
export function unpackRows(batch: PackedBatch): Rows {
  const { sequences, numbers, widths, uuids, withUuids, shared, repeats, rows } = batch
  const heads: Value[] = []
  const members: Value[] = []
  // One call for every UUID the batch lacks (see randomUuids).
  let lacking = 0
  for (let e = 0; e < rows.length; e++) if (!withUuids[e]) lacking += rows[e] as number
  const made = randomUuids(lacking)
  let madeAt = 0
  let n = 0
  let at = 0
  let uuidAt = 0
  let s = -SHARED.length // where this entry's columns are in `shared`
  for (let e = 0; e < rows.length; e++) {
    const count = rows[e] as number
    const width = widths[e] as number
    const given = withUuids[e] === true
    if (!repeats[e]) s += SHARED.length
    const createdAt = shared[s + SHARED.length - 1] as string
    const first = sequences[n] as number
    for (let k = 0; k < count; k++, n++) {
      const number = numbers.slice(at, at + width)
      at += width
      let uuid: string
      if (given) {
        uuid = uuids.slice(uuidAt, uuidAt + UUID_LENGTH)
        uuidAt += UUID_LENGTH
      } else {
        uuid = made[madeAt++] as string
      }
      if (k === 0) {
        heads.push(first, number, uuid)
        for (let c = 0; c < SHARED.length; c++) heads.push(shared[s + c] as Value)
      } else {
        members.push(sequences[n] as number, number, uuid, createdAt, first)
      }
    }
  }
  return { heads, members, rows, keys: batch.keys }
}
