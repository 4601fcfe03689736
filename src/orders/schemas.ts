import { type Static, Type } from '@sinclair/typebox'
import {
  LIST_QUERY,
  type Ordering,
  OrderingQueryField,
  orderings,
  PageQueryFields,
  PageReply,
} from '../http/pagination.js'
import { amountSchema, weightKgOrNullSchema, weightKgSchema } from '../http/validation.js'

export const STATUSES = ['PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED'] as const
const Status = Type.Union(
  STATUSES.map((s) => Type.Literal(s)),
  { description: 'PENDING → CONFIRMED → SHIPPED → DELIVERED, or CANCELLED before shipping' },
)

const Country = (description: string, more = '') =>
  Type.String({
    format: 'country',
    description: `${description}: ISO 3166-1 alpha-2.${more ? ` ${more}` : ''}`,
    examples: ['KE'],
  })

const CustomerCode = Type.String({
  pattern: '^[A-Z0-9]{2,32}$',
  description: '2 to 32 uppercase letters and digits, e.g. CUST001',
  examples: ['CUST001'],
})

// Optional request fields are left out when unknown; null is refused (the reply shows none as null).
const LEAVE_OUT = 'Optional: leave it out when unknown (null is not accepted).'
const LANE = 'Required when tracking numbers carry the route (TRACKING_FORMAT=route).'

export const OrderBody = Type.Object({
  customer_code: CustomerCode,
  item: Type.String({
    format: 'trimmed-text',
    minLength: 1,
    maxLength: 200,
    description:
      'Not blank; no line breaks or control characters, no whitespace or invisible character at either end',
    examples: ['Laptop'],
  }),
  amount: Type.Unsafe<string | number>(amountSchema),
  origin_country_id: Type.Optional(Country('Origin country', `${LEAVE_OUT} ${LANE}`)),
  destination_country_id: Type.Optional(Country('Destination country', `${LEAVE_OUT} ${LANE}`)),
  weight: Type.Optional(
    Type.Unsafe<string | number>({
      ...weightKgSchema,
      description: `${weightKgSchema.description} ${LEAVE_OUT}`,
    }),
  ),
})
export type OrderBody = Static<typeof OrderBody>

const CORRECTION = 'Only while the order is PENDING (409 otherwise); no SMS is sent for a correction.'
// A correction takes null for a lane or weight (= clear it): an order reply sent back as it came
// (with its nulls) is a valid correction. One type list, as the customer's email: one message.
const CLEAR = 'null clears it.'
const NullableCountry = (description: string) =>
  Type.Unsafe<string | null>({
    ...Country(description),
    type: ['string', 'null'],
    description: `${description}: ISO 3166-1 alpha-2, or ${CLEAR} ${LANE}`,
  })
const correctable = {
  item: OrderBody.properties.item,
  amount: OrderBody.properties.amount,
  origin_country_id: Type.Optional(NullableCountry('Origin country')),
  destination_country_id: Type.Optional(NullableCountry('Destination country')),
  weight: Type.Optional(
    Type.Unsafe<string | number | null>({
      ...weightKgOrNullSchema,
      description: `${weightKgSchema.description} ${CLEAR}`,
    }),
  ),
}
/** The fields a correction changes: any other field of a body is ignored. */
export const CORRECTION_FIELDS = Object.keys(correctable) as Array<keyof typeof correctable>

/** PUT: the order's fields as they should be; lane and weight left out are cleared. */
export const OrderReplace = Type.Object(
  { ...correctable, customer_code: Type.Optional(CustomerCode) },
  { description: `${CORRECTION} customer_code, if sent, must be the order's own.` },
)
export type OrderReplace = Static<typeof OrderReplace>

/** PATCH: a status change (with its SMS), or a correction of the fields sent, not both at once. */
export const OrderPatch = Type.Object(
  {
    status: Type.Optional(Status),
    item: Type.Optional(correctable.item),
    amount: Type.Optional(correctable.amount),
    origin_country_id: correctable.origin_country_id,
    destination_country_id: correctable.destination_country_id,
    weight: correctable.weight,
  },
  {
    minProperties: 1,
    description: `Either {status} (the customer gets an SMS), or corrections of item, amount, origin_country_id, destination_country_id, weight. ${CORRECTION}`,
  },
)
export type OrderPatch = Static<typeof OrderPatch>

