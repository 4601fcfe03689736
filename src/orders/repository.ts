import { type RawBuilder, type SelectQueryBuilder, sql } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import type { Database, Tables } from '../db/index.js'
import { containsPattern, likeEscape } from '../db/like.js'
import type { OrderStatus } from '../db/schema.js'
import { type Page, type PageRequest, sortOf } from '../http/pagination.js'
import { enqueueNotification, type NewNotification } from '../notifications/outbox.js'
import { type OrderOrdering, type OrderSortField, STATUSES } from './schemas.js'

/** An order with its customer's code and name, as every read returns it. */
export interface OrderRow {
  id: number
  customer_code: string
  customer_name: string
  item: string
  amount_minor: number
  origin_country: string | null
  destination_country: string | null
  weight_grams: number | null
  tracking_number: string
  status: OrderStatus
  order_time: string
  updated_at: string
}

export interface NewOrder {
  customerId: number
  item: string
  amountMinor: number
  origin: string | null
  destination: string | null
  weightGrams: number | null
  trackingSequence: number
  trackingNumber: string
  now: string
}

/** The fields a correction may set, in stored units; undefined leaves a field as it is. */
export interface OrderCorrection {
  item?: string
  amountMinor?: number
  origin?: string | null
  destination?: string | null
  weightGrams?: number | null
}

export interface OrderFilter {
  /** ISO instants: order_time >= from and <= until. */
  from?: string
  until?: string
  status?: OrderStatus
  customerCode?: string
  customerId?: number
  trackingNumber?: string
}

type Joined = SelectQueryBuilder<Tables & { c: Tables['customers'] }, 'orders' | 'c', object>

// What each ordering field sorts by. Statuses in lifecycle order (the order of STATUSES), not
// alphabetically; free text ignores case (lower(): A-Z only on SQLite). Only order_time has
// indexes (with id, read either way), so the default list and its filters read just their page;
// the other orderings sort every matching row.
const SORT_KEYS: Record<OrderSortField, RawBuilder<unknown>> = {
  order_time: sql.ref('orders.order_time'),
  amount: sql.ref('orders.amount_minor'),
  status: sql`case orders.status ${sql.join(
    STATUSES.map((status, rank) => sql`when ${sql.lit(status)} then ${sql.lit(rank)}`),
    sql` `,
  )} end`,
  customer_code: sql.ref('c.code'),
  customer_name: sql`lower(c.name)`,
  item: sql`lower(orders.item)`,
  tracking_number: sql.ref('orders.tracking_number'),
}

