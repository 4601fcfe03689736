import type { TrackingRecord, WriteEntry } from './repository.js'

/**
 * A group commit's entries as the writer thread receives them. Every value sent is copied twice
 * (structured clone: serialised here, deserialised there), value by value for an array. So what
 * differs per record travels as two arrays of numbers and one string, and what a request's records
 * share is sent once per run of records: a batch of 1,000 numbers is about 4,000 values, not 11,000
 * (numbers clone cheaply, strings do not; a long string is one copy).
 */
export interface PackedBatch {
  /** Each record's sequence value. */
  sequences: number[]
  /** Each record's tracking number then UUID, end to end; their lengths are in `lengths`. */
  text: string
  /** Two per record: the length of its tracking number, then of its UUID. */
  lengths: number[]
  /** Runs of consecutive records sharing the other columns: a count, then the SHARED columns' values. */
  runs: Array<string | number | null>
  /** Records per entry, in order. */
  rows: number[]
  /** The entries that carry an idempotency key, by index. */
  keys: Array<{ entry: number; key: string; requestHash: string; createdAt: string }>
}

/** The columns a request's records share, in tracking_numbers' column order (after sequence, number, UUID). */
export const SHARED = [
  'origin_country',
  'destination_country',
  'weight_grams',
  'order_created_at',
  'customer_id',
  'customer_name',
  'customer_slug',
  'created_at',
] as const satisfies readonly (keyof TrackingRecord)[]
const RUN = 1 + SHARED.length

function shares(a: TrackingRecord, b: TrackingRecord): boolean {
  for (const column of SHARED) if (a[column] !== b[column]) return false
  return true
}

export function packBatch(entries: WriteEntry[]): PackedBatch {
  const sequences: number[] = []
  const lengths: number[] = []
  const text: string[] = []
  const runs: Array<string | number | null> = []
  const rows: number[] = []
  const keys: PackedBatch['keys'] = []
  let run = -1 // where the current run's count is in `runs`
  let previous: TrackingRecord | undefined
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as WriteEntry
    for (const r of entry.records) {
      sequences.push(r.sequence)
      lengths.push(r.tracking_number.length, r.uuid.length)
      text.push(r.tracking_number, r.uuid)
      if (previous && shares(previous, r)) {
        ;(runs[run] as number)++
      } else {
        run = runs.length
        runs.push(1)
        for (const column of SHARED) runs.push(r[column])
      }
      previous = r
    }
    rows.push(entry.records.length)
    if (entry.idempotency) keys.push({ entry: i, ...entry.idempotency })
  }
  return { sequences, text: text.join(''), lengths, runs, rows, keys }
}

/** Every record's column values, row after row in tracking_numbers' column order: a multi-row INSERT's parameters. */
export function unpackValues(batch: PackedBatch): Array<string | number | null> {
  const values: Array<string | number | null> = []
  const { sequences, text, lengths, runs } = batch
  let n = 0
  let at = 0
  for (let r = 0; r < runs.length; r += RUN) {
    const count = runs[r] as number
    for (let k = 0; k < count; k++, n++) {
      const numberEnd = at + (lengths[2 * n] as number)
      const uuidEnd = numberEnd + (lengths[2 * n + 1] as number)
      values.push(sequences[n] as number, text.slice(at, numberEnd), text.slice(numberEnd, uuidEnd))
      for (let c = 1; c < RUN; c++) values.push(runs[r + c] as string | number | null)
      at = uuidEnd
    }
  }
  return values
}
