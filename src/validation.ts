import { Ajv, type Options, type ValidateFunction } from 'ajv'
import ajvFormats from 'ajv-formats'
import type { FastifySchemaValidationError } from 'fastify'
import type { SchemaErrorDataVar } from 'fastify/types/schema.js'
// The max metadata checks each country's number ranges (isValid), not only the number's length.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'
import { isCountryCode } from './countries.js'

// Custom checks plugged into Fastify's ajv, so that every rule runs at the edge, all errors at once.

// Hand-written parsers rather than regular expressions: they run on every issue request, and a
// match with capture groups cost more than the rest of the request's validation together.
// test/validation.test.ts checks them against the regular expressions on a large random sample.

const ZERO = 48
const NINE = 57

/** The decimal number in value[start, start + count), or -1 if any of those is not an ASCII digit. */
function digitsAt(value: string, start: number, count: number): number {
  let n = 0
  for (let i = start; i < start + count; i++) {
    const c = value.charCodeAt(i)
    if (c < ZERO || c > NINE) return -1
    n = n * 10 + (c - ZERO)
  }
  return n
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** RFC 3339 date-time with a time zone offset: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), a real date. */
export function isRfc3339(value: string): boolean {
  const length = value.length
  if (length < 20 || length > 35) return false
  const year = digitsAt(value, 0, 4)
  const month = digitsAt(value, 5, 2)
  const day = digitsAt(value, 8, 2)
  const hour = digitsAt(value, 11, 2)
  const minute = digitsAt(value, 14, 2)
  const second = digitsAt(value, 17, 2)
  const t = value.charCodeAt(10)
  if (
    year < 0 ||
    value.charCodeAt(4) !== 45 || // -
    month < 1 ||
    month > 12 ||
    value.charCodeAt(7) !== 45 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    (t !== 84 && t !== 116) || // T or t
    hour < 0 ||
    hour > 23 ||
    value.charCodeAt(13) !== 58 || // :
    minute < 0 ||
    minute > 59 ||
    value.charCodeAt(16) !== 58 ||
    second < 0 ||
    second > 60
  ) {
    return false
  }
  let i = 19
  if (value.charCodeAt(i) === 46) {
    // .fraction: 1 to 9 digits
    let end = i + 1
    while (end < length && digitsAt(value, end, 1) >= 0) end++
    if (end === i + 1 || end - i - 1 > 9) return false
    i = end
  }
  const zone = value.charCodeAt(i)
  if (zone === 90 || zone === 122) return i + 1 === length // Z or z
  if (zone !== 43 && zone !== 45) return false // + or -
  const offsetHour = digitsAt(value, i + 1, 2)
  const offsetMinute = digitsAt(value, i + 4, 2)
  return (
    i + 6 === length &&
    value.charCodeAt(i + 3) === 58 &&
    offsetHour >= 0 &&
    offsetHour <= 23 &&
    offsetMinute >= 0 &&
    offsetMinute <= 59
  )
}

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/**
 * A decimal as written (string) or as a JSON number, in units of 10^-decimals (grams of a weight,
 * cents of an amount): 0, or 1 to `wholeDigits` digits without a leading zero, then optionally a
 * point and 1 to `decimals` digits. Undefined for anything else.
 */
function parseFixedPoint(value: unknown, wholeDigits: number, decimals: number): number | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value
  if (typeof text !== 'string') return undefined
  const point = text.indexOf('.')
  const whole = point < 0 ? text.length : point
  if (whole < 1 || whole > wholeDigits || (whole > 1 && text.charCodeAt(0) === ZERO)) return undefined
  const units = digitsAt(text, 0, whole)
  if (units < 0) return undefined
  if (point < 0) return units * 10 ** decimals
  const fractionDigits = text.length - point - 1
  if (fractionDigits < 1 || fractionDigits > decimals) return undefined
  const fraction = digitsAt(text, point + 1, fractionDigits)
  return fraction < 0 ? undefined : units * 10 ** decimals + fraction * 10 ** (decimals - fractionDigits)
}

/** Kilograms above 0, below 1,000,000, with at most 3 decimals, to integer grams. */
export function parseWeightGrams(value: unknown): number | undefined {
  const grams = parseFixedPoint(value, 6, 3)
  return grams !== undefined && grams > 0 ? grams : undefined
}

export function formatWeightKg(grams: number): string {
  return `${Math.floor(grams / 1000)}.${String(grams % 1000).padStart(3, '0')}`
}

