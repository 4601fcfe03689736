import { randomUUID } from 'node:crypto'
import { type Selectable, sql, type UpdateObject } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import type { Database, Tables } from '../db/index.js'
import type { NotificationsTable } from '../db/schema.js'

// The SMS outbox's SQL. Rows move pending → sending (claimed) → sent | failed, or back to pending
// for a retry. A claim is a fresh random token plus an expiry: every outcome write names the token,
// so a worker whose claim expired and was taken over cannot overwrite the new owner's result.

export type Notification = Selectable<NotificationsTable>

export interface NewNotification {
  orderId: number
  event: string
  recipient: string
  message: string
}

/** A claimed row: what a worker needs to send it and to record the outcome. */
export type ClaimedNotification = Pick<
  Notification,
  'id' | 'order_id' | 'event' | 'recipient' | 'message'
> & {
  attempts: number
  claim_token: string
}

/** The caller's own database or transaction: pass the order's transaction to enqueue atomically. */
export async function enqueueNotification(
  db: Database,
  n: NewNotification,
  now: Date = new Date(),
): Promise<number> {
  const at = now.toISOString()
  const insert = db.insertInto('notifications').values({
    order_id: n.orderId,
    event: n.event,
    recipient: n.recipient,
    message: n.message,
    status: 'pending',
    attempts: 0,
    next_attempt_at: at,
    created_at: at,
    updated_at: at,
  })
  // MySQL has no RETURNING: the insert reports the id it generated.
  if (dialectOf(db) === 'mysql') return Number((await insert.executeTakeFirstOrThrow()).insertId)
  const row = await insert.returning('id').executeTakeFirstOrThrow()
  return Number(row.id)
}

/**
 * Claims up to `limit` due rows for one worker and counts the attempt. Due: pending and
 * next_attempt_at <= now, or sending whose claim expired (its worker died between claim and outcome).
 * A claimed row's next_attempt_at is its claim expiry, so both cases are one range on one index.
 */
export async function claimDue(
  db: Database,
  options: { limit: number; now: Date; claimTimeoutMs: number },
): Promise<ClaimedNotification[]> {
  const now = options.now.toISOString()
  const claimedUntil = new Date(options.now.getTime() + options.claimTimeoutMs).toISOString()
  const token = randomUUID()
  // PostgreSQL: concurrent claimers skip each other's locked rows instead of queueing behind them,
  // and a row another claimer just committed is re-checked against the WHERE and dropped.
  // SQLite: the single UPDATE holds the database's only write lock from start to end.
  // MySQL/MariaDB 10.6+: a locking read that skips locked rows too (lockDueMysql), in a
  // transaction with the UPDATE, which can neither select from its own table in a subquery with
  // LIMIT nor return rows.
  const dialect = dialectOf(db)
  const claim = {
    status: 'sending' as const,
    claim_token: token,
    claimed_until: claimedUntil,
    next_attempt_at: claimedUntil,
    updated_at: now,
  }
  const dueIds = (from: Database) =>
    from
      .selectFrom('notifications')
      .select('id')
      .where('status', 'in', ['pending', 'sending'])
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(options.limit)
  const columns = ['id', 'order_id', 'event', 'recipient', 'message', 'attempts'] as const
  const rows =
    dialect === 'mysql'
      ? await db.transaction().execute(async (trx) => {
          const ids = await lockDueMysql(trx, now, options.limit)
          if (ids.length === 0) return []
          await trx
            .updateTable('notifications')
            .set((eb) => ({ ...claim, attempts: eb('attempts', '+', 1) }))
            .where('id', 'in', ids)
            .execute()
          return trx.selectFrom('notifications').select(columns).where('id', 'in', ids).execute()
        })
      : await db
          .updateTable('notifications')
          .set((eb) => ({ ...claim, attempts: eb('attempts', '+', 1) }))
          .where('id', 'in', () => {
            const due = dueIds(db)
            return dialect === 'postgres' ? due.forUpdate().skipLocked() : due
          })
          .returning(columns)
          .execute()
  return rows
    .map((row) => ({ ...row, id: Number(row.id), attempts: Number(row.attempts), claim_token: token }))
    .sort((a, b) => a.id - b.id)
}

/**
 * InnoDB locks every row a locking read sorts: `status in (…) order by next_attempt_at` over the
 * (status, next_attempt_at) index would sort, so lock, every due row, and a second claimer would
 * skip them all. One status at a time, the index gives the order and the scan stops at the limit;
 * the oldest `limit` of both are claimed (the few extra rows are unlocked at commit).
 */
