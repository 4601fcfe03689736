import { type Static, Type } from '@sinclair/typebox'
import {
  LIST_QUERY,
  type Ordering,
  OrderingQueryField,
  orderings,
  PageQueryFields,
  PageReply,
} from '../http/pagination.js'

const Name = Type.String({
  format: 'trimmed-text',
  minLength: 1,
  maxLength: 200,
  description:
    'Not blank; no line breaks or control characters, no whitespace or invisible character at either end',
  examples: ['RedBox Logistics'],
})

// Only uppercase is accepted, not folded: a code is an identifier that people copy onto labels
// and into other systems, so the stored spelling is always the one that was sent.
const Code = Type.String({
  pattern: '^[A-Z0-9]{2,32}$',
  description: '2 to 32 uppercase letters and digits, unique',
  examples: ['CUST001'],
})

// Checked with the other fields (libphonenumber-js, see validation.ts), so a bad number is reported
// beside every other field's error; the service turns it into E.164. Uniqueness needs the database:
// the service checks that.
const PhoneNumber = Type.String({
  format: 'phone-number',
  minLength: 1,
  maxLength: 40,
  description:
    'International format starting with +; spaces, hyphens, dots and parentheses are allowed and dropped, as is whitespace around it. Stored and returned as E.164. Unique.',
  examples: ['+254722000000'],
})

// One JSON Schema type list rather than a union: a bad address gets one message, not three.
const Email = Type.Unsafe<string | null>({
  type: ['string', 'null'],
  format: 'email',
  maxLength: 254,
  description: 'Optional; null for none',
  examples: ['ops@redbox.example'],
})

export const CustomerBody = Type.Object({
  name: Name,
  code: Code,
  phone_number: PhoneNumber,
  email: Type.Optional(Email),
})
/** A whole customer: POST, and PUT (where a missing email means none). */
export type CustomerBody = Static<typeof CustomerBody>

export const CustomerPatch = Type.Partial(CustomerBody)
/** The fields to change; those not given stay as they are. */
export type CustomerPatch = Static<typeof CustomerPatch>

export const CustomerParams = Type.Object({
  // Bounded to PostgreSQL's integer: a larger id would be a database error, not a 404.
  id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
})
export type CustomerParams = Static<typeof CustomerParams>

/** What a list of customers sorts by; names without regard to case. */
export const CUSTOMER_SORT_FIELDS = ['name', 'code', 'created_at', 'id'] as const
export type CustomerSortField = (typeof CUSTOMER_SORT_FIELDS)[number]
export type CustomerOrdering = Ordering<CustomerSortField>
export const CUSTOMER_ORDERINGS = orderings(CUSTOMER_SORT_FIELDS)
export const DEFAULT_CUSTOMER_ORDERING: CustomerOrdering = 'id'

export const CustomerListQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({
        format: 'plain-text',
        maxLength: 200,
        description:
          'Case-insensitive search in name and code; a phone-like term (digits, +, spaces, -, parentheses) also searches phone numbers by their digits',
      }),
    ),
    ordering: OrderingQueryField(CUSTOMER_SORT_FIELDS, DEFAULT_CUSTOMER_ORDERING),
    ...PageQueryFields,
  },
  LIST_QUERY,
)
export type CustomerListQuery = Static<typeof CustomerListQuery>

export const CustomerReply = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  code: Type.String(),
  phone_number: Type.String({ description: 'E.164' }),
  email: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})
export type CustomerReply = Static<typeof CustomerReply>

export const CustomerListReply = PageReply(CustomerReply)
