import { Ajv, type Options, type ValidateFunction } from 'ajv'
import ajvFormats from 'ajv-formats'
import type { FastifySchemaValidationError } from 'fastify'
import type { SchemaErrorDataVar } from 'fastify/types/schema.js'
import { isCountryCode } from '../countries.js'
import {
  isCalendarDate,
  isPlainText,
  isRfc3339,
  isTrimmedText,
  PHONE_MESSAGE,
  parseAmountMinor,
  parseWeightGrams,
  SLUG,
  textProblem,
  toE164,
  UUID,
} from '../formats.js'

// Custom checks plugged into Fastify's ajv, so that every rule runs at the edge, all errors at once.

interface Format {
  validate: (value: string) => boolean
  message: string | ((value: unknown) => string)
}

const RFC3339_MESSAGE =
  'must be an RFC 3339 timestamp with a time zone offset, e.g. 2018-11-20T19:29:32+08:00'

const FORMATS: Record<string, Format> = {
  country: {
    validate: isCountryCode,
    message: 'must be an assigned ISO 3166-1 alpha-2 country code in uppercase, e.g. MY',
  },
  rfc3339: {
    validate: isRfc3339,
    // `curl -G -d created_at=…+08:00` sends the + unencoded, and a query string reads it as a space.
    message: (value) =>
      typeof value === 'string' && / \d{2}:?\d{2}$/.test(value)
        ? `${RFC3339_MESSAGE}; in a query string send the + of the offset as %2B (an unencoded + reads as a space)`
        : RFC3339_MESSAGE,
  },
  slug: {
    validate: (value) => SLUG.test(value),
    message: 'must be kebab-case: lowercase letters and digits separated by single hyphens',
  },
  // Search terms and the like: whitespace around them is fine (they are trimmed).
  'plain-text': { validate: isPlainText, message: (value) => textProblem(value, false) },
  // Names and items, stored as sent: blank or padded with whitespace is refused, not trimmed.
  'trimmed-text': { validate: isTrimmedText, message: (value) => textProblem(value, true) },
  'phone-number': { validate: (value) => toE164(value) !== undefined, message: PHONE_MESSAGE },
  'canonical-uuid': { validate: (value) => UUID.test(value), message: 'must be a UUID' },
  'calendar-date': {
    validate: isCalendarDate,
    message: 'must be a date in the format YYYY-MM-DD, e.g. 2026-11-22',
  },
}
const AMOUNT_KEYWORD = 'x-amount'
const AMOUNT_MESSAGE = 'must be an amount of 0 or more with at most 2 decimal places, e.g. 1250.50'
const WEIGHT_KEYWORD = 'x-weight-kg'
// A correction's weight: null clears it. Its own keyword, so a bad weight still gets one message.
const WEIGHT_OR_NULL_KEYWORD = 'x-weight-kg-or-null'
const WEIGHT_MESSAGE =
  'must be a weight in kilograms greater than 0 and below 1000000, with at most 3 decimal places, e.g. 1.234'

function addValidationRules(ajv: Ajv): Ajv {
  ajvFormats.default(ajv) // CommonJS interop: the plugin is the module's `default` under NodeNext
  for (const [name, format] of Object.entries(FORMATS)) ajv.addFormat(name, format.validate)
  ajv.addKeyword({
    keyword: WEIGHT_KEYWORD,
    schemaType: 'boolean',
    errors: false,
    validate: (_schema: boolean, data: unknown) => parseWeightGrams(data) !== undefined,
  })
  ajv.addKeyword({
    keyword: WEIGHT_OR_NULL_KEYWORD,
    schemaType: 'boolean',
    errors: false,
    validate: (_schema: boolean, data: unknown) => data === null || parseWeightGrams(data) !== undefined,
  })
  ajv.addKeyword({
    keyword: AMOUNT_KEYWORD,
    schemaType: 'boolean',
    errors: false,
    validate: (_schema: boolean, data: unknown) => parseAmountMinor(data) !== undefined,
  })
  return ajv
}

const AJV_OPTIONS: Options = {
  allErrors: true, // every field's errors at once; patterns are anchored and lengths bounded
  removeAdditional: true,
  useDefaults: true,
  addUsedSchema: false,
  verbose: true, // errors carry their schema: messages can use a field's description
}

