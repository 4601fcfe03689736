import { type Static, Type } from '@sinclair/typebox'
import { weightKgSchema } from '../http/validation.js'
import { ISSUE_FIELDS, type IssueField } from './fields.js'

const Country = (description: string) =>
  Type.String({ format: 'country', description: `${description}: ISO 3166-1 alpha-2`, examples: ['MY'] })

export const IssueFields = {
  origin_country_id: Country('Origin country'),
  destination_country_id: Country('Destination country'),
  weight: Type.Unsafe<string | number>(weightKgSchema),
  created_at: Type.String({
    format: 'rfc3339',
    description: 'When the order was created, RFC 3339 with offset',
    examples: ['2018-11-20T19:29:32+08:00'],
  }),
  customer_id: Type.String({ format: 'canonical-uuid', description: 'Customer UUID' }),
  customer_name: Type.String({
    format: 'trimmed-text',
    minLength: 1,
    maxLength: 200,
    description:
      'Not blank; no line breaks or control characters, no whitespace or invisible character at either end',
    examples: ['RedBox Logistics'],
  }),
  customer_slug: Type.String({ format: 'slug', maxLength: 200, examples: ['redbox-logistics'] }),
}

const NOT_REQUIRED =
  'Optional here (TRACKING_REQUIRED_FIELDS): left out, it is stored as absent and returned as null.'

/** The issue fields with only `required` required: all of them (the default) is exactly IssueFields. */
export function issueFields(required: readonly IssueField[]) {
  const fields: Record<string, ReturnType<typeof Type.Optional> | (typeof IssueFields)[IssueField]> = {}
  for (const name of ISSUE_FIELDS) {
    const field = IssueFields[name]
    fields[name] = required.includes(name)
      ? field
      : Type.Optional({ ...field, description: `${field.description ?? ''} ${NOT_REQUIRED}`.trim() })
  }
  return fields as typeof IssueFields
}

export const IssueQuery = Type.Object(IssueFields)
/** Every field as optional in the type: which are required is a setting. */
export type IssueQuery = Partial<Static<typeof IssueQuery>>

const Count = Type.Integer({
  minimum: 1,
  maximum: 1000,
  description: 'How many numbers to issue (1 to 1000)',
})
export const BatchBody = Type.Object({ ...IssueFields, count: Count })
export type BatchBody = IssueQuery & { count: number }

/**
 * The issuing route's query. While every field is required a misspelt one is refused as missing,
 * and other parameters (cache busters, a carrier's own) pass. Once any field is optional, a
 * misspelt one would be stored as absent: then a parameter the route does not know is a 400.
 */
export function issueQuery(required: readonly IssueField[]) {
  const strict = required.length < Object.keys(IssueFields).length
  return Type.Object(issueFields(required), strict ? { additionalProperties: false } : {})
}

/** The older clients' body: any subset of the fields; unknown fields are ignored, as on every body. */
export function generateBody(required: readonly IssueField[]) {
  return Type.Object(issueFields(required))
}

export function batchBody(required: readonly IssueField[]) {
  return Type.Object({ ...issueFields(required), count: Count })
}

export const TrackingNumberParams = Type.Object({
  tracking_number: Type.String({ maxLength: 64, description: '16 characters, the last a check character' }),
})
export type TrackingNumberParams = Static<typeof TrackingNumberParams>

const TrackingNumber = Type.String({ pattern: '^[A-Z0-9]{16}$', examples: ['2B95UEQ5I51PT1SP'] })
const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' })

// `nullable` (OpenAPI 3.0), not a union: fast-json-stringify serializes it with one null check,
// where a union would run a validator per field on every issue reply.
const Nullable = (options: { description?: string; examples?: string[] } = {}) =>
  Type.Unsafe<string | null>({
    type: 'string',
    nullable: true,
    ...options,
    description: `${options.description ? `${options.description}; ` : ''}null when the request did not send it`,
  })

export const RequestMetadata = Type.Object({
  origin_country: Nullable(),
  destination_country: Nullable(),
  weight_kg: Nullable({ description: 'Kilograms with exactly three decimals', examples: ['1.234'] }),
  customer_id: Nullable(),
  customer_name: Nullable(),
  customer_slug: Nullable(),
  order_created_at: Nullable({ description: 'As sent in created_at' }),
})
export type RequestMetadata = Static<typeof RequestMetadata>

export const NextTrackingNumberReply = Type.Object({
  tracking_number: TrackingNumber,
  created_at: Timestamp,
  correlation_id: Type.String(),
  request_metadata: RequestMetadata,
})
export type NextTrackingNumberReply = Static<typeof NextTrackingNumberReply>

/**
 * The reply's fields that cannot hold a character JSON escapes, whatever a client sends: the
 * number (the codec's alphabet), the issue time (toISOString), the request id (SAFE_REQUEST_ID's
 * characters, or a UUID), and what the query's formats admit only in plain ASCII letters, digits
 * and `-+:.`: codes, the weight (as formatWeightKg writes it), UUIDs, slugs, RFC 3339 times. The
 * customer's name is free text and is not among them.
 */
export const ESCAPE_FREE = {
  reply: ['tracking_number', 'created_at', 'correlation_id'],
  metadata: [
    'origin_country',
    'destination_country',
    'weight_kg',
    'customer_id',
    'customer_slug',
    'order_created_at',
  ],
} as const satisfies {
  reply: readonly (keyof NextTrackingNumberReply)[]
  metadata: readonly (keyof RequestMetadata)[]
}

function unescaped<T extends Record<string, unknown>>(properties: T, names: readonly string[]): T {
  const marked: Record<string, unknown> = { ...properties }
  for (const name of names) marked[name] = { ...(properties[name] as object), format: 'unsafe' }
  return marked as T
}

/**
 * What the fast path (src/tracking/fast-route.ts) serializes its reply with: NextTrackingNumberReply,
 * with ESCAPE_FREE's fields in fast-json-stringify's `unsafe` format, written between quotes as they
 * are. Its escaping reads a string a character at a time (charCodeAt, about 6 ns each, and a
 * number or a request id made by concatenation is flattened first): about half of the reply's
 * serialization, for characters that cannot be there. The same bytes (test/tracking/fast-route.test.ts);
 * never a documented schema.
 */
export const NextTrackingNumberWire = {
  ...NextTrackingNumberReply,
  properties: unescaped(
    {
      ...NextTrackingNumberReply.properties,
      request_metadata: {
        ...RequestMetadata,
        properties: unescaped(RequestMetadata.properties, ESCAPE_FREE.metadata),
      },
    },
    ESCAPE_FREE.reply,
  ),
}

export const GenerateReply = Type.Object({
  id: Type.Integer({ description: 'Internal record id' }),
  uuid: Type.String({ format: 'uuid' }),
  tracking_number: TrackingNumber,
  created_at: Timestamp,
})

export const BatchReply = Type.Object({
  tracking_numbers: Type.Array(TrackingNumber),
  created_at: Timestamp,
  correlation_id: Type.String(),
  request_metadata: RequestMetadata,
})

export const TrackingRecordReply = Type.Object({
  id: Type.Integer(),
  uuid: Type.Optional(Type.String({ format: 'uuid', description: 'Numbers issued through this API' })),
  tracking_number: TrackingNumber,
  created_at: Timestamp,
  request_metadata: Type.Optional(RequestMetadata),
  order: Type.Optional(
    Type.Object(
      {
        status: Type.String({ examples: ['SHIPPED'] }),
        updated_at: Timestamp,
      },
      { description: "Numbers given to an order (/api/orders/): the order's progress" },
    ),
  ),
})
