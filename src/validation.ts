import { Ajv, type Options } from 'ajv'
import ajvFormats from 'ajv-formats'
import type { FastifySchemaValidationError } from 'fastify'
import type { SchemaErrorDataVar } from 'fastify/types/schema.js'
import { isCountryCode } from './countries.js'

// Custom checks plugged into Fastify's ajv, so that every rule runs at the edge, all errors at once.

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/

export function isRfc3339(value: string): boolean {
  const m = RFC3339.exec(value)
  if (!m) return false
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = m
    .slice(1)
    .map(Number) as number[]
  const daysInMonth = new Date(Date.UTC(year as number, month as number, 0)).getUTCDate()
  return (
    (month as number) >= 1 &&
    (month as number) <= 12 &&
    (day as number) >= 1 &&
    (day as number) <= daysInMonth &&
    (hour as number) <= 23 &&
    (minute as number) <= 59 &&
    (second as number) <= 60 &&
    (Number.isNaN(offsetHour) || ((offsetHour as number) <= 23 && (offsetMinute as number) <= 59))
  )
}

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const WEIGHT = /^(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,3})?$/

/** Kilograms with at most 3 decimals, as written (string) or as a JSON number, to integer grams. */
export function parseWeightGrams(value: unknown): number | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value
  if (typeof text !== 'string' || !WEIGHT.test(text)) return undefined
  const [whole = '0', fraction = ''] = text.split('.')
  const grams = Number(whole) * 1000 + Number(fraction.padEnd(3, '0'))
  return grams > 0 ? grams : undefined
}

export function formatWeightKg(grams: number): string {
  return `${Math.floor(grams / 1000)}.${String(grams % 1000).padStart(3, '0')}`
}

const AMOUNT = /^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?$/

/** A money amount with at most 2 decimals, as written (string) or as a JSON number, to minor units. */
export function parseAmountMinor(value: unknown): number | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value
  if (typeof text !== 'string' || !AMOUNT.test(text)) return undefined
  const [whole = '0', fraction = ''] = text.split('.')
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'))
}

export function formatAmount(minor: number): string {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`
}

const CALENDAR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/** YYYY-MM-DD naming a day that exists. */
export function isCalendarDate(value: string): boolean {
  const m = CALENDAR_DATE.exec(value)
  if (!m) return false
  const date = new Date(`${value}T00:00:00Z`)
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value)
}

const FORMATS: Record<string, { validate: (value: string) => boolean; message: string }> = {
  country: {
    validate: isCountryCode,
    message: 'must be an assigned ISO 3166-1 alpha-2 country code in uppercase, e.g. MY',
  },
  rfc3339: {
    validate: isRfc3339,
    message: 'must be an RFC 3339 timestamp with a time zone offset, e.g. 2018-11-20T19:29:32+08:00',
  },
  slug: {
    validate: (value) => SLUG.test(value),
    message: 'must be kebab-case: lowercase letters and digits separated by single hyphens',
  },
  'plain-text': {
    // No control characters: PostgreSQL rejects NUL outright, and line breaks or terminal escapes
    // in a stored name are trouble for every system that shows it later.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
    validate: (value) => !/[\u0000-\u001f\u007f]/.test(value),
    message: 'must not contain control characters (line breaks, tabs, NUL, …)',
  },
  'canonical-uuid': { validate: (value) => UUID.test(value), message: 'must be a UUID' },
  'calendar-date': {
    validate: isCalendarDate,
    message: 'must be a date in the format YYYY-MM-DD, e.g. 2026-11-22',
  },
}
const AMOUNT_KEYWORD = 'x-amount'
const AMOUNT_MESSAGE = 'must be an amount of 0 or more with at most 2 decimal places, e.g. 1250.50'
const WEIGHT_KEYWORD = 'x-weight-kg'
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
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema)
}

/** Schema fragment for a weight in kilograms (string "1.234" or number 1.234). */
export const weightKgSchema = {
  [WEIGHT_KEYWORD]: true,
  description: 'Kilograms, greater than 0, at most 3 decimal places; kept exactly',
  examples: ['1.234'],
} as const

/** Schema fragment for a money amount (string "1250.50" or number 1250.5). */
export const amountSchema = {
  [AMOUNT_KEYWORD]: true,
  description: 'A decimal amount, 0 or more, at most 2 decimal places; kept exactly and returned as a string',
  examples: ['1250.50'],
} as const

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}

function messageFor(error: FastifySchemaValidationError): string {
  if (error.keyword === 'required') return 'is required'
  if (error.keyword === WEIGHT_KEYWORD) return WEIGHT_MESSAGE
  if (error.keyword === AMOUNT_KEYWORD) return AMOUNT_MESSAGE
  if (error.keyword === 'format') {
    const format = (error.params as { format?: string }).format
    if (format && FORMATS[format]) return FORMATS[format].message
  }
  // A regular expression means nothing to a person; the field's description says it in words.
  // ajv's errors carry parentSchema with `verbose`; Fastify's error type omits it.
  const description = (error as { parentSchema?: { description?: unknown } }).parentSchema?.description
  if (error.keyword === 'pattern' && typeof description === 'string')
    return `must be ${lowerFirst(description)}`
  if (error.keyword === 'minLength' && (error.params as { limit?: number }).limit === 1)
    return 'must not be empty'
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
  const details: Record<string, string[]> = {}
  for (const error of errors) {
    const field = fieldOf(error, context)
    const values = allowed.get(field)
    const inUnion = error.keyword === 'anyOf' || error.schemaPath.includes('/anyOf/')
    const message = values && inUnion ? `must be one of ${values.join(', ')}` : messageFor(error)
    const messages = details[field] ?? []
    if (!messages.includes(message)) messages.push(message)
    details[field] = messages
  }
  return details
}
