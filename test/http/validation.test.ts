import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  isPlainText,
  isRfc3339,
  isTrimmedText,
  parseAmountMinor,
  parseWeightGrams,
  textProblem,
  toE164,
} from '../../src/formats.js'
import {
  AMOUNT_PATTERN,
  amountSchema,
  createValidatorCompiler,
  WEIGHT_KG_PATTERN,
  weightKgSchema,
} from '../../src/http/validation.js'

// The hand-written parsers in src/http/validation.ts against the regular expressions they replace
// (plain, obviously right, and slower), on the edge cases and on many mutations of valid input.

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/

function referenceRfc3339(value: string): boolean {
  const m = RFC3339.exec(value)
  if (!m) return false
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = m
    .slice(1)
    .map(Number) as number[]
  const days = new Date(Date.UTC(year as number, month as number, 0)).getUTCDate()
  return (
    (month as number) >= 1 &&
    (month as number) <= 12 &&
    (day as number) >= 1 &&
    (day as number) <= days &&
    (hour as number) <= 23 &&
    (minute as number) <= 59 &&
    (second as number) <= 60 &&
    (Number.isNaN(offsetHour) || ((offsetHour as number) <= 23 && (offsetMinute as number) <= 59)) &&
    (second !== 60 || leapSecondInUtc(value))
  )
}

/** A leap second is 23:59:60 UTC: the same instant one second earlier is 23:59:59 UTC. */
function leapSecondInUtc(value: string): boolean {
  const earlier = new Date(Date.parse(value.toUpperCase().replace(/:60(?=[.Z+-])/, ':59')))
  return earlier.getUTCHours() === 23 && earlier.getUTCMinutes() === 59
}

const WEIGHT = /^(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,3})?$/

function referenceWeight(value: unknown): number | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value
  if (typeof text !== 'string' || !WEIGHT.test(text)) return undefined
  const [whole = '0', fraction = ''] = text.split('.')
  const grams = Number(whole) * 1000 + Number(fraction.padEnd(3, '0'))
  return grams > 0 ? grams : undefined
}

const AMOUNT = /^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?$/

function referenceAmount(value: unknown): number | undefined {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value
  if (typeof text !== 'string' || !AMOUNT.test(text)) return undefined
  const [whole = '0', fraction = ''] = text.split('.')
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'))
}

// A seeded generator: a failure names a sample that can be replayed.
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** Substitutions, insertions and deletions drawn from `alphabet`, one to three of them. */
function mutate(text: string, alphabet: string, next: () => number): string {
  let out = text
  const edits = 1 + Math.floor(next() * 3)
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * (out.length + 1))
    const char = alphabet[Math.floor(next() * alphabet.length)] as string
    const kind = Math.floor(next() * 3)
    if (kind === 0) out = out.slice(0, at) + char + out.slice(at + 1)
    else if (kind === 1) out = out.slice(0, at) + char + out.slice(at)
    else out = out.slice(0, at) + out.slice(at + 1)
  }
  return out
}

const pad = (n: number, width: number) => String(n).padStart(width, '0')

test('isRfc3339 agrees with the regular expression on edge cases', () => {
  const cases = [
    '2018-11-20T19:29:32+08:00',
    '2018-11-20t19:29:32z',
    '2018-11-20T19:29:32.123456789Z',
    '2018-11-20T19:29:32.1234567890Z',
    '2018-11-20T19:29:32.Z',
    '2020-02-29T00:00:00Z',
    '2019-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2000-02-29T00:00:00Z',
    '2018-04-31T00:00:00Z',
    '2018-12-31T23:59:60-23:59',
    '2016-12-31T23:59:60Z',
    '2017-01-01T07:59:60+08:00',
    '2016-12-31T18:29:60-05:30',
    '2018-11-20T10:00:60+08:00',
    '2018-11-20T23:59:60+08:00',
    '2018-12-31T23:59:61Z',
    '2018-12-31T24:00:00Z',
    '2018-00-10T00:00:00Z',
    '2018-10-00T00:00:00Z',
    '2018-11-20T19:29:32+24:00',
    '2018-11-20T19:29:32+08:60',
    '2018-11-20T19:29:32+0800',
    '2018-11-20T19:29:32+08:00 ',
    '2018-11-20 19:29:32Z',
    '２０18-11-20T19:29:32Z',
    '',
  ]
  for (const value of cases) assert.equal(isRfc3339(value), referenceRfc3339(value), value)
})