export const OrderParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })
export type OrderParams = Static<typeof OrderParams>

const CalendarDate = (description: string) =>
  Type.String({ format: 'calendar-date', description, examples: ['2026-11-22'] })

/**
 * What a list of orders sorts by. `status` sorts in lifecycle order (the order of STATUSES:
 * PENDING, CONFIRMED, SHIPPED, DELIVERED, then CANCELLED); `item` and `customer_name` without
 * regard to case.
 */
export const ORDER_SORT_FIELDS = [
  'order_time',
  'amount',
  'status',
  'customer_code',
  'customer_name',
  'item',
  'tracking_number',
] as const
export type OrderSortField = (typeof ORDER_SORT_FIELDS)[number]
export type OrderOrdering = Ordering<OrderSortField>
export const ORDER_ORDERINGS = orderings(ORDER_SORT_FIELDS)
export const DEFAULT_ORDER_ORDERING: OrderOrdering = '-order_time'
const OrderOrderingField = OrderingQueryField(ORDER_SORT_FIELDS, DEFAULT_ORDER_ORDERING)

export const OrderListQuery = Type.Object(
  {
    start_date: Type.Optional(CalendarDate('Orders placed on or after this day (UTC), YYYY-MM-DD')),
    end_date: Type.Optional(CalendarDate('Orders placed on or before this day (UTC), YYYY-MM-DD')),
    status: Type.Optional(Status),
    customer_code: Type.Optional(CustomerCode),
    // The name other order APIs use for this filter: the customer's id (GET /api/customers/ shows it).
    customer_id: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2_147_483_647,
        description: "The customer's id: only their orders",
      }),
    ),
    tracking_number: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9]{1,64}$',
        description: 'Letters and digits: the tracking number of the order to find, in either case',
      }),
    ),
    ordering: OrderOrderingField,
    ...PageQueryFields,
  },
  LIST_QUERY,
)
export type OrderListQuery = Static<typeof OrderListQuery>

export const OrderSearchQuery = Type.Object(
  {
    q: Type.String({
      format: 'plain-text',
      minLength: 1,
      maxLength: 200,
      description: 'Case-insensitive: in the item, the customer name or code, or a whole tracking number',
    }),
    ordering: OrderOrderingField,
    ...PageQueryFields,
  },
  LIST_QUERY,
)
export type OrderSearchQuery = Static<typeof OrderSearchQuery>

export const OrderReply = Type.Object({
  id: Type.Integer(),
  customer_code: Type.String(),
  customer_name: Type.String(),
  item: Type.String(),
  amount: Type.String({ description: 'Two decimals, exactly as stored', examples: ['1250.50'] }),
  // Always present; null when the order was created without it.
  origin_country_id: Type.Union([Type.String({ examples: ['KE'] }), Type.Null()], {
    description: 'ISO 3166-1 alpha-2; null when the order was created without an origin',
  }),
  destination_country_id: Type.Union([Type.String({ examples: ['UG'] }), Type.Null()], {
    description: 'ISO 3166-1 alpha-2; null when the order was created without a destination',
  }),
  weight: Type.Union([Type.String({ examples: ['2.500'] }), Type.Null()], {
    description: 'Kilograms, three decimals; null when the order was created without a weight',
  }),
  tracking_number: Type.String(),
  status: Status,
  order_time: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})
export type OrderReply = Static<typeof OrderReply>

export const OrderListReply = PageReply(OrderReply)

export const NotificationReply = Type.Object({
  id: Type.Integer(),
  event: Type.String(),
  recipient: Type.String(),
  status: Type.Union(['pending', 'sending', 'sent', 'failed'].map((s) => Type.Literal(s))),
  attempts: Type.Integer(),
  last_error: Type.Union([Type.String(), Type.Null()]),
  message_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
  sent_at: Type.Union([Type.String(), Type.Null()]),
})
export const NotificationListReply = Type.Object({ results: Type.Array(NotificationReply) })
