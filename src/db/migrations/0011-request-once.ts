import { type Kysely, SqliteAdapter, sql } from 'kysely'
import { OPTIONAL } from './0009-optional-issue-fields.js'
import { dialectOf } from './dialect.js'

// A request's numbers share everything but their sequence, number and UUID: the shared columns
// are stored once, on the row of its first number, and each other number's row holds NULL there
// and that first number's sequence in `request_sequence` (NULL on a row that holds its own
// request: every single number, and every row written before this migration). A batch of 1,000
// then writes 1,000 short rows, not 1,000 copies of its request (half the writer's work per number
// on SQLite, measured in docs/benchmarks.md). Readers resolve the shared columns from that row
// (TrackingRepository.findBySequences); for people and reports, the view tracking_records shows
// every number whole, as the table did before.
// The request's columns: those 0009 made optional (a migration keeps to its own time's schema).
const SHARED = OPTIONAL

export async function up(db: Kysely<unknown>): Promise<void> {
  const type = db.getExecutor().adapter instanceof SqliteAdapter ? 'integer' : 'bigint'
  await db.schema.alterTable('tracking_numbers').addColumn('request_sequence', type).execute()
  const request = SHARED.map((c) => `r.${c}`).join(', ')
  await sql
    .raw(
      `create view tracking_records as
        select n.sequence, n.tracking_number, n.uuid, ${request}, n.created_at
        from tracking_numbers n
        join tracking_numbers r on r.sequence = coalesce(n.request_sequence, n.sequence)`,
    )
    .execute(db)
}

/** Copies each request's columns back onto its other numbers' rows, then drops the column. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('drop view tracking_records').execute(db)
  if (dialectOf(db) === 'mysql') {
    // MySQL refuses a subquery on the table being updated; a join it takes.
    const set = SHARED.map((c) => `m.${c} = h.${c}`).join(', ')
    await sql
      .raw(`update tracking_numbers m join tracking_numbers h on h.sequence = m.request_sequence set ${set}`)
      .execute(db)
  } else {
    const set = SHARED.map(
      (c) =>
        `${c} = (select h.${c} from tracking_numbers h where h.sequence = tracking_numbers.request_sequence)`,
    ).join(', ')
    await sql.raw(`update tracking_numbers set ${set} where request_sequence is not null`).execute(db)
  }
  await db.schema.alterTable('tracking_numbers').dropColumn('request_sequence').execute()
}