export function createOrderRepository(db: Database) {
  const dialect = dialectOf(db)
  const sqlite = dialect === 'sqlite'
  // MariaDB reads the smaller customers table first and sorts the orders it joins, for lists
  // that need only a page of orders read in index order: STRAIGHT_JOIN keeps orders first.
  const joined = () =>
    db
      .selectFrom('orders')
      .innerJoin('customers as c', 'c.id', 'orders.customer_id')
      .$if(dialect === 'mysql', (q) => q.modifyFront(sql`straight_join`)) as Joined

  const columns = (query: Joined) =>
    query.select([
      'orders.id',
      'c.code as customer_code',
      'c.name as customer_name',
      'orders.item',
      'orders.amount_minor',
      'orders.origin_country',
      'orders.destination_country',
      'orders.weight_grams',
      'orders.tracking_number',
      'orders.status',
      'orders.order_time',
      'orders.updated_at',
    ])

  /**
   * One page in this ordering. `id`, unique, breaks ties (in the same direction, so -x is exactly
   * x reversed): no two pages share a row and none is skipped.
   */
  async function page(query: Joined, request: PageRequest, ordering: OrderOrdering): Promise<Page<OrderRow>> {
    const total = await query.select((eb) => eb.fn.countAll<number | string>().as('count')).executeTakeFirst()
    const { field, direction } = sortOf(ordering)
    const results = await columns(query)
      .orderBy(SORT_KEYS[field], direction)
      .orderBy('orders.id', direction)
      .limit(request.pageSize)
      .offset(request.offset)
      .execute()
    return { count: Number(total?.count ?? 0), results: results as OrderRow[] }
  }

  /**
   * MySQL and MariaDB: LIKE over the index on item, read whole instead of the table (no index
   * serves a substring there yet: docs/databases.md).
   */
  function mysqlMatches(pattern: string) {
    const escaping = likeEscape(db)
    const byItem = sql`select id from orders where lower(item) like lower(${pattern}) ${escaping}`
    const byCustomer = sql`select id from orders where customer_id in (select id from customers where lower(name) like lower(${pattern}) ${escaping} or lower(code) like lower(${pattern}) ${escaping})`
    return sql<boolean>`orders.id in (${byItem} union ${byCustomer})`
  }

  return {
    /**
     * The order and its notification, in one transaction: both are stored, or neither. With an
     * Idempotency-Key, the key too (its `sequences`: the order's tracking sequence), first: a
     * second transaction with the same key fails on it (a unique violation) before it writes.
     */
    async create(
      order: NewOrder,
      notification: Omit<NewNotification, 'orderId'>,
      idempotency?: { key: string; requestHash: string },
    ): Promise<number> {
      return db.transaction().execute(async (trx) => {
        if (idempotency) {
          await trx
            .insertInto('idempotency_keys')
            .values({
              key: idempotency.key,
              request_hash: idempotency.requestHash,
              sequences: String(order.trackingSequence),
              created_at: order.now,
            })
            .execute()
        }
        const insert = trx.insertInto('orders').values({
          customer_id: order.customerId,
          item: order.item,
          amount_minor: order.amountMinor,
          origin_country: order.origin,
          destination_country: order.destination,
          weight_grams: order.weightGrams,
          tracking_sequence: order.trackingSequence,
          tracking_number: order.trackingNumber,
          status: 'PENDING',
          order_time: order.now,
          updated_at: order.now,
        })
        // MySQL has no RETURNING: the insert reports the id it generated.
        const id =
          dialect === 'mysql'
            ? Number((await insert.executeTakeFirstOrThrow()).insertId)
            : Number((await insert.returning('id').executeTakeFirstOrThrow()).id)
        await enqueueNotification(trx, { ...notification, orderId: id }, new Date(order.now))
        return id
      })
    },

    async findById(id: number): Promise<(OrderRow & { customer_phone: string }) | undefined> {
      const row = await columns(joined().where('orders.id', '=', id))
        .select('c.phone_number as customer_phone')
        .executeTakeFirst()
      return row as (OrderRow & { customer_phone: string }) | undefined
    },

    /**
     * Moves the order from `from` to `to` and writes its notification, in one transaction. The
     * update names the expected status, so of two concurrent changes only one applies; false
     * means the status was no longer `from`.
     */
    async changeStatus(
      id: number,
      from: OrderStatus,
      to: OrderStatus,
      now: string,
      notification: Omit<NewNotification, 'orderId'>,
    ): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('orders')
          .set({ status: to, updated_at: now })
          .where('id', '=', id)
          .where('status', '=', from)
          .executeTakeFirst()
        if (Number(updated.numUpdatedRows) !== 1) return false
        await enqueueNotification(trx, { ...notification, orderId: id }, new Date(now))
        return true
      })
    },

    /**
     * Applies the correction if the order is still PENDING; false when it no longer is. With
     * `createdText`, its "created" SMS not yet picked up by a worker (pending, never attempted)
     * is re-rendered in the same transaction: the customer gets the corrected text. One already
     * claimed or tried may have reached the phone, and stays as it was.
     */
    async correct(id: number, fields: OrderCorrection, now: string, createdText?: string): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('orders')
          .set({
            ...(fields.item !== undefined && { item: fields.item }),
            ...(fields.amountMinor !== undefined && { amount_minor: fields.amountMinor }),
            ...(fields.origin !== undefined && { origin_country: fields.origin }),
            ...(fields.destination !== undefined && { destination_country: fields.destination }),
            ...(fields.weightGrams !== undefined && { weight_grams: fields.weightGrams }),
            updated_at: now,
          })
          .where('id', '=', id)
          .where('status', '=', 'PENDING')
          .executeTakeFirst()
        if (Number(updated.numUpdatedRows) !== 1) return false
        if (createdText !== undefined) {
          await trx
            .updateTable('notifications')
            .set({ message: createdText, updated_at: now })
            .where('order_id', '=', id)
            .where('event', '=', 'created')
            .where('status', '=', 'pending')
            .where('attempts', '=', 0)
            .execute()
        }
        return true
      })
    },

    async list(filter: OrderFilter, request: PageRequest, ordering: OrderOrdering): Promise<Page<OrderRow>> {
      let query = joined()
      if (filter.from) query = query.where('orders.order_time', '>=', filter.from)
      if (filter.until) query = query.where('orders.order_time', '<=', filter.until)
      if (filter.status) query = query.where('orders.status', '=', filter.status)
      if (filter.customerCode) {
        // By id, from a subquery: the planner then reads orders_customer_order_time in list order
        // (through the join on c.code, PostgreSQL sorted the customer's orders instead).
        const code = filter.customerCode
        query = query.where('orders.customer_id', '=', (eb) =>
          eb.selectFrom('customers').select('customers.id').where('customers.code', '=', code),
        )
      }
      // Served by orders_customer_order_time, as the code filter.
      if (filter.customerId !== undefined) query = query.where('orders.customer_id', '=', filter.customerId)
      if (filter.trackingNumber) query = query.where('orders.tracking_number', '=', filter.trackingNumber)
      return page(query, request, ordering)
    },

    /**
     * Substring of the item (through its trigram index) or of the customer's name or code: two
     * indexed lookups, united, then one page of them. (Whole tracking numbers are looked up by
     * their own index by the service, before it comes here.)
     */
    async search(term: string, request: PageRequest, ordering: OrderOrdering): Promise<Page<OrderRow>> {
      const pattern = containsPattern(term)
      if (dialect === 'mysql') return page(joined().where(mysqlMatches(pattern)), request, ordering)
      const byItem = sqlite
        ? // FTS5's trigram index serves LIKE only without an ESCAPE clause: plain terms go that way.
          /[\\%_]/.test(term)
          ? sql`select rowid from orders_item_search where item like ${pattern} escape '\\'`
          : sql`select rowid from orders_item_search where item like ${`%${term}%`}`
        : // PostgreSQL's LIKE escapes with a backslash by default; pg_trgm serves it.
          sql`select id from orders where lower(item) like lower(${pattern})`
      const escaping = likeEscape(db)
      const byCustomer = sql`select id from orders where customer_id in (select id from customers where lower(name) like lower(${pattern}) ${escaping} or lower(code) like lower(${pattern}) ${escaping})`
      return page(
        joined().where(sql<boolean>`orders.id in (${byItem} union ${byCustomer})`),
        request,
        ordering,
      )
    },

    /** For tracking lookups: the order whose number has this sequence value. */
    async findByTrackingSequence(sequence: number) {
      return db
        .selectFrom('orders')
        .select(['id', 'tracking_number', 'order_time', 'status', 'updated_at'])
        .where('tracking_sequence', '=', sequence)
        .executeTakeFirst()
    },

    async hasOrders(customerId: number): Promise<boolean> {
      const row = await db
        .selectFrom('orders')
        .select('id')
        .where('customer_id', '=', customerId)
        .limit(1)
        .executeTakeFirst()
      return row !== undefined
    },
  }
}
export type OrderRepository = ReturnType<typeof createOrderRepository>
