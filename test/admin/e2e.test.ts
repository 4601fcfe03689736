// The admin page in a real browser (Debian's chromium through playwright-core) against the service
// in its own process on loopback: sign in, a customer, an order and its tracking number, a status
// change, orders sorted by a column across pages, a mistyped number caught before any request, users,
// token refresh, a failed refresh, sign out. Screenshots
// of the main screens go to test-results/screenshots/ (ignored by git).
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Page } from 'playwright-core'
import { ALPHABET } from '../../src/tracking/check-character.js'
import { bearer, TEST_KEY, testDatabaseUrl } from '../helpers/build.js'
import { startServer } from '../helpers/processes.js'
import { CHROMIUM, createUser, ensureAdminBuilt, launchChromium, SCREENSHOTS } from './browser.js'

const PASSWORD = 'correct horse battery staple'
const TRACKING_NUMBER = /^[A-Z0-9]{16}$/

const chromiumMissing = !existsSync(CHROMIUM)
if (chromiumMissing && process.env.CI === 'true') {
  throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)`)
}

/** The same number with its first character replaced: a single substitution, which the check catches. */
function withTypo(number: string): string {
  const first = number[0] as string
  const other = ALPHABET[(ALPHABET.indexOf(first) + 7) % ALPHABET.length] as string
  return other + number.slice(1)
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** Waits until the table's cells of this column show these texts, in this order. */
async function waitForColumn(page: Page, label: string, expected: string[]): Promise<void> {
  const cells = page.locator(`tbody td[data-label="${label}"]`)
  const deadline = Date.now() + 10_000
  let shown: string[] = []
  while (Date.now() < deadline) {
    shown = (await cells.allTextContents()).map((text) => text.trim())
    if (JSON.stringify(shown) === JSON.stringify(expected)) return
    await page.waitForTimeout(100)
  }
  assert.deepEqual(shown, expected, `the ${label} column`)
}

/**
 * Waits until `expression`, evaluated in the page, is true. (page.waitForFunction would evaluate it
 * with eval, which the page's Content-Security-Policy forbids.)
 */
async function waitUntil(page: Page, expression: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if ((await page.evaluate(expression)) === true) return
    await page.waitForTimeout(50)
  }
  assert.fail(`still false after 10 s: ${expression}`)
}

/** Waits until the focused element is the one with this text (e.g. a button's label). */
async function waitForFocus(page: Page, text: string): Promise<void> {
  await waitUntil(page, `document.activeElement?.textContent === ${JSON.stringify(text)}`)
}

async function go(page: Page, link: string, heading: string | RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click()
  await page.getByRole('heading', { level: 1, name: heading }).waitFor()
}

test('the admin page: sign in, customer, order, status, typo, users, sign out', {
  skip: chromiumMissing && `${CHROMIUM} is missing (apt-get install chromium)`,
  timeout: 90_000,
}, async (t) => {
  ensureAdminBuilt()
  mkdirSync(SCREENSHOTS, { recursive: true })
  const databaseUrl = await testDatabaseUrl(t)
  createUser(databaseUrl, 'ops.admin', 'admin', PASSWORD)
  const server = await startServer({
    DATABASE_URL: databaseUrl,
    TRACKING_KEY: TEST_KEY,
    // Short-lived access tokens, so that the page must refresh its token during the test.
    ACCESS_TOKEN_TTL_SECONDS: '10',
    LOGIN_RATE_LIMIT_MAX: '1000',
  })
  t.after(() => server.kill9())
  const browser = await launchChromium()
  t.after(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const base = `http://127.0.0.1:${server.port}`

  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    // Failed API calls (the 400s this test provokes) are logged by the browser; anything else is not expected.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`)
    }
  })
  const refreshes: number[] = []
  const lookups: string[] = []
  page.on('response', (response) => {
    if (response.url().includes('/api/token/refresh/')) refreshes.push(response.status())
  })
  const customerWrites: string[] = []
  page.on('request', (request) => {
    if (request.url().includes('/tracking-numbers/')) lookups.push(request.url())
    if (/\/api\/customers\/\d+\/$/.test(request.url()) && request.method() !== 'GET') {
      customerWrites.push(`${request.method()} ${request.postData()}`)
    }
  })

  await t.test('sign in, keyboard only', async () => {
    await page.goto(`${base}/admin/`)
    await page.getByRole('heading', { name: 'Sign in to Waybill' }).waitFor()
    await page.keyboard.press('Tab')
    assert.equal(
      await page.evaluate('document.activeElement.id'),
      'sign-in-username',
      'Tab reaches the first field',
    )
    await page.getByLabel('Username').fill('ops.admin')
    await page.getByLabel('Password').fill('not the password')
    await page.keyboard.press('Enter')
    await page.getByRole('alert').waitFor()
    await shot(page, '01-sign-in-failed')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    assert.equal(
      await page.evaluate('sessionStorage.getItem("waybill.session") !== null && localStorage.length === 0'),
      true,
      'tokens are kept in sessionStorage, never localStorage',
    )
  })

  await t.test('create and edit a customer; the API errors show beside each field', async () => {
    await go(page, 'Customers', 'Customers')
    await page.getByRole('link', { name: 'New customer' }).click()
    await page.getByRole('heading', { name: 'New customer' }).waitFor()
    await page.getByLabel('Name').fill('Amani Traders')
    await page.getByLabel('Code').fill('amani 01')
    await page.getByLabel('Phone number').fill('12')
    await page.getByRole('button', { name: 'Create customer' }).click()
    await page.locator('#customer-code-error').waitFor()
    assert.equal(await page.getByLabel('Code').getAttribute('aria-invalid'), 'true')
    assert.equal(await page.locator('#customer-name-error').count(), 0, 'the valid field has no error')
    await shot(page, '02-customer-form-errors')

    await page.getByLabel('Code').fill('amani01') // sent in capitals: the API refuses lowercase
    await page.getByLabel('Phone number').fill('+254 722 000 001')
    await page.getByLabel('Email (optional)').fill('ops@amani.example')
    await page.getByRole('button', { name: 'Create customer' }).click()
    await page.getByRole('heading', { level: 1, name: 'Customers' }).waitFor()
    await page.getByText('Customer Amani Traders (AMANI01) created.').waitFor()
    await page.getByRole('cell', { name: '+254722000001' }).waitFor()

    // Someone else changes the phone number while this form is open: saving the email keeps it.
    await page.getByRole('link', { name: 'Amani Traders', exact: true }).click()
    await page.getByRole('heading', { name: 'Edit Amani Traders' }).waitFor()
    assert.equal(await page.getByLabel('Code').inputValue(), 'AMANI01')
    const id = new URL(page.url()).pathname.split('/').at(-1)
    const headers = { 'content-type': 'application/json', ...(await bearer('operator')) }
    const other = await fetch(`${base}/api/customers/${id}/`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ phone_number: '+254722000009' }),
    })
    assert.equal(other.status, 200, await other.text())
    await page.getByLabel('Email (optional)').fill('orders@amani.example')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByRole('cell', { name: 'orders@amani.example' }).waitFor()
    await page.getByRole('cell', { name: '+254722000009' }).waitFor()
    assert.deepEqual(customerWrites, [`PATCH {"email":"orders@amani.example"}`], 'only the changed field')

    // Found by a search and sorted (two steps Back undoes), opened, saved unchanged: nothing is
    // sent, and the list comes back as it was.
    await page.getByRole('searchbox', { name: 'Search' }).fill('amani')
    await page.waitForURL(/q=amani/)
    await page.getByRole('columnheader', { name: 'Name' }).getByRole('button').click()
    await page.waitForURL(/ordering=name/)
    const list = page.url()
    await page.getByRole('link', { name: 'Amani Traders', exact: true }).click()
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByText('Nothing changed.').waitFor()
    assert.equal(page.url(), list, 'back to the list as it was')
    await page.getByRole('cell', { name: 'AMANI01' }).waitFor()
    assert.equal(customerWrites.length, 1, 'an unchanged customer is not sent')
    await page.goBack()
    await page.waitForURL((url) => url.searchParams.get('q') === 'amani' && !url.searchParams.has('ordering'))
    await shot(page, '03-customers')

    // A search the API refuses: its message beside the box, and no rows of an earlier search.
    await page.getByRole('searchbox', { name: 'Search' }).fill('x'.repeat(201))
    await page.locator('#customer-search-error').getByText('200').waitFor()
    assert.equal(await page.getByRole('searchbox', { name: 'Search' }).getAttribute('aria-invalid'), 'true')
    assert.equal(await page.locator('tbody tr').count(), 0, 'no stale rows under a failed search')
    await page.getByRole('searchbox', { name: 'Search' }).fill('amani')
    await page.getByRole('cell', { name: 'AMANI01' }).waitFor()
    assert.equal(await page.locator('#customer-search-error').count(), 0)

    // A page past the end says so, once, and links to the last page.
    await page.goto(`${base}/admin/customers?page=9`)
    await page.getByText('There is no page 9: 1 result in all.').waitFor()
    assert.equal(await page.getByText('No customers yet.').count(), 0)
    await page.getByRole('link', { name: 'Go to the last page (1)' }).click()
    await page.getByRole('cell', { name: 'AMANI01' }).waitFor()
  })

  let trackingNumber = ''
  await t.test('create an order and see its tracking number; only legal status changes', async () => {
    await page.getByRole('link', { name: 'New order for Amani Traders' }).click()
    await page.getByRole('heading', { name: 'New order' }).waitFor()
    assert.equal(await page.getByLabel('Customer code').inputValue(), 'AMANI01')
    await page.getByLabel('Item', { exact: true }).fill(' Laptop ') // spaces around it are trimmed, not refused
    await page.getByLabel('Amount').fill('1250.50')
    await page.getByLabel('Origin country (optional)').fill('KE')
    await page.getByLabel('Destination country (optional)').fill('UG')
    await page.getByLabel('Weight in kg (optional)').fill('2.5')
    await page.getByRole('button', { name: 'Create order' }).click()
    const number = page.getByTestId('tracking-number')
    await number.waitFor()
    trackingNumber = (await number.textContent())?.trim() ?? ''
    assert.match(trackingNumber, TRACKING_NUMBER)
    await page.getByText(`Its tracking number is ${trackingNumber}`).waitFor()
    await page.getByRole('cell', { name: 'created', exact: true }).waitFor()

    const actions = page.getByRole('region', { name: 'Status' }).getByRole('button')
    assert.deepEqual(
      await actions.allTextContents(),
      ['Confirm', 'Cancel order'],
      'PENDING → CONFIRMED | CANCELLED',
    )
    await shot(page, '04-order-created')
    await page.getByRole('button', { name: 'Confirm' }).click()
    await page.getByText('Status changed to CONFIRMED; an SMS to the customer is queued.').waitFor()
    await page.getByRole('cell', { name: 'CONFIRMED', exact: true }).waitFor() // its SMS
    assert.deepEqual(await actions.allTextContents(), ['Mark as shipped', 'Cancel order'])
    await shot(page, '05-order-detail')

    // Cancelling asks first; Escape takes the question back, and focus returns to the button.
    await page.getByRole('button', { name: 'Cancel order' }).click()
    await page.getByRole('button', { name: 'Yes, cancel the order' }).waitFor()
    await waitForFocus(page, 'Keep it')
    await page.keyboard.press('Escape')
    await page.getByRole('button', { name: 'Yes, cancel the order' }).waitFor({ state: 'detached' })
    await waitForFocus(page, 'Cancel order')
  })

  await t.test('orders: filters, and the tracking number in the table', async () => {
    await go(page, 'Orders', 'Orders')
    await page.getByRole('link', { name: trackingNumber }).waitFor()
    await page.getByLabel('Status').selectOption('PENDING')
    await page.getByText('No order matches.').waitFor()
    await page.getByLabel('Status').selectOption('CONFIRMED')
    await page.getByRole('link', { name: trackingNumber }).waitFor()
    await shot(page, '06-orders')

    // Filters the API refuses: each message beside its field, and no rows of the last good filter.
    await page.getByLabel('From (UTC day)').fill('2026-01-10')
    await page.getByLabel('To (UTC day)').fill('2026-01-01')
    await page.locator('#order-to-error').getByText('must not be before start_date').waitFor()
    assert.equal(await page.getByLabel('To (UTC day)').getAttribute('aria-invalid'), 'true')
    await page.getByRole('alert').getByText('Please correct the marked filters.').waitFor()
    assert.equal(await page.locator('tbody tr').count(), 0, 'no stale rows under a failed filter')
    await shot(page, '06-orders-bad-filter')
    await page.getByRole('button', { name: 'Clear filters' }).click()
    await page.getByRole('link', { name: trackingNumber }).waitFor()
    assert.equal(await page.locator('#order-to-error').count(), 0)

    // A customer code typed in lowercase is looked up in capitals.
    await page.getByLabel('Customer code').fill('amani01')
    await page.keyboard.press('Enter')
    await page.waitForURL((url) => url.searchParams.get('customer_code') === 'AMANI01')
    await page.getByRole('link', { name: trackingNumber }).waitFor()
    assert.equal(await page.getByLabel('Customer code').inputValue(), 'AMANI01')
  })

  await t.test('orders: a column header sorts the whole list on the server, across pages', async () => {
    // 24 more orders, through the API, in an order unlike their amounts: 25 in all, two pages of 20.
    const amounts = Array.from({ length: 24 }, (_, i) => `${((i * 7) % 24) + 1}.25`)
    const headers = { 'content-type': 'application/json', ...(await bearer('operator')) }
    for (const [i, amount] of amounts.entries()) {
      const body = JSON.stringify({ customer_code: 'AMANI01', item: `Sorted ${i}`, amount })
      const res = await fetch(`${base}/api/orders/`, { method: 'POST', headers, body })
      assert.equal(res.status, 201, await res.text())
    }
    const ascending = [...amounts, '1250.50'].sort((x, y) => Number(x) - Number(y))

    await go(page, 'Orders', 'Orders')
    const amountHeader = page.getByRole('columnheader', { name: 'Amount' })
    const placedHeader = page.getByRole('columnheader', { name: 'Placed' })
    assert.equal(await placedHeader.getAttribute('aria-sort'), 'descending', 'newest first by default')
    assert.equal(await amountHeader.getAttribute('aria-sort'), null)

    await amountHeader.getByRole('button', { name: 'Amount' }).click()
    await page.waitForURL(/[?&]ordering=amount(&|$)/)
    await waitForColumn(page, 'Amount', ascending.slice(0, 20))
    assert.equal(await amountHeader.getAttribute('aria-sort'), 'ascending')
    assert.equal(await placedHeader.getAttribute('aria-sort'), null)
    assert.equal(await page.locator('caption').textContent(), 'Orders, sorted by Amount, ascending')
    await shot(page, '06-orders-sorted')

    // Page 2 continues the same order: the sort is the list's, not the page's.
    await page.getByRole('button', { name: 'Next' }).click()
    await page.waitForURL(/[?&]page=2(&|$)/)
    await waitForColumn(page, 'Amount', ascending.slice(20))
    // The last page disables Next: focus moves to Previous rather than being lost.
    await waitForFocus(page, 'Previous')

    // Each page and sort is a step Back undoes.
    await page.goBack()
    await page.waitForURL(
      (url) => url.searchParams.get('ordering') === 'amount' && !url.searchParams.has('page'),
    )
    await waitForColumn(page, 'Amount', ascending.slice(0, 20))
    await page.goBack()
    await page.waitForURL((url) => url.pathname === '/admin/orders' && url.search === '')
    await page.goForward()
    await page.goForward()
    await page.waitForURL(/[?&]page=2(&|$)/)
    await waitForColumn(page, 'Amount', ascending.slice(20))

    // From the keyboard: the button toggles to descending and goes back to page 1; focus stays on it.
    await amountHeader.getByRole('button').focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(
      (url) => url.searchParams.get('ordering') === '-amount' && !url.searchParams.has('page'),
    )
    await waitForColumn(page, 'Amount', [...ascending].reverse().slice(0, 20))
    assert.equal(await amountHeader.getAttribute('aria-sort'), 'descending')
    assert.equal(await page.evaluate('document.activeElement.textContent'), 'Amount▼')
    await page.getByRole('link', { name: trackingNumber }).waitFor() // 1250.50, the largest, comes first
  })

  await t.test('tracking numbers: issue one, catch a typo before any request, look one up', async () => {
    await go(page, 'Tracking', 'Tracking numbers')
    const loadedAt = Date.now()
    const issue = page.getByRole('region', { name: 'Issue a number' })
    const createdAt = issue.getByLabel('Order created at')
    const customerId = issue.getByLabel('Customer ID (UUID)')
    const firstCreatedAt = await createdAt.inputValue()
    await issue.getByLabel('Weight in kg').fill('-1')
    await issue.getByLabel('Origin country').fill('XX')
    await issue.getByRole('button', { name: 'Issue tracking number' }).click()
    await page.locator('#issue-weight-error').waitFor()
    await page.locator('#issue-origin_country_id-error').getByText('ISO 3166-1').waitFor()
    await shot(page, '07-tracking-issue-errors')
    await issue.getByLabel('Origin country').fill('MY')
    await issue.getByLabel('Destination country').fill('ID')
    await issue.getByLabel('Weight in kg').fill('1.234')
    // The slug and the customer id follow the name; accents are not word breaks.
    const firstId = await customerId.inputValue()
    await issue.getByLabel('Customer name').fill('Café Ünïcode')
    assert.equal(await issue.getByLabel('Customer slug').inputValue(), 'cafe-unicode')
    const cafeId = await customerId.inputValue()
    assert.notEqual(cafeId, firstId, 'another name, another customer id')
    await issue.getByLabel('Customer name').fill('RedBox Logistics')
    assert.equal(await issue.getByLabel('Customer slug').inputValue(), 'redbox-logistics')
    const redboxId = await customerId.inputValue()
    assert.notEqual(redboxId, cafeId)
    // created_at is shown to the second: let the clock move past the one set at load.
    await page.waitForTimeout(Math.max(0, 1100 - (Date.now() - loadedAt)))
    const issuedAt = Date.now()
    await issue.getByRole('button', { name: 'Issue tracking number' }).click()
    const issuedNumber = ((await issue.locator('.tracking-number').textContent()) ?? '').trim()
    assert.match(issuedNumber, TRACKING_NUMBER)
    // The next order is created now, for the same customer (same name, same id).
    await waitUntil(page, `document.getElementById('issue-created_at').value !== '${firstCreatedAt}'`)
    assert.ok(Date.parse(await createdAt.inputValue()) >= issuedAt - 1000, 'created at: now')
    assert.equal(await customerId.inputValue(), redboxId)
    // An id typed by hand stays when the name changes.
    const ownId = '0b8a4c1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b'
    await customerId.fill(ownId)
    await issue.getByLabel('Customer name').fill('RedBox Logistics Ltd')
    assert.equal(await customerId.inputValue(), ownId)

    const lookup = page.getByRole('region', { name: 'Look up a number' })
    await lookup.getByLabel('Tracking number').fill(withTypo(issuedNumber).toLowerCase())
    await lookup.getByText('This number has a typo').waitFor()
    await lookup.getByRole('button', { name: 'Look up' }).click()
    await shot(page, '08-tracking-typo')
    assert.deepEqual(lookups, [], 'a mistyped number is never sent')

    await lookup.getByLabel('Tracking number').fill(issuedNumber)
    await lookup.getByText('The check character matches.').waitFor()
    await lookup.getByRole('button', { name: 'Look up' }).click()
    await lookup.getByText('RedBox Logistics').waitFor()
    assert.equal(lookups.length, 1)
    const ordered = (await lookup.locator('dt:text-is("Ordered") + dd').textContent()) ?? ''
    assert.doesNotMatch(ordered, /\d{4}-\d{2}-\d{2}T/, 'formatted like Issued, not ISO')
    await shot(page, '09-tracking-found')

    // Another number, mistyped: the earlier number's result goes.
    await lookup.getByLabel('Tracking number').fill(withTypo(issuedNumber))
    await lookup.getByText('This number has a typo').waitFor()
    assert.equal(await lookup.locator('.result').count(), 0, 'no stale result under a new number')

    // The order's number is found too, with the order's progress.
    await lookup.getByLabel('Tracking number').fill(trackingNumber)
    await lookup.getByRole('button', { name: 'Look up' }).click()
    await lookup.locator('.result .badge', { hasText: 'CONFIRMED' }).waitFor()
  })

  await t.test('users: list, create, disable', async () => {
    await go(page, 'Users', 'Users')
    await page.getByRole('cell', { name: 'ops.admin' }).waitFor()
    await page.getByLabel('Username').fill('ops.jane')
    await page.getByLabel('Password').fill('another long password')
    await page.getByLabel('Role').selectOption('operator')
    await page.getByRole('button', { name: 'Create user' }).click()
    await page.getByText('User ops.jane (operator) created.').waitFor()
    // Disabling asks first; Escape or "Keep enabled" takes the question back, focus on the button.
    await page.getByRole('button', { name: 'Disable ops.jane' }).click()
    await page.getByText('Disable ops.jane? Their tokens are revoked at once.').waitFor()
    await waitForFocus(page, 'Keep enabled')
    await page.keyboard.press('Escape')
    await waitForFocus(page, 'Disable ops.jane')
    await page.getByRole('button', { name: 'Disable ops.jane' }).click()
    await page.getByRole('button', { name: 'Yes, disable ops.jane' }).click()
    await page.getByRole('button', { name: 'Enable ops.jane' }).waitFor()
    await shot(page, '10-users')
  })

  await t.test('dashboard, wide and at phone width', async () => {
    await go(page, 'Dashboard', 'Dashboard')
    await page.getByText('Issued in total').waitFor()
    await page.getByRole('img', { name: /Numbers issued per minute/ }).waitFor()
    await shot(page, '11-dashboard')
    await page.setViewportSize({ width: 390, height: 844 })
    await shot(page, '12-dashboard-phone')
    await go(page, 'Orders', 'Orders')
    await shot(page, '13-orders-phone')
    // No header row on phones: a select sorts, and the hidden sort buttons take no focus.
    await page.getByLabel('Sort by').selectOption({ label: 'Amount, ascending' })
    await page.waitForURL((url) => url.searchParams.get('ordering') === 'amount')
    await page.locator('tbody td[data-label="Amount"]').first().getByText('1.25').waitFor()
    const focusable = await page.evaluate(`[...document.querySelectorAll('button.sort')]
      .filter((button) => { button.focus(); return document.activeElement === button }).length`)
    assert.equal(focusable, 0, 'no sort button takes focus on a phone')
    await page.setViewportSize({ width: 1280, height: 860 })
    assert.equal(await page.getByLabel('Sort by').isVisible(), false, 'wide screens sort by the headers')
  })

  await t.test('the access token is refreshed before it expires', async () => {
    if (!refreshes.includes(200)) {
      await page.waitForResponse((r) => r.url().includes('/api/token/refresh/'), { timeout: 15_000 })
    }
    assert.ok(refreshes.length >= 1 && refreshes.every((status) => status === 200), `refreshes: ${refreshes}`)
    await go(page, 'Customers', 'Customers')
    await page.getByRole('cell', { name: 'AMANI01' }).waitFor()
  })

  await t.test('a refresh that fails ends the session', async () => {
    const stored = JSON.parse(String(await page.evaluate('sessionStorage.getItem("waybill.session")')))
    // Someone else spends the page's refresh token first: the page's own refresh is then a reuse,
    // the server revokes the whole login, and the page must sign out rather than carry on.
    const stolen = await fetch(`${base}/api/token/refresh/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh: stored.refresh }),
    })
    assert.equal(stolen.status, 200)
    await page.getByText('Your session has ended. Please sign in again.').waitFor({ timeout: 15_000 })
    await shot(page, '14-session-ended')
    assert.equal(await page.evaluate('sessionStorage.length'), 0)
    await page.getByLabel('Username').fill('ops.admin')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { level: 1, name: 'Customers' }).waitFor() // back where it was
  })

  await t.test('sign out revokes the session', async () => {
    const stored = JSON.parse(String(await page.evaluate('sessionStorage.getItem("waybill.session")')))
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByText('You have signed out.').waitFor()
    assert.equal(await page.evaluate('sessionStorage.length'), 0)
    const reuse = await fetch(`${base}/api/token/refresh/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh: stored.refresh }),
    })
    assert.equal(reuse.status, 401, 'the refresh token was revoked')
    await shot(page, '15-signed-out')
    assert.equal(page.url(), `${base}/admin/`, 'the next user starts at the start page')
  })

  await t.test('the next user starts at the start page; a page above their role says so', async () => {
    const headers = { 'content-type': 'application/json', ...(await bearer('admin')) }
    const body = JSON.stringify({ username: 'ops.kim', password: PASSWORD, role: 'operator' })
    const created = await fetch(`${base}/api/users/`, { method: 'POST', headers, body })
    assert.equal(created.status, 201, await created.text())
    await page.getByLabel('Username').fill('ops.kim')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    await page.goto(`${base}/admin/users`)
    await page.getByText('This page needs the admin role; you are signed in as an operator.').waitFor()
  })

  assert.deepEqual(problems, [], 'no script errors and no CSP violations')
})
