import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createOrderRepository } from '../../src/orders/repository.js'
import { build, openDatabase, type TestApp, testEnv } from '../helpers/build.js'
import { startFakeAfricasTalking } from '../helpers/fake-africastalking.js'
import { createOrder, withCustomer } from '../helpers/orders.js'

const gateway = await startFakeAfricasTalking()
after(() => gateway.close())

function smsEnv(): Record<string, string> {
  return {
    AT_USERNAME: 'sandbox',
    AT_API_KEY: gateway.apiKey,
    AT_SENDER_ID: 'WAYBILL',
    AT_BASE_URL: gateway.baseUrl,
    SMS_POLL_INTERVAL_MS: '50',
    SMS_RETRY_BASE_MS: '20',
    SMS_TIMEOUT_MS: '2000',
  }
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 5_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const sentTo = (phone: string) => gateway.requests.filter((r) => r.to === phone)

async function notifications(app: TestApp, id: number) {
  return (await app.inject({ url: `/api/orders/${id}/notifications/` })).json().results as Array<{
    event: string
    status: string
    attempts: number
    message_id: string | null
    last_error: string | null
  }>
}

test('creating an order and changing its status each send one SMS through the gateway', async (t) => {
  const app = await build(t, smsEnv(), { as: 'operator' })
  const phone = '+254722000101'
  await withCustomer(app, { name: 'Acme', code: 'SMS001', phone_number: phone })
  const created = await createOrder(app, { customer_code: 'SMS001', item: 'Solar lamp', amount: '12.00' })
  const [first] = await until('the first SMS', () => (sentTo(phone).length === 1 ? sentTo(phone) : undefined))
  assert.equal(first?.username, 'sandbox')
  assert.equal(first?.from, 'WAYBILL')
  assert.match(first?.message ?? '', new RegExp(`Solar lamp.*PENDING.*${created.tracking_number}`))

  await app.inject({ method: 'PATCH', url: `/api/orders/${created.id}/`, payload: { status: 'CONFIRMED' } })
  await until('the second SMS', () => (sentTo(phone).length === 2 ? true : undefined))
  assert.match(sentTo(phone)[1]?.message ?? '', /is now CONFIRMED/)
  const rows = await until('both recorded as sent', async () => {
    const list = await notifications(app, created.id)
    return list.every((n) => n.status === 'sent') ? list : undefined
  })
  assert.deepEqual(
    rows.map((n) => [n.event, n.attempts]),
    [
      ['created', 1],
      ['CONFIRMED', 1],
    ],
  )
  assert.ok(rows.every((n) => n.message_id))
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.equal(sentTo(phone).length, 2, 'and nothing more')
})

test('a long item is shortened on whole characters: the gateway gets no U+FFFD', async (t) => {
  const app = await build(t, smsEnv(), { as: 'operator' })
  const phone = '+254722000105'
  await withCustomer(app, { name: 'Emoji', code: 'SMS005', phone_number: phone })
  // slice(0, 59) would cut the first emoji in half (code units 58 and 59).
  const item = `${'a'.repeat(58)}😀 café au lait e\u0301 👩🏽‍🚀`
  const created = await createOrder(app, { customer_code: 'SMS005', item, amount: '1.00' })
  assert.equal(created.item, item, 'the order keeps the whole item')
  const [sent] = await until('the SMS', () => (sentTo(phone).length === 1 ? sentTo(phone) : undefined))
  const [stored] = await openDatabase(t, app.databaseUrl)
    .selectFrom('notifications')
    .select('message')
    .execute()
  assert.equal(stored?.message, sent?.message, 'the gateway got exactly what the outbox holds')
  assert.ok(!sent?.message.includes('\ufffd'), sent?.message)
  assert.ok(sent?.message.includes(`"${'a'.repeat(58)}…"`), sent?.message)
})

test('a gateway error is retried; an invalid number is not', async (t) => {
  const app = await build(t, smsEnv(), { as: 'operator' })
  await withCustomer(app, { name: 'Retry', code: 'SMS002', phone_number: '+254722000102' })
  await withCustomer(app, { name: 'Invalid', code: 'SMS003', phone_number: '+254722000103' })
  gateway.behaviour = (request) => {
    if (request.to === '+254722000103') return { recipient: 403 }
    return request.to === '+254722000102' && sentTo('+254722000102').length < 3
      ? { http: 500 }
      : { recipient: 101 }
  }
  t.after(() => {
    gateway.behaviour = () => ({ recipient: 101 })
  })
  const retried = await createOrder(app, { customer_code: 'SMS002', item: 'x', amount: '1' })
  const invalid = await createOrder(app, { customer_code: 'SMS003', item: 'y', amount: '1' })
  const [sent] = await until('sent after retries', async () => {
    const list = await notifications(app, retried.id)
    return list[0]?.status === 'sent' ? list : undefined
  })
  assert.equal(sent?.attempts, 3)
  const [failed] = await until('failed for good', async () => {
    const list = await notifications(app, invalid.id)
    return list[0]?.status === 'failed' ? list : undefined
  })
  assert.equal(failed?.attempts, 1)
  assert.match(failed?.last_error ?? '', /InvalidPhoneNumber/)
})

test('a restart loses nothing: what was pending is sent by the next process, once', async (t) => {
  // The first process has no gateway credentials: the SMS waits in the outbox.
  const first = await build(t, {}, { as: 'operator' })
  const phone = '+254722000104'
  await withCustomer(first, { name: 'Later', code: 'SMS004', phone_number: phone })
  const created = await createOrder(first, { customer_code: 'SMS004', item: 'Kettle', amount: '3.50' })
  await first.close()
  assert.equal(sentTo(phone).length, 0)

  const second = await buildApp(loadConfig(testEnv(first.databaseUrl, smsEnv())))
  t.after(() => second.close())
  await second.ready()
  await until('the pending SMS', () => (sentTo(phone).length === 1 ? true : undefined))
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(sentTo(phone).length, 1)
  assert.match(sentTo(phone)[0]?.message ?? '', new RegExp(created.tracking_number))
})

test('an order and its notification are one transaction: if one fails, neither is stored', async (t) => {
  const app = await build(t, {}, { as: 'operator' })
  const customer = await withCustomer(app)
  const db = openDatabase(t, app.databaseUrl)
  const repository = createOrderRepository(db)
  await assert.rejects(
    repository.create(
      {
        customerId: customer.id,
        item: 'Doomed',
        amountMinor: 100,
        origin: null,
        destination: null,
        weightGrams: null,
        trackingSequence: 999_999_999,
        trackingNumber: 'DOOMED0000000000',
        now: new Date().toISOString(),
      },
      // NOT NULL violation in the outbox insert, after the order insert succeeded.
      { event: 'created', recipient: '+254722000000', message: null as unknown as string },
    ),
  )
  assert.equal((await db.selectFrom('orders').selectAll().execute()).length, 0)
  assert.equal((await db.selectFrom('notifications').selectAll().execute()).length, 0)
})
