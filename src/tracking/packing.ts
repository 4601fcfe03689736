import type { TrackingNumbersTable } from '../db/schema.js'
import type { WriteEntry } from './repository.js'

/**
 * A group commit's entries as the writer thread receives them. Every value sent is copied twice
 * (structured clone: serialised here, deserialised there), value by value for an array. So what
 * differs per number travels as two arrays of numbers and one string, and what a request's numbers
 * share is sent once per request: a batch of 1,000 numbers is about 3,000 values, not 11,000
 * (numbers clone cheaply, strings do not; a long string is one copy).
 */
export interface PackedBatch {
  /** Each number's sequence value, entry after entry. */
  sequences: number[]
  /** Each tracking number then its UUID, end to end; their lengths are in `lengths`. */
  text: string
  /** Two per number: the length of its tracking number, then of its UUID. */
  lengths: number[]
  /** SHARED.length values per entry: what its numbers share, in SHARED's order. */
  shared: Array<string | number | null>
  /** Numbers per entry, in order. */
  rows: number[]
  /** The entries that carry an idempotency key, by index. */
  keys: Array<{ entry: number; key: string; requestHash: string; createdAt: string }>
}

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
  const lengths: number[] = []
  const text: string[] = []
  const shared: Array<string | number | null> = []
  const rows: number[] = []
  const keys: PackedBatch['keys'] = []
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as WriteEntry
    const { issued } = entry
    const count = issued.sequences.length
    for (let n = 0; n < count; n++) {
      const number = issued.tracking_numbers[n] as string
      const uuid = issued.uuids[n] as string
      sequences.push(issued.sequences[n] as number)
      lengths.push(number.length, uuid.length)
      text.push(number, uuid)
    }
    for (const column of SHARED) shared.push(issued[column])
    rows.push(count)
    if (entry.idempotency) keys.push({ entry: i, ...entry.idempotency })
  }
  return { sequences, text: text.join(''), lengths, shared, rows, keys }
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
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as WriteEntry
    const { issued } = entry
    const { sequences, tracking_numbers: numbers, uuids, created_at: createdAt } = issued
    const first = sequences[0] as number
    heads.push(first, numbers[0] as string, uuids[0] as string)
    for (const column of SHARED) heads.push(issued[column])
    for (let n = 1; n < sequences.length; n++) {
      members.push(sequences[n] as number, numbers[n] as string, uuids[n] as string, createdAt, first)
    }
    rows.push(sequences.length)
    if (entry.idempotency) keys.push({ entry: i, ...entry.idempotency })
  }
  return { heads, members, rows, keys }
}

/** Rows from a packed batch (the writer thread). */
export function unpackRows(batch: PackedBatch): Rows {
  const { sequences, text, lengths, shared, rows } = batch
  const heads: Value[] = []
  const members: Value[] = []
  let n = 0
  let at = 0
  for (let e = 0; e < rows.length; e++) {
    const count = rows[e] as number
    const s = e * SHARED.length
    const createdAt = shared[s + SHARED.length - 1] as string
    const first = sequences[n] as number
    for (let k = 0; k < count; k++, n++) {
      const numberEnd = at + (lengths[2 * n] as number)
      const uuidEnd = numberEnd + (lengths[2 * n + 1] as number)
      const number = text.slice(at, numberEnd)
      const uuid = text.slice(numberEnd, uuidEnd)
      at = uuidEnd
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
