// What each format accepts, as plain functions: timestamps, dates, decimals, text and phone
// numbers. src/http/validation.ts plugs them into Fastify's ajv, so that every rule runs at the edge
// with all errors at once; services use the parsers and formatters.
// The max metadata checks each country's number ranges (isValid), not only the number's length.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'

// Hand-written parsers rather than regular expressions: they run on every issue request, and a
// match with capture groups cost more than the rest of the request's validation together.
// test/http/validation.test.ts checks them against the regular expressions on a large random sample.

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
  if (zone === 90 || zone === 122) return i + 1 === length && leapSecondAtMidnight(second, hour, minute, 0)
  if (zone !== 43 && zone !== 45) return false // + or -
  const offsetHour = digitsAt(value, i + 1, 2)
  const offsetMinute = digitsAt(value, i + 4, 2)
  return (
    i + 6 === length &&
    value.charCodeAt(i + 3) === 58 &&
    offsetHour >= 0 &&
    offsetHour <= 23 &&
    offsetMinute >= 0 &&
    offsetMinute <= 59 &&
    leapSecondAtMidnight(second, hour, minute, (zone === 43 ? 1 : -1) * (offsetHour * 60 + offsetMinute))
  )
}

/** A leap second (:60) is inserted only at 23:59:60 UTC; any other second is fine here. */
function leapSecondAtMidnight(second: number, hour: number, minute: number, offsetMinutes: number): boolean {
  if (second !== 60) return true
  const utcMinute = (((hour * 60 + minute - offsetMinutes) % 1440) + 1440) % 1440
  return utcMinute === 23 * 60 + 59
}

export const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
export const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

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
// Bidirectional-text controls (embeddings, overrides, isolates) reorder what follows them on
// screen: "Acme\u202e gnp.exe" shows as "Acme exe.png". Names and items reach the admin page and
// customers' SMS, so they are refused with the control characters.
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const NOT_PLAIN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\p{Cs}]/u
// What String.prototype.trim() removes, beside the control characters already refused.
const WHITESPACE = /\s/
// Something other than whitespace and invisible format characters (zero-width space, joiners, …).
const VISIBLE = /[^\s\p{Cf}]/u
// An invisible format character at either end (a zero-width space, a left-to-right mark, …): a
// name that looks like another. Inside a text they stay (joiners in emoji, marks in Arabic or
// Hebrew); so do the tag characters that end some flag emoji (U+E0020 to U+E007F).
const INVISIBLE_START = /^(?![\u{E0000}-\u{E007F}])\p{Cf}/u
const INVISIBLE_END = /(?![\u{E0000}-\u{E007F}])\p{Cf}$/u

/** Whitespace or an invisible format character at either end. */
function untrimmed(value: string): boolean {
  const first = value.charCodeAt(0)
  const last = value.charCodeAt(value.length - 1)
  if (isWhitespace(first) || isWhitespace(last)) return true
  // Printable ASCII at both ends (nearly always) needs no further look.
  return (
    (!(first > 32 && first < 127) && INVISIBLE_START.test(value)) ||
    (!(last > 32 && last < 127) && INVISIBLE_END.test(value))
  )
}

function isWhitespace(code: number): boolean {
  return (
    code === 32 || (code >= 9 && code <= 13) || (code >= 0xa0 && WHITESPACE.test(String.fromCharCode(code)))
  )
}

/** No control characters, line breaks, bidirectional-text controls or unpaired surrogates. */
export function isPlainText(value: string): boolean {
  return !NOT_PLAIN.test(value)
}

/**
 * Plain text with something visible in it and no whitespace or invisible character at either end:
 * a name, an item.
 */
export function isTrimmedText(value: string): boolean {
  if (value.length === 0 || NOT_PLAIN.test(value)) return false
  if (untrimmed(value)) return false
  const first = value.charCodeAt(0)
  // A printable ASCII character first (nearly always) is visible: no need to look further.
  return (first > 32 && first < 127) || VISIBLE.test(value)
}

/** Why a text is not plain (or, with `trimmed`, not trimmed) text, in words for the client. */
export function textProblem(value: unknown, trimmed: boolean): string {
  const text = typeof value === 'string' ? value : ''
  for (const char of text) {
    const code = char.codePointAt(0) as number
    if (code >= 0xd800 && code <= 0xdfff) return 'must be valid Unicode: it has an unpaired surrogate'
    if (BIDI_CONTROL.test(char))
      return 'must not contain bidirectional-text controls (U+202A to U+202E, U+2066 to U+2069)'
    if (NOT_PLAIN.test(char)) return 'must not contain line breaks or control characters (tabs, NUL, …)'
  }
  if (!trimmed) return 'is invalid'
  if (text.length === 0) return 'must not be empty'
  if (!VISIBLE.test(text)) return 'must not be blank'
  if (!isWhitespace(text.charCodeAt(0)) && !isWhitespace(text.charCodeAt(text.length - 1)))
    return 'must not start or end with an invisible character (a zero-width space, a direction mark, …)'
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