test('isRfc3339 agrees with the regular expression on 200,000 generated timestamps', () => {
  const next = random(3339)
  const alphabet = '0123456789-:+.TtZz x٣'
  let valid = 0
  for (let i = 0; i < 200_000; i++) {
    const year = Math.floor(next() * 10_000)
    const month = Math.floor(next() * 14)
    const day = Math.floor(next() * 33)
    const time = `${pad(Math.floor(next() * 26), 2)}:${pad(Math.floor(next() * 62), 2)}:${pad(Math.floor(next() * 62), 2)}`
    const fraction =
      next() < 0.3 ? `.${String(Math.floor(next() * 1e10)).slice(0, 1 + Math.floor(next() * 10))}` : ''
    const zone =
      next() < 0.3
        ? 'Z'
        : `${next() < 0.5 ? '+' : '-'}${pad(Math.floor(next() * 26), 2)}:${pad(Math.floor(next() * 62), 2)}`
    let value = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${time}${fraction}${zone}`
    if (next() < 0.5) value = mutate(value, alphabet, next)
    const expected = referenceRfc3339(value)
    if (expected) valid++
    assert.equal(isRfc3339(value), expected, value)
  }
  assert.ok(valid > 20_000, `the sample must hold many valid timestamps too (${valid})`)
})

/** Generated decimals (up to `wholeDigits` digits, a fraction of up to `decimals + 1`), some mutated. */
function decimalCases(seed: number, wholeDigits: number, decimals: number, count: number): string[] {
  const next = random(seed)
  const cases: string[] = []
  for (let i = 0; i < count; i++) {
    const whole = String(Math.floor(next() * 10 ** Math.floor(next() * (wholeDigits + 2))))
    const digits = String(Math.floor(next() * 10 ** (decimals + 2))).slice(
      0,
      Math.floor(next() * (decimals + 2)),
    )
    const text = `${whole}${next() < 0.6 ? `.${digits}` : ''}`
    cases.push(next() < 0.4 ? mutate(text, '0123456789.-+e, ', next) : text)
  }
  return cases
}

/** `parse` and `reference` agree on every case, and enough of the cases are valid to mean something. */
function assertAgrees(parse: (v: unknown) => unknown, reference: (v: unknown) => unknown, cases: unknown[]) {
  let valid = 0
  for (const value of cases) {
    const expected = reference(value)
    if (expected !== undefined) valid++
    assert.equal(parse(value), expected, String(value))
  }
  assert.ok(valid > 20_000, `the sample must hold many valid values too (${valid})`)
}

test('parseWeightGrams agrees with the regular expression', () => {
  const cases: unknown[] = [
    '0',
    '0.000',
    '0.001',
    '1',
    '1.2',
    '1.23',
    '1.234',
    '1.2345',
    '999999.999',
    '1000000',
  ]
  cases.push(
    '01',
    '00.5',
    '.5',
    '1.',
    '',
    ' 1',
    '1 ',
    '1e3',
    'NaN',
    'Infinity',
    '١',
    1.5,
    0,
    -1,
    2.25,
    1e21,
    Number.NaN,
  )
  cases.push(null, undefined, true, {}, [1])
  assertAgrees(parseWeightGrams, referenceWeight, [...cases, ...decimalCases(1234, 6, 3, 100_000)])
})

test('parseAmountMinor agrees with the regular expression', () => {
  const cases: unknown[] = [
    '0',
    '0.0',
    '0.00',
    '0.001',
    '1250.50',
    '999999999999.99',
    '1000000000000',
    '01',
    '.5',
  ]
  cases.push('1.', '', '1e3', 'NaN', 1250.5, 0, -1, 0.001, 1e21, null, true, {})
  assertAgrees(parseAmountMinor, referenceAmount, [...cases, ...decimalCases(1250, 12, 2, 100_000)])
})

test('the documented weight and amount patterns accept exactly what the parsers accept', () => {
  const weight = new RegExp(WEIGHT_KG_PATTERN)
  const amount = new RegExp(AMOUNT_PATTERN)
  let valid = 0
  for (const text of [...decimalCases(77, 6, 3, 100_000), '0.001', '0.010', '0.100', '0.000', '0.0', '0']) {
    const expected = parseWeightGrams(text) !== undefined
    if (expected) valid++
    assert.equal(weight.test(text), expected, text)
  }
  for (const text of [...decimalCases(78, 12, 2, 100_000), '0', '0.00', '999999999999.99']) {
    assert.equal(amount.test(text), parseAmountMinor(text) !== undefined, text)
  }
  assert.ok(valid > 20_000, `the sample must hold many valid weights too (${valid})`)
})

test('the anyOf documenting weight and amount is not evaluated: one message per bad value', () => {
  const compile = createValidatorCompiler()
  for (const httpPart of ['body', 'querystring']) {
    const validate = compile({
      schema: {
        type: 'object',
        properties: { weight: weightKgSchema, amount: amountSchema },
        required: ['weight', 'amount'],
      },
      httpPart,
    })
    assert.equal(validate({ weight: '1.5', amount: 2 }), true, httpPart)
    assert.equal(validate({ weight: '0', amount: '-1' }), false, httpPart)
    const keywords = (validate.errors ?? []).map((error) => error.keyword).sort()
    assert.deepEqual(keywords, ['x-amount', 'x-weight-kg'], httpPart)
  }
  assert.ok(weightKgSchema.anyOf.length === 2, 'the route schemas themselves keep it, for OpenAPI')
})

test('plain text: no control characters, Unicode line breaks or unpaired surrogates', () => {
  for (const good of ['Acme', '  padded search  ', 'Ünïcödé 株式会社', 'emoji 😀 👩🏽‍🚀', 'e\u0301', '']) {
    assert.equal(isPlainText(good), true, JSON.stringify(good))
  }
  for (const bad of [
    'line\nbreak',
    'tab\t',
    'nul\u0000',
    'del\u007f',
    'next line\u0085', // NEL: a C1 control and a line break
    'csi\u009b',
    'line\u2028separator',
    'paragraph\u2029separator',
    'half \ud83d emoji',
    'half \ude00 emoji',
    '\ude00\ud83d', // both halves, in the wrong order
    'Acme\u202e gnp.exe', // right-to-left override: shows as "Acme exe.png"
    'a\u202ab',
    'a\u2066b\u2069',
    'a\u2068b',
  ]) {
    assert.equal(isPlainText(bad), false, JSON.stringify(bad))
  }
  // Joiners stay: scripts and emoji need them.
  assert.equal(isPlainText('\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645'), true, 'ZWNJ (Persian)')
  assert.equal(
    textProblem('Acme\u202e gnp.exe', true),
    'must not contain bidirectional-text controls (U+202A to U+202E, U+2066 to U+2069)',
  )
})

test('trimmed text: plain, not blank, no whitespace or invisible character at either end', () => {
  for (const good of [
    'Acme',
    'A',
    'Acme  Freight',
    'Ünïcödé 株式会社',
    '😀',
    'e\u0301',
    'É',
    '👩\u200d💻', // a ZWJ sequence: the joiner inside
    '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645', // ZWNJ inside (Persian)
    'Gift 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}', // a flag that ends in tag characters
  ]) {
    assert.equal(isTrimmedText(good), true, JSON.stringify(good))
  }
  for (const bad of [
    '',
    ' ',
    '   ',
    '\u00a0',
    '\u3000',
    '\u200b', // zero-width space: nothing visible
    '\u200b\u200d',
    ' Acme',
    'Acme ',
    'Acme\u00a0',
    '\u2003Acme',
    '\ufeffAcme',
    'Acme\n',
    'Ac\u2028me',
    'Acme \ud83d',
    '\u200bx', // zero-width space first
    'RedBox Logistics\u200b', // … or last: looks like "RedBox Logistics"
    '\u200eAcme', // a left-to-right mark
    'Acme\u200f', // a right-to-left mark
    'Acme\u061c', // an Arabic letter mark
    'Acme\u2060', // a word joiner
  ]) {
    assert.equal(isTrimmedText(bad), false, JSON.stringify(bad))
  }
  assert.match(
    textProblem('RedBox Logistics\u200b', true),
    /must not start or end with an invisible character/,
  )
  assert.equal(textProblem('Acme ', true), 'must not start or end with whitespace')
})

test('phone numbers: whitespace around them is dropped, line breaks inside are not allowed', () => {
  for (const [input, e164] of [
    ['+254722000000', '+254722000000'],
    [' +254722000000', '+254722000000'],
    ['+254722000000 ', '+254722000000'],
    ['\t+254 722 000 000\n', '+254722000000'],
    ['+254\u00a0722\u00a0000\u00a0000', '+254722000000'],
    ['+254\u202f722-000.000', '+254722000000'],
    ['+44 (20) 7183 8750', '+442071838750'],
  ] as const) {
    assert.equal(toE164(input), e164, JSON.stringify(input))
  }
  for (const input of [
    '',
    '   ',
    '+254\n722000000',
    '+254\u2028722000000',
    '+254\t722000000',
    '254722000000',
    '+254 722',
    '+1 800 FLOWERS',
    '+254722000000 ext. 12',
  ]) {
    assert.equal(toE164(input), undefined, JSON.stringify(input))
  }
})
