import { createHash } from 'node:crypto'
import type { Customer } from '../customers/repository.js'
import { isForeignKeyViolation, isUniqueViolation } from '../db/errors.js'
import type { OrderStatus } from '../db/schema.js'
import { formatAmount, formatWeightKg, parseAmountMinor, parseWeightGrams } from '../formats.js'
import { AppError } from '../http/errors.js'
import { type Idempotency, idempotencyConflict } from '../http/idempotency.js'
import type { PageRequest } from '../http/pagination.js'
import { asciiUpper, checkTrackingNumber, type TrackingFormat } from '../tracking/codec.js'
import type { TrackingService } from '../tracking/service.js'
import type { OrderCorrection, OrderFilter, OrderRepository, OrderRow } from './repository.js'
import {
  CORRECTION_FIELDS,
  DEFAULT_ORDER_ORDERING,
  type OrderBody,
  type OrderListQuery,
  type OrderOrdering,
  type OrderPatch,
  type OrderReplace,
  type OrderReply,
} from './schemas.js'

/** Where each status may go next. */
export const TRANSITIONS: Record<OrderStatus, OrderStatus[]> = {
  PENDING: ['CONFIRMED', 'CANCELLED'],
  CONFIRMED: ['SHIPPED', 'CANCELLED'],
  SHIPPED: ['DELIVERED'],
  DELIVERED: [],
  CANCELLED: [],
}

export interface OrderServiceDeps {
  repository: OrderRepository
  findCustomerByCode: (code: string) => Promise<Customer | undefined>
  /** A stored Idempotency-Key (tracking/repository.ts: the table is the issuing routes' too). */
  findIdempotencyKey: (key: string) => Promise<{ request_hash: string; sequences: string } | undefined>
  tracking: Pick<TrackingService, 'allocate'>
  format: TrackingFormat
  /** Called after a commit that wrote a notification, so the SMS goes out at once. */
  notified?: () => void
  now?: () => Date
}

// At most this many UTF-16 code units of the item go into an SMS: the unit an SMS in UCS-2 (any
// text with a character outside GSM-7, such as an emoji) is counted in.
const SMS_ITEM_LENGTH = 60
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' })

function unknownCustomer(code: string): AppError {
  return new AppError('validation_failed', 'The request is invalid', {
    customer_code: [`no customer has the code ${code}`],
  })
}

/**
 * The item, or as many of its first whole characters (grapheme clusters: an emoji with its
 * modifiers, a letter with its accents) as fit with an ellipsis. Cutting inside one would send
 * half a surrogate pair (U+FFFD on the phone) or strip an accent off its letter.
 */
export function shortItem(item: string): string {
  if (item.length <= SMS_ITEM_LENGTH) return item
  let end = 0
  for (const { segment } of graphemes.segment(item)) {
    if (end + segment.length > SMS_ITEM_LENGTH - 1) break
    end += segment.length
  }
  return `${item.slice(0, end)}…`
}

export function smsText(event: 'created' | OrderStatus, item: string, trackingNumber: string): string {
  const what = shortItem(item)
  return event === 'created'
    ? `Your order "${what}" has been received (status PENDING). Tracking number: ${trackingNumber}`
    : `Your order "${what}" is now ${event}. Tracking number: ${trackingNumber}`
}

export function toReply(row: OrderRow): OrderReply {
  return {
    id: row.id,
    customer_code: row.customer_code,
    customer_name: row.customer_name,
    item: row.item,
    amount: formatAmount(Number(row.amount_minor)),
    origin_country_id: row.origin_country,
    destination_country_id: row.destination_country,
    weight: row.weight_grams === null ? null : formatWeightKg(Number(row.weight_grams)),
    tracking_number: row.tracking_number,
    status: row.status,
    order_time: row.order_time,
    updated_at: row.updated_at,
  }
}

/** A YYYY-MM-DD range, inclusive, as instants: [start 00:00Z, end 23:59:59.999Z]. */
function dateRange(
  query: Pick<OrderListQuery, 'start_date' | 'end_date'>,
): Pick<OrderFilter, 'from' | 'until'> {
  const range: Pick<OrderFilter, 'from' | 'until'> = {}
  if (query.start_date) range.from = `${query.start_date}T00:00:00.000Z`
  // The last millisecond of the day: timestamps are stored with milliseconds.
  if (query.end_date) range.until = `${query.end_date}T23:59:59.999Z`
  if (query.start_date && query.end_date && query.start_date > query.end_date) {
    throw new AppError('validation_failed', 'The request is invalid', {
      end_date: ['must not be before start_date'],
    })
  }
  return range
}

const invalid = (details: Record<string, string[]>) =>
  new AppError('validation_failed', 'The request is invalid', details)