/** A money amount of 0 or more, below 10^12, with at most 2 decimals, to minor units. */
export function parseAmountMinor(value: unknown): number | undefined {
  return parseFixedPoint(value, 12, 2)
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

// Text that people type and other systems show later. Not allowed anywhere: control characters
// (C0, DEL and C1: NUL, which PostgreSQL refuses, tabs, line breaks including NEL, terminal
// escapes), the Unicode line and paragraph separators (U+2028, U+2029: line breaks too), and a
// surrogate without its pair (not a character at all; UTF-8 cannot store it, so the database
// would silently turn it into U+FFFD). One regular expression: customer_name is checked on every
// issue request, and this costs about what the old control-character check did.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const NOT_PLAIN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cs}]/u
// What String.prototype.trim() removes, beside the control characters already refused.
const WHITESPACE = /\s/
// Something other than whitespace and invisible format characters (zero-width space, joiners, …).
const VISIBLE = /[^\s\p{Cf}]/u

function isWhitespace(code: number): boolean {
  return (
    code === 32 || (code >= 9 && code <= 13) || (code >= 0xa0 && WHITESPACE.test(String.fromCharCode(code)))
  )
}

/** No control characters, line breaks or unpaired surrogates. */
export function isPlainText(value: string): boolean {
  return !NOT_PLAIN.test(value)
}

/** Plain text with something visible in it and no whitespace at either end: a name, an item. */
export function isTrimmedText(value: string): boolean {
  if (value.length === 0 || NOT_PLAIN.test(value)) return false
  const first = value.charCodeAt(0)
  if (isWhitespace(first) || isWhitespace(value.charCodeAt(value.length - 1))) return false
  // A printable ASCII character first (nearly always) is visible: no need to look further.
  return (first > 32 && first < 127) || VISIBLE.test(value)
}

/** Why a text is not plain (or, with `trimmed`, not trimmed) text, in words for the client. */
function textProblem(value: unknown, trimmed: boolean): string {
  const text = typeof value === 'string' ? value : ''
  for (const char of text) {
    const code = char.codePointAt(0) as number
    if (code >= 0xd800 && code <= 0xdfff) return 'must be valid Unicode: it has an unpaired surrogate'
    if (NOT_PLAIN.test(char)) return 'must not contain line breaks or control characters (tabs, NUL, …)'
  }
  if (!trimmed) return 'is invalid'
  if (text.length === 0) return 'must not be empty'
  if (!VISIBLE.test(text)) return 'must not be blank'
  return 'must not start or end with whitespace'
}

export const PHONE_MESSAGE = 'must be a valid phone number in international format, e.g. +254722000000'
// After trimming: digits and the usual separators only. No letters (vanity numbers), no
// extensions, no line breaks, and no free text around the number, which the library would
// otherwise pick a number out of.
const PHONE_INPUT = /^\+[\d\p{Zs}().-]+$/u
const SPACES = /\p{Zs}/gu

/**
 * The number in E.164 (e.g. +254722000000), or undefined if it is not a valid international
 * number. Whitespace around it (a form, a paste) is dropped, like the separators inside it.
 */
export function toE164(input: string): string | undefined {
  const text = input.trim()
  if (!PHONE_INPUT.test(text)) return undefined
  // The library takes a plain space, not every kind (no-break, narrow no-break, …).
  const parsed = parsePhoneNumberFromString(text.replace(SPACES, ' '), { extract: false })
  return parsed?.isValid() && !parsed.ext ? parsed.number : undefined
}

interface Format {
  validate: (value: string) => boolean
  message: string | ((value: unknown) => string)
}

const FORMATS: Record<string, Format> = {
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
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => {
    const compiled = withoutDocumentedForms(schema) as object
    if (httpPart === 'body') return strict.compile(compiled)
    return withDecimalIntegers(coercing.compile(compiled), integerProperties(compiled))
  }
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
 * Routes without integer parameters (the issue route) keep ajv's validator as it is.
 */
function withDecimalIntegers(validate: ValidateFunction, integers: string[]): ValidateFunction {
  if (integers.length === 0) return validate
  const checked = ((data: Record<string, unknown>) => {
    const bad = integers.filter((name) => {
      const value = data?.[name]
      return typeof value === 'string' && !DECIMAL_INTEGER.test(value)
    })
    if (bad.length === 0) {
      const valid = validate(data)
      checked.errors = validate.errors
      return valid
    }
    validate(data) // the other fields' errors, reported at once with these
    checked.errors = [
      ...bad.map((name) => ({
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}/type`,
        keyword: 'type',
        params: { type: 'integer' },
        message: 'must be a whole number in decimal digits',
      })),
      ...(validate.errors ?? []).filter((error) => !bad.some((name) => error.instancePath === `/${name}`)),
    ]
    return false
  }) as ValidateFunction
  return checked
}

const DECIMAL_KEYWORDS = [WEIGHT_KEYWORD, AMOUNT_KEYWORD]

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
// for test/validation.test.ts, which checks them against the parsers). Not used to validate.
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

function messageFor(error: FastifySchemaValidationError, context: SchemaErrorDataVar | undefined): string {
  if (error.keyword === 'required') return 'is required'
  const { data } = error as { data?: unknown } // with `verbose`; Fastify's error type omits it
  // A query key given twice (`?weight=1&weight=2`) arrives as an array (no query field takes one).
  if (context === 'querystring' && Array.isArray(data) && error.instancePath !== '')
    return `must be given once, not ${data.length} times`
  if (error.keyword === WEIGHT_KEYWORD) return WEIGHT_MESSAGE
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
    const message = values && inUnion ? `must be one of ${values.join(', ')}` : messageFor(error, context)
    const messages = details[field] ?? []
    if (!messages.includes(message)) messages.push(message)
    details[field] = messages
  }
  return details
}
