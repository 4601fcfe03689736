import assert from 'node:assert/strict'
import { test } from 'node:test'
import { shortItem, smsText } from '../../src/orders/service.js'

// The SMS carries at most 60 UTF-16 code units of the item (the unit a UCS-2 SMS counts), cut
// between whole user-perceived characters (grapheme clusters), never inside one.

const LIMIT = 60
const graphemes = (text: string) =>
  Array.from(new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(text), (s) => s.segment)

/** No unpaired surrogate: what the gateway would receive as U+FFFD. */
function wellFormed(text: string): boolean {
  return !/\p{Cs}/u.test(text)
}

/** The short form is whole leading graphemes of the item, then an ellipsis, within the limit. */
function assertCutOnGraphemes(item: string) {
  const short = shortItem(item)
  const label = JSON.stringify(item)
  assert.ok(wellFormed(short), `${label} → ${JSON.stringify(short)}`)
  assert.ok(short.length <= LIMIT, `${label}: ${short.length} code units`)
  if (item.length <= LIMIT) {
    assert.equal(short, item)
    return
  }
  assert.ok(short.endsWith('…'), label)
  const kept = graphemes(short.slice(0, -1))
  assert.deepEqual(kept, graphemes(item).slice(0, kept.length), `${label}: whole characters only`)
  // As many as fit: the next one would not.
  const next = graphemes(item)[kept.length] ?? ''
  assert.ok(short.length - 1 + next.length > LIMIT - 1, `${label}: cut too early`)
}

test('short items are sent as they are', () => {
  for (const item of ['Laptop', 'x'.repeat(LIMIT), `${'x'.repeat(LIMIT - 2)}😀`, 'Café 👩‍👩‍👧‍👦']) {
    assert.equal(shortItem(item), item)
  }
  assert.equal(shortItem('x'.repeat(LIMIT + 1)), `${'x'.repeat(LIMIT - 1)}…`)
})

test('an emoji across the cut is left out whole, never halved', () => {
  // 58 letters, then an emoji (2 code units) at code units 58 and 59: slice(0, 59) halves it.
  const item = `${'a'.repeat(58)}😀 and more after it`
  assert.equal(shortItem(item), `${'a'.repeat(58)}…`)
  for (let pad = 50; pad < 62; pad++) {
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'😀'.repeat(10)}`)
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'👩🏽‍🚀'.repeat(5)}`) // emoji + skin tone + ZWJ sequence
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'🇰🇪'.repeat(5)}`) // flags: two regional indicators
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'👨‍👩‍👧‍👦'.repeat(3)}`)
  }
})

test('a letter keeps its combining accents', () => {
  const decomposed = 'e\u0301'.repeat(40) // é as e + COMBINING ACUTE ACCENT: 80 code units
  const short = shortItem(decomposed)
  assert.equal(short, `${'e\u0301'.repeat(29)}…`)
  for (let pad = 50; pad < 62; pad++) {
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'e\u0301\u0327'.repeat(10)}`)
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'\u0915\u094d\u0937'.repeat(10)}`) // Devanagari conjunct
    assertCutOnGraphemes(`${'a'.repeat(pad)}${'\u1100\u1161\u11a8'.repeat(10)}`) // Hangul jamo
  }
})

test('the SMS text is well formed whatever the item', () => {
  const item = `${'a'.repeat(58)}😀😀😀`
  for (const event of ['created', 'CONFIRMED'] as const) {
    const text = smsText(event, item, 'ABCDEFGHIJKLMNOP')
    assert.ok(wellFormed(text), text)
    assert.ok(text.includes(`"${'a'.repeat(58)}…"`), text)
  }
})