function notPending(status: OrderStatus): AppError {
  return new AppError('conflict', `Only a PENDING order can be corrected; this one is ${status}`, {
    status: [`is ${status}: only a PENDING order can be corrected`],
  })
}

/**
 * What an order's Idempotency-Key covers: the order the body asks for, in stored units (amount
 * `"10.00"` and `10` are one request), under its own operation name.
 */
function requestHash(body: OrderBody): string {
  const request = [
    'create-order',
    body.customer_code,
    body.item,
    parseAmountMinor(body.amount),
    body.origin_country_id ?? null,
    body.destination_country_id ?? null,
    body.weight === undefined ? null : (parseWeightGrams(body.weight) ?? null),
  ]
  return createHash('sha256').update(JSON.stringify(request)).digest('hex')
}

/** A correction's fields in stored units; `clear` (PUT) sets a lane or weight left out to null. */
function correctionOf(body: OrderReplace | Omit<OrderPatch, 'status'>, clear: boolean): OrderCorrection {
  const absent = clear ? null : undefined
  const fields: OrderCorrection = {}
  if (body.item !== undefined) fields.item = body.item
  if (body.amount !== undefined) fields.amountMinor = parseAmountMinor(body.amount) as number
  // null (sent) clears as a PUT's field left out does.
  const origin = body.origin_country_id === undefined ? absent : body.origin_country_id
  const destination = body.destination_country_id === undefined ? absent : body.destination_country_id
  const weight = body.weight === undefined ? absent : (parseWeightGrams(body.weight) ?? null)
  if (origin !== undefined) fields.origin = origin
  if (destination !== undefined) fields.destination = destination
  if (weight !== undefined) fields.weightGrams = weight
  return fields
}

