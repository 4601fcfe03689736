import { type ExpressionBuilder, type SelectQueryBuilder, sql } from 'kysely'
import type { Database, Tables } from '../db/index.js'
import type { OrderStatus } from '../db/schema.js'
import { enqueueNotification, type NewNotification } from '../notifications/outbox.js'
import type { Page, PageRequest } from '../pagination.js'

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

export interface OrderFilter {
  /** ISO instants: order_time >= from and <= until. */
  from?: string
  until?: string
  status?: OrderStatus
  customerCode?: string
  trackingNumber?: string
}

type Joined = SelectQueryBuilder<Tables & { c: Tables['customers'] }, 'orders' | 'c', object>

function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export function createOrderRepository(db: Database) {
  const joined = () =>
    db.selectFrom('orders').innerJoin('customers as c', 'c.id', 'orders.customer_id') as Joined

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

  /** One page, newest first; `id` breaks ties so that a row never moves between pages. */
  async function page(query: Joined, request: PageRequest): Promise<Page<OrderRow>> {
    const total = await query.select((eb) => eb.fn.countAll<number | string>().as('count')).executeTakeFirst()
    const results = await columns(query)
      .orderBy('orders.order_time', 'desc')
      .orderBy('orders.id', 'desc')
      .limit(request.pageSize)
      .offset(request.offset)
      .execute()
    return { count: Number(total?.count ?? 0), results: results as OrderRow[] }
  }

  return {
    /** The order and its notification, in one transaction: both are stored, or neither. */
    async create(order: NewOrder, notification: Omit<NewNotification, 'orderId'>): Promise<number> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('orders')
          .values({
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
          .returning('id')
          .executeTakeFirstOrThrow()
        const id = Number(row.id)
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

    async list(filter: OrderFilter, request: PageRequest): Promise<Page<OrderRow>> {
      let query = joined()
      if (filter.from) query = query.where('orders.order_time', '>=', filter.from)
      if (filter.until) query = query.where('orders.order_time', '<=', filter.until)
      if (filter.status) query = query.where('orders.status', '=', filter.status)
      if (filter.customerCode) query = query.where('c.code', '=', filter.customerCode)
      if (filter.trackingNumber) query = query.where('orders.tracking_number', '=', filter.trackingNumber)
      return page(query, request)
    },

    /** Substring of the item or customer name or code, or a whole tracking number. */
    async search(term: string, request: PageRequest): Promise<Page<OrderRow>> {
      const pattern = likePattern(term)
      const matches = (eb: ExpressionBuilder<Tables & { c: Tables['customers'] }, 'orders' | 'c'>) =>
        eb.or([
          sql<boolean>`lower(orders.item) like lower(${pattern}) escape '\\'`,
          sql<boolean>`lower(c.name) like lower(${pattern}) escape '\\'`,
          sql<boolean>`lower(c.code) like lower(${pattern}) escape '\\'`,
          eb(
            'orders.tracking_number',
            '=',
            term.replace(/[a-z]/g, (letter) => letter.toUpperCase()),
          ),
        ])
      return page(joined().where(matches), request)
    },

    /** For tracking lookups: the order whose number has this sequence value. */
    async findByTrackingSequence(sequence: number) {
      return db
        .selectFrom('orders')
        .select(['tracking_number', 'order_time', 'status', 'updated_at'])
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