/**
 * Fastify's validator compiler: query strings, params and headers arrive as text and are coerced
 * ("2" → 2); JSON bodies are taken as typed, so ["a"] is not silently accepted as "a".
 */
export function createValidatorCompiler() {
  const coercing = addValidationRules(new Ajv({ ...AJV_OPTIONS, coerceTypes: 'array' }))
  const strict = addValidationRules(new Ajv({ ...AJV_OPTIONS, coerceTypes: false }))
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => {
    const compiled = withoutDocumentedForms(schema) as object
    if (httpPart === 'body') return strict.compile(compiled)
    const checks = [
      ...(httpPart === 'querystring' ? [malformedText, ...unknownParameterChecks(compiled)] : []),
      ...decimalIntegerChecks(integerProperties(compiled)),
    ]
    return withEdgeChecks(coercing.compile(compiled), checks)
  }
}

/** On a parsed query string (src/http/edges.ts): the keys whose text was not valid percent-encoded UTF-8. */
export const MALFORMED_QUERY_KEYS = Symbol('malformed query keys')

/** A field refused before ajv sees it, as an ajv error would say it. */
interface FieldProblem {
  name: string
  keyword: string
  params: Record<string, unknown>
  message: string
}
type EdgeCheck = (data: Record<string | symbol, unknown>) => readonly FieldProblem[]
// What a check finds nearly always: nothing, without an allocation per request (the issue route).
const NONE: readonly FieldProblem[] = Object.freeze([])

/** Keys parseQueryString could not decode: refused, not validated as sent. */
const malformedText: EdgeCheck = (data) => {
  const keys = data?.[MALFORMED_QUERY_KEYS] as string[] | undefined
  if (!keys) return NONE
  return keys.map((name) => ({
    name,
    keyword: 'x-encoding',
    params: {},
    message: 'must be valid percent-encoded UTF-8',
  }))
}

/**
 * A query schema with `additionalProperties: false` (the lists and searches) refuses a parameter
 * it does not know, naming it: a misspelt filter must never answer the unfiltered list. (ajv
 * itself would only drop it, with removeAdditional.) Schemas without it take any extra parameter.
 */
function unknownParameterChecks(schema: object): EdgeCheck[] {
  const { additionalProperties, properties = {} } = schema as {
    additionalProperties?: unknown
    properties?: Record<string, unknown>
  }
  if (additionalProperties !== false) return []
  const known = new Set(Object.keys(properties))
  const takes = known.size > 0 ? `this route takes ${[...known].join(', ')}` : 'this route takes none'
  const message = `is not a known parameter: ${takes}`
  return [
    (data) => {
      let found: FieldProblem[] | undefined
      // The parsed query has no prototype (parseQueryString): for…in sees only what was sent.
      for (const name in data) {
        if (known.has(name)) continue
        found ??= []
        found.push({ name, keyword: 'additionalProperties', params: { additionalProperty: name }, message })
      }
      return found ?? NONE
    },
  ]
}

const DECIMAL_INTEGER = /^-?\d+$/

/** The integer-typed top-level properties of a query or params schema. */
function integerProperties(schema: object): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {}
  return Object.keys(properties).filter((name) => properties[name]?.type === 'integer')
}

/**
 * ajv's coercion reads any string JavaScript's `+` reads: `?page=1e2` as 100, `0x10` as 16, a
 * space as 0. A query or path integer must be written in decimal digits; the rest is ajv's.
 * Routes without integer parameters (the issue route) get no such check.
 */
function decimalIntegerChecks(integers: string[]): EdgeCheck[] {
  if (integers.length === 0) return []
  return [
    (data) =>
      integers
        .filter((name) => {
          const value = data?.[name]
          return typeof value === 'string' && !DECIMAL_INTEGER.test(value)
        })
        .map((name) => ({
          name,
          keyword: 'type',
          params: { type: 'integer' },
          message: 'must be a whole number in decimal digits',
        })),
  ]
}

/**
 * ajv's validator with checks run first, on the data as it arrived (ajv coerces it in place). A
 * field a check refuses gets that problem instead of ajv's; every other field's errors are
 * reported with it, all at once. Without checks, ajv's validator as it is.
 */