export function createOrderService(deps: OrderServiceDeps) {
  const { repository } = deps
  const now = deps.now ?? (() => new Date())

  async function get(id: number) {
    const order = await repository.findById(id)
    if (!order) throw new AppError('not_found', `No order with id ${id}`)
    return order
  }

  /** What an Idempotency-Key stored by an order's creation answers on a retry. */
  async function replay(stored: { request_hash: string; sequences: string }, hash: string) {
    if (stored.request_hash !== hash) throw idempotencyConflict()
    const order = await repository.findByTrackingSequence(Number(stored.sequences))
    if (!order) throw new Error("an order creation's Idempotency-Key names no order")
    return toReply(await get(order.id))
  }

  return {
    /**
     * Stores the order, its tracking number and its SMS in one transaction. With an
     * Idempotency-Key, a retry of the same request answers the order the first one made (as it is
     * now); the same key with another request, or one used on an issuing route, is a 409.
     */
    async create(body: OrderBody, idempotency?: Idempotency): Promise<OrderReply> {
      const keyed = idempotency && { key: idempotency.key, requestHash: requestHash(body) }
      if (keyed) {
        const stored = await deps.findIdempotencyKey(keyed.key)
        if (stored) return replay(stored, keyed.requestHash)
      }
      const customer = await deps.findCustomerByCode(body.customer_code)
      if (!customer) throw unknownCustomer(body.customer_code)
      const origin = body.origin_country_id ?? null
      const destination = body.destination_country_id ?? null
      if (deps.format === 'route' && (!origin || !destination)) {
        const missing = ['is required: tracking numbers carry the route (TRACKING_FORMAT=route)']
        throw new AppError('validation_failed', 'The request is invalid', {
          ...(origin ? {} : { origin_country_id: missing }),
          ...(destination ? {} : { destination_country_id: missing }),
        })
      }
      const tracking = await deps.tracking.allocate({ origin: origin ?? '', destination: destination ?? '' })
      let id: number
      try {
        id = await repository.create(
          {
            customerId: customer.id,
            item: body.item,
            amountMinor: parseAmountMinor(body.amount) as number, // the schema has checked it
            origin,
            destination,
            weightGrams: body.weight === undefined ? null : (parseWeightGrams(body.weight) ?? null),
            trackingSequence: tracking.sequence,
            trackingNumber: tracking.trackingNumber,
            now: now().toISOString(),
          },
          {
            event: 'created',
            recipient: customer.phone_number,
            message: smsText('created', body.item, tracking.trackingNumber),
          },
          keyed,
        )
      } catch (error) {
        // The customer was deleted between the lookup and the insert.
        if (isForeignKeyViolation(error)) throw unknownCustomer(body.customer_code)
        // Another request with this key committed first (its number unused here: a gap).
        if (keyed && isUniqueViolation(error)) {
          const winner = await deps.findIdempotencyKey(keyed.key)
          if (winner) return replay(winner, keyed.requestHash)
        }
        throw error
      }
      deps.notified?.()
      return toReply(await get(id))
    },

    async get(id: number): Promise<OrderReply> {
      return toReply(await get(id))
    },

    /** A legal transition, with its SMS; anything else is a 409 naming the allowed ones. */
    async changeStatus(id: number, to: OrderStatus): Promise<OrderReply> {
      const order = await get(id)
      const allowed = TRANSITIONS[order.status]
      if (!allowed.includes(to)) {
        const options = allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : `${order.status} is final`
        throw new AppError('conflict', `An order cannot go from ${order.status} to ${to} (${options})`, {
          status: [allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : `${order.status} is final`],
        })
      }
      const changed = await repository.changeStatus(id, order.status, to, now().toISOString(), {
        event: to,
        recipient: order.customer_phone,
        message: smsText(to, order.item, order.tracking_number),
      })
      if (!changed) {
        throw new AppError('conflict', 'The order changed at the same time; read it again and retry', {
          status: ['was changed by another request'],
        })
      }
      deps.notified?.()
      return toReply(await get(id))
    },

    /**
     * Corrects a PENDING order (PUT replaces, PATCH changes what it sends): no SMS, the customer
     * heard of the order already. Its customer and tracking number stay; on route-format numbers
     * the lane stays too, as the number carries it.
     */
    async correct(
      id: number,
      body: OrderReplace | OrderPatch,
      mode: 'replace' | 'patch',
    ): Promise<OrderReply> {
      // Only the fields a correction knows count: others are ignored, as on every body.
      const corrected = CORRECTION_FIELDS.filter((field) => body[field] !== undefined)
      // A PUT has no status: one in its body (a reply sent back) is ignored like any unknown field.
      if (mode === 'patch' && 'status' in body && body.status !== undefined) {
        if (corrected.length === 0) return this.changeStatus(id, body.status)
        throw invalid({ status: ['change the status on its own, not with a correction of the order'] })
      }
      if (mode === 'patch' && corrected.length === 0) {
        throw invalid({
          body: [`nothing to correct: send status, or any of ${CORRECTION_FIELDS.join(', ')}`],
        })
      }
      const order = await get(id)
      if (
        'customer_code' in body &&
        body.customer_code !== undefined &&
        body.customer_code !== order.customer_code
      )
        throw invalid({ customer_code: [`cannot be changed (the order is ${order.customer_code}'s)`] })
      if (order.status !== 'PENDING') throw notPending(order.status)
      const fields = correctionOf(body, mode === 'replace')
      if (deps.format === 'route') {
        const fixed = 'cannot be changed: the tracking number carries the route (TRACKING_FORMAT=route)'
        const details: Record<string, string[]> = {}
        if (fields.origin !== undefined && fields.origin !== order.origin_country)
          details.origin_country_id = [fixed]
        if (fields.destination !== undefined && fields.destination !== order.destination_country)
          details.destination_country_id = [fixed]
        if (Object.keys(details).length > 0) throw invalid(details)
      }
      // The queued "created" SMS names the item: it follows a corrected one.
      const createdText =
        fields.item === undefined ? undefined : smsText('created', fields.item, order.tracking_number)
      if (!(await repository.correct(id, fields, now().toISOString(), createdText))) {
        const current = await get(id)
        throw notPending(current.status)
      }
      return toReply(await get(id))
    },

    async list(query: OrderListQuery, page: PageRequest) {
      const filter: OrderFilter = { ...dateRange(query) }
      if (query.status) filter.status = query.status
      if (query.customer_code) filter.customerCode = query.customer_code
      if (query.customer_id !== undefined) filter.customerId = query.customer_id
      if (query.tracking_number) filter.trackingNumber = asciiUpper(query.tracking_number)
      // The validator has filled in the default; the types cannot know that.
      const ordering = query.ordering ?? DEFAULT_ORDER_ORDERING
      const { count, results } = await repository.list(filter, page, ordering)
      return { count, results: results.map(toReply) }
    },

    async search(q: string, page: PageRequest, ordering: OrderOrdering = DEFAULT_ORDER_ORDERING) {
      const term = q.trim()
      if (term === '')
        throw new AppError('validation_failed', 'The request is invalid', { q: ['must not be blank'] })
      // A whole tracking number (its check character right) is looked up by its index first: the
      // substring scan over a million items takes about a second (measured). About one text in 36
      // of that shape passes the check by chance (a customer code, a part number): when no order
      // has it as its tracking number, it is searched for as text like any other term.
      const number = asciiUpper(term)
      if (checkTrackingNumber(number).ok) {
        const found = await repository.list({ trackingNumber: number }, page, ordering)
        if (found.count > 0) return { count: found.count, results: found.results.map(toReply) }
      }
      const { count, results } = await repository.search(term, page, ordering)
      return { count, results: results.map(toReply) }
    },
  }
}
export type OrderService = ReturnType<typeof createOrderService>