async function lockDueMysql(trx: Database, now: string, limit: number): Promise<number[]> {
  const due: Array<{ id: number; next_attempt_at: string }> = []
  for (const status of ['pending', 'sending'] as const) {
    const rows = await trx
      .selectFrom('notifications')
      .select(['id', 'next_attempt_at'])
      .where('status', '=', status)
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute()
    due.push(...rows)
  }
  return due
    .sort((a, b) =>
      a.next_attempt_at === b.next_attempt_at ? a.id - b.id : a.next_attempt_at < b.next_attempt_at ? -1 : 1,
    )
    .slice(0, limit)
    .map((r) => r.id)
}

interface Held {
  id: number
  claimToken: string
}

/** Applies an outcome only while the row is still held by this claim; false when it was taken over. */
async function settle(
  db: Database,
  held: Held,
  values: UpdateObject<Tables, 'notifications'>,
): Promise<boolean> {
  const result = await db
    .updateTable('notifications')
    .set({ ...values, claim_token: null, claimed_until: null })
    .where('id', '=', held.id)
    .where('status', '=', 'sending')
    .where('claim_token', '=', held.claimToken)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export function markSent(
  db: Database,
  held: Held,
  sent: { messageId: string; cost: string },
  now: Date = new Date(),
): Promise<boolean> {
  const at = now.toISOString()
  return settle(db, held, {
    status: 'sent',
    message_id: sent.messageId,
    cost: sent.cost,
    last_error: null,
    sent_at: at,
    updated_at: at,
  })
}

/**
 * Back to pending, due at `nextAttemptAt`. `countAttempt: false` gives back the attempt the claim
 * counted: a fault only an operator can fix (bad key, no balance) must not use up the limit.
 */
export function markRetry(
  db: Database,
  held: Held,
  nextAttemptAt: Date,
  error: string,
  now: Date = new Date(),
  countAttempt = true,
): Promise<boolean> {
  return settle(db, held, {
    status: 'pending',
    next_attempt_at: nextAttemptAt.toISOString(),
    last_error: error,
    updated_at: now.toISOString(),
    ...(countAttempt ? {} : { attempts: sql<number>`attempts - 1` }),
  })
}

export function markFailed(
  db: Database,
  held: Held,
  error: string,
  now: Date = new Date(),
): Promise<boolean> {
  return settle(db, held, { status: 'failed', last_error: error, updated_at: now.toISOString() })
}

/**
 * Puts failed notifications back in the queue, due now with their attempts reset: the one `id`,
 * or every failed one. Any other state is left alone (a sent SMS is never sent again). last_error
 * stays until the next outcome, to show why it had failed. Returns how many were put back.
 */
export async function requeueFailed(
  db: Database,
  which: { id: number } | 'all',
  now: Date = new Date(),
): Promise<number> {
  const at = now.toISOString()
  let query = db
    .updateTable('notifications')
    .set({ status: 'pending', attempts: 0, next_attempt_at: at, updated_at: at })
    .where('status', '=', 'failed')
  if (which !== 'all') query = query.where('id', '=', which.id)
  const result = await query.executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** One notification's state, or undefined if there is no such notification. */
export async function notificationStatus(
  db: Database,
  id: number,
): Promise<Notification['status'] | undefined> {
  const row = await db.selectFrom('notifications').select('status').where('id', '=', id).executeTakeFirst()
  return row?.status
}

/** For GET /api/orders/{id}/notifications/, oldest first. */
export async function listNotifications(db: Database, orderId: number) {
  const rows = await db
    .selectFrom('notifications')
    .select([
      'id',
      'event',
      'recipient',
      'status',
      'attempts',
      'last_error',
      'message_id',
      'created_at',
      'updated_at',
      'sent_at',
    ])
    .where('order_id', '=', orderId)
    .orderBy('id')
    .execute()
  return rows.map((row) => ({ ...row, id: Number(row.id), attempts: Number(row.attempts) }))
}

/** For a dashboard: a claimed row (sending) still counts as pending, as it is not delivered yet. */
export async function outboxCounts(db: Database): Promise<{ pending: number; failed: number; sent: number }> {
  const rows = await db
    .selectFrom('notifications')
    .select((eb) => ['status', eb.fn.countAll().as('n')])
    .groupBy('status')
    .execute()
  const counts = { pending: 0, failed: 0, sent: 0 }
  for (const row of rows) {
    const key = row.status === 'sending' ? 'pending' : row.status
    counts[key] += Number(row.n)
  }
  return counts
}