function withEdgeChecks(validate: ValidateFunction, checks: EdgeCheck[]): ValidateFunction {
  if (checks.length === 0) return validate
  const checked = ((data: Record<string | symbol, unknown>) => {
    let problems = NONE
    for (const check of checks) {
      const found = check(data)
      if (found.length > 0) problems = problems.length === 0 ? found : [...problems, ...found]
    }
    const valid = validate(data)
    checked.errors = validate.errors
    if (problems.length === 0) return valid
    const about = (name: string, error: { instancePath: string; params: unknown }) =>
      error.instancePath === `/${name}` ||
      (error.params as { missingProperty?: string }).missingProperty === name
    checked.errors = [
      ...problems.map(({ name, keyword, params, message }) => ({
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}`,
        keyword,
        params,
        message,
      })),
      ...(validate.errors ?? []).filter((error) => !problems.some(({ name }) => about(name, error))),
    ]
    return false
  }) as ValidateFunction
  return checked
}

const DECIMAL_KEYWORDS = [WEIGHT_KEYWORD, WEIGHT_OR_NULL_KEYWORD, AMOUNT_KEYWORD]

/**
 * The schema as ajv compiles it (once per route, at start-up): without the `anyOf` beside a
 * decimal keyword. That `anyOf` tells OpenAPI readers which forms the keyword accepts; the
 * keyword's parser is the rule. Evaluating both would cost a regular expression per request on
 * the issue route and report every bad weight three times.
 */
function withoutDocumentedForms(schema: unknown): unknown {
  if (Array.isArray(schema)) {
    const items = schema.map(withoutDocumentedForms)
    return items.some((item, i) => item !== schema[i]) ? items : schema
  }
  if (typeof schema !== 'object' || schema === null) return schema
  const original = schema as Record<string, unknown>
  let copy: Record<string, unknown> | undefined
  for (const [key, value] of Object.entries(original)) {
    const stripped = withoutDocumentedForms(value)
    if (stripped !== value) {
      copy ??= { ...original }
      copy[key] = stripped
    }
  }
  if ('anyOf' in original && DECIMAL_KEYWORDS.some((keyword) => original[keyword] === true)) {
    copy ??= { ...original }
    delete copy.anyOf
  }
  return copy ?? original
}

// The string forms the decimal keywords accept, as regular expressions for OpenAPI readers (and
// for test/http/validation.test.ts, which checks them against the parsers). Not used to validate.
export const WEIGHT_KG_PATTERN =
  '^(?:[1-9][0-9]{0,5}(?:\\.[0-9]{1,3})?|0\\.(?:[1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$'
export const AMOUNT_PATTERN = '^(?:0|[1-9][0-9]{0,11})(?:\\.[0-9]{1,2})?$'

/** Schema fragment for a weight in kilograms (string "1.234" or number 1.234). */
export const weightKgSchema = {
  [WEIGHT_KEYWORD]: true,
  anyOf: [
    { type: 'string', pattern: WEIGHT_KG_PATTERN },
    { type: 'number', minimum: 0.001, maximum: 999_999.999, multipleOf: 0.001 },
  ],
  description:
    'Kilograms, greater than 0 and below 1000000, at most 3 decimal places; kept exactly. A decimal string or a JSON number.',
  examples: ['1.234'],
} as const

/** A weight, or null (a correction clearing it). */
export const weightKgOrNullSchema = {
  [WEIGHT_OR_NULL_KEYWORD]: true,
  anyOf: [...weightKgSchema.anyOf, { type: 'null' }],
  description: weightKgSchema.description,
  examples: weightKgSchema.examples,
} as const

/** Schema fragment for a money amount (string "1250.50" or number 1250.5). */
export const amountSchema = {
  [AMOUNT_KEYWORD]: true,
  anyOf: [
    { type: 'string', pattern: AMOUNT_PATTERN },
    { type: 'number', minimum: 0, maximum: 999_999_999_999.99, multipleOf: 0.01 },
  ],
  description:
    'A decimal amount, 0 or more and below 10^12, at most 2 decimal places; kept exactly and returned as a string. A decimal string or a JSON number.',
  examples: ['1250.50'],
} as const

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}

// ajv-formats' formats the schemas use, in words (ajv says `must match format "email"`).
const OTHER_FORMATS: Record<string, string> = {
  email: 'must be an email address, e.g. ops@example.com',
  uuid: 'must be a UUID',
  'date-time': 'must be an RFC 3339 timestamp, e.g. 2026-11-22T10:00:00Z',
  date: 'must be a date in the format YYYY-MM-DD',
  uri: 'must be an absolute URL',
}

function messageFor(error: FastifySchemaValidationError, context: SchemaErrorDataVar | undefined): string {
  if (error.keyword === 'required') return 'is required'
  const { data } = error as { data?: unknown } // with `verbose`; Fastify's error type omits it
  // A query key given twice (`?weight=1&weight=2`) arrives as an array (no query field takes one).
  if (context === 'querystring' && Array.isArray(data) && error.instancePath !== '')
    return `must be given once, not ${data.length} times`
  if (error.keyword === WEIGHT_KEYWORD) return WEIGHT_MESSAGE
  if (error.keyword === WEIGHT_OR_NULL_KEYWORD) return `${WEIGHT_MESSAGE}, or null`
  if (error.keyword === AMOUNT_KEYWORD) return AMOUNT_MESSAGE
  if (error.keyword === 'format') {
    const format = (error.params as { format?: string }).format
    const message = format ? FORMATS[format]?.message : undefined
    // ajv's errors carry the value with `verbose`; Fastify's error type omits it.
    if (typeof message === 'function') return message((error as { data?: unknown }).data)
    if (message) return message
  }
  // A regular expression means nothing to a person; the field's description says it in words.
  // ajv's errors carry parentSchema with `verbose`; Fastify's error type omits it.
  const description = (error as { parentSchema?: { description?: unknown } }).parentSchema?.description
  if (error.keyword === 'pattern' && typeof description === 'string')
    return `must be ${lowerFirst(description)}`
  const { limit } = error.params as { limit?: number }
  switch (error.keyword) {
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `must be at least ${limit} characters`
    case 'maxLength':
      return `must be at most ${limit} characters`
    case 'minimum':
      return `must be at least ${limit}`
    case 'maximum':
      return `must be at most ${limit}`
    case 'exclusiveMinimum':
      return `must be greater than ${limit}`
    case 'exclusiveMaximum':
      return `must be less than ${limit}`
    case 'format':
      return (
        OTHER_FORMATS[(error.params as { format?: string }).format ?? ''] ?? 'is not in the expected format'
      )
  }
  return error.message ?? 'is invalid'
}

function fieldOf(error: FastifySchemaValidationError, context: SchemaErrorDataVar | undefined): string {
  const path = error.instancePath.split('/').filter(Boolean)
  const missing = (error.params as { missingProperty?: string }).missingProperty
  if (error.keyword === 'required' && missing) path.push(missing)
  return path.length > 0 ? path.join('.') : (context ?? 'request')
}

/** ajv errors → `{field: [messages]}`, every field at once, each message once. */
export function validationDetails(
  errors: FastifySchemaValidationError[],
  context: SchemaErrorDataVar | undefined,
): Record<string, string[]> {
  // A union of literals (TypeBox's Union of Literal, e.g. a status) fails once per branch with
  // "must be equal to constant" and names no value: say instead which values are allowed.
  const allowed = new Map<string, unknown[]>()
  for (const error of errors) {
    if (error.keyword !== 'const' || !error.schemaPath.includes('/anyOf/')) continue
    const field = fieldOf(error, context)
    allowed.set(field, [
      ...(allowed.get(field) ?? []),
      (error.params as { allowedValue?: unknown }).allowedValue,
    ])
  }
  // Field names come from the client (query keys): `__proto__` or `constructor` must be plain keys.
  const details: Record<string, string[]> = Object.create(null)
  for (const error of errors) {
    const field = fieldOf(error, context)
    const values = allowed.get(field)
    const inUnion = error.keyword === 'anyOf' || error.schemaPath.includes('/anyOf/')
    // A query key given twice is that, whatever values the field allows.
    const repeated = context === 'querystring' && Array.isArray((error as { data?: unknown }).data)
    const message =
      values && inUnion && !repeated ? `must be one of ${values.join(', ')}` : messageFor(error, context)
    const messages = details[field] ?? []
    if (!messages.includes(message)) messages.push(message)
    details[field] = messages
  }
  return details
}
