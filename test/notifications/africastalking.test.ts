import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createServer } from 'node:net'
import { type TestContext, test } from 'node:test'
import {
  createSmsGateway,
  type GatewaySettings,
  type SendOutcome,
} from '../../src/notifications/africastalking.js'
import { type FakeReply, startFakeAfricasTalking } from '../helpers/fake-africastalking.js'

async function setup(t: TestContext, overrides: Partial<GatewaySettings> = {}) {
  const fake = await startFakeAfricasTalking()
  t.after(() => fake.close())
  const settings: GatewaySettings = {
    baseUrl: fake.baseUrl,
    username: 'sandbox',
    apiKey: fake.apiKey,
    senderId: 'WAYBILL',
    timeoutMs: 2_000,
    ...overrides,
  }
  return { fake, settings, gateway: createSmsGateway(settings) }
}

const sms = { to: '+254711000001', message: 'Your parcel is on its way' }

test('sends one form-encoded request with the credentials and reads the recipient answer', async (t) => {
  const { fake, gateway } = await setup(t)
  const outcome = await gateway.send(sms)
  assert.equal(outcome.kind, 'sent')
  assert.match(outcome.kind === 'sent' ? outcome.messageId : '', /^ATXid_\d+$/)
  assert.deepEqual(outcome.kind === 'sent' && [outcome.status, outcome.cost], ['Success', 'KES 0.8000'])
  assert.equal(fake.requests.length, 1)
  const [request] = fake.requests
  assert.deepEqual(
    { ...request, at: 0 },
    { username: 'sandbox', to: sms.to, message: sms.message, from: 'WAYBILL', apiKey: fake.apiKey, at: 0 },
  )
})

test('without a sender id, no from field is sent', async (t) => {
  const { fake, gateway } = await setup(t, { senderId: undefined })
  assert.equal((await gateway.send(sms)).kind, 'sent')
  assert.equal(fake.requests[0]?.from, undefined)
})

test('every per-recipient status code is classified', async (t) => {
  const { fake, gateway } = await setup(t)
  const expected: Record<number, SendOutcome['kind']> = {
    100: 'sent',
    101: 'sent',
    102: 'sent',
    401: 'permanent',
    402: 'retry', // InvalidSenderId: an operator fixes AT_SENDER_ID, then all of them go
    403: 'permanent',
    404: 'permanent',
    405: 'retry',
    406: 'permanent',
    407: 'permanent',
    409: 'permanent',
    500: 'retry',
    501: 'retry',
    502: 'retry',
  }
  for (const [code, kind] of Object.entries(expected)) {
    fake.queue({ recipient: Number(code) })
    const outcome = await gateway.send(sms)
    assert.equal(outcome.kind, kind, `statusCode ${code}`)
    if (outcome.kind !== 'sent') assert.match(outcome.reason, new RegExp(`^Africa's Talking ${code} \\w+$`))
  }
  fake.queue({ recipient: 403 })
  assert.deepEqual(await gateway.send(sms), {
    kind: 'permanent',
    reason: "Africa's Talking 403 InvalidPhoneNumber",
  })
  // No balance: retried, and an operator must top up, so the worker logs it loudly.
  fake.queue({ recipient: 405 })
  assert.deepEqual(await gateway.send(sms), {
    kind: 'retry',
    reason: "Africa's Talking 405 InsufficientBalance",
    operatorAction: true,
  })
})

test('HTTP answers: 5xx, 408 and 429 are retried, other 4xx are not, a garbled 201 is not', async (t) => {
  const { fake, gateway } = await setup(t)
  const cases: [FakeReply, SendOutcome['kind']][] = [
    [{ http: 500 }, 'retry'],
    [{ http: 503, body: 'Service Unavailable' }, 'retry'],
    [{ http: 429, body: 'Too Many Requests' }, 'retry'],
    [{ http: 408, body: 'Request Timeout' }, 'retry'],
    [{ http: 400, body: 'Bad Request' }, 'permanent'],
    [{ http: 201, body: '<xml>not json</xml>' }, 'permanent'],
  ]
  for (const [reply, kind] of cases) {
    fake.queue(reply)
    const outcome = await gateway.send(sms)
    assert.equal(outcome.kind, kind, JSON.stringify(reply))
  }
})

test('a bad API key (HTTP 401) is retried, flagged for an operator, and the key is never in the reason', async (t) => {
  const { fake } = await setup(t)
  const wrongKey = 'atsk_wrong_secret_value'
  const gateway = createSmsGateway({
    baseUrl: fake.baseUrl,
    username: 'sandbox',
    apiKey: wrongKey,
    senderId: undefined,
    timeoutMs: 2_000,
  })
  const outcome = await gateway.send(sms)
  assert.equal(outcome.kind, 'retry')
  assert.equal(outcome.kind === 'retry' && outcome.operatorAction, true)
  assert.match(outcome.kind === 'retry' ? outcome.reason : '', /^HTTP 401 .*authentication is invalid/)
  assert.equal(fake.requests[0]?.apiKey, wrongKey)
})

test('a gateway echoing the key in an error body does not leak it', async (t) => {
  const { fake, gateway } = await setup(t)
  fake.queue({ http: 500, body: `oops, key=${fake.apiKey}` })
  const outcome = await gateway.send(sms)
  assert.equal(outcome.kind, 'retry')
  assert.ok(outcome.kind === 'retry' && !outcome.reason.includes(fake.apiKey), 'key redacted')
  assert.match(outcome.kind === 'retry' ? outcome.reason : '', /key=\*\*\*/)
})

test('a slow gateway is a retry after timeoutMs, not a hang', async (t) => {
  const { fake, gateway } = await setup(t, { timeoutMs: 150 })
  fake.queue({ slowMs: 2_000 })
  const started = Date.now()
  const outcome = await gateway.send(sms)
  const elapsed = Date.now() - started
  assert.deepEqual(outcome, { kind: 'retry', reason: 'no answer within 150 ms' })
  assert.ok(elapsed >= 140 && elapsed < 1_000, `took ${elapsed} ms`)
  // An answer just inside the timeout is fine.
  fake.queue({ slowMs: 50 })
  assert.equal((await gateway.send(sms)).kind, 'sent')
})

test('a dropped connection and a refused one are retries', async (t) => {
  const { fake, gateway } = await setup(t)
  fake.queue({ destroy: true })
  const dropped = await gateway.send(sms)
  assert.equal(dropped.kind, 'retry')

  // A port nobody listens on: take one, then free it.
  const probe = createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => probe.once('listening', resolve))
  const address = probe.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise((resolve) => probe.close(resolve))
  const refused = await createSmsGateway({
    baseUrl: `http://127.0.0.1:${port}`,
    username: 'sandbox',
    apiKey: 'atsk_unused_key',
    senderId: undefined,
    timeoutMs: 2_000,
  }).send(sms)
  assert.equal(refused.kind, 'retry')
  assert.match(refused.kind === 'retry' ? refused.reason : '', /ECONNREFUSED/)
})

test('a redirect is never followed: no key, number or text leaves for its target; a retry for an operator', async (t) => {
  const { fake, gateway } = await setup(t)
  const hits: Array<{ method?: string; apiKey?: string | string[]; body: string }> = []
  const target = createHttpServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8')
    })
    req.on('end', () => {
      hits.push({ method: req.method, apiKey: req.headers.apikey, body })
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          SMSMessageData: { Recipients: [{ statusCode: 101, status: 'Success', messageId: 'x', cost: '0' }] },
        }),
      )
    })
  })
  target.listen(0, '127.0.0.1')
  await once(target, 'listening')
  t.after(() => {
    target.closeAllConnections()
    target.close()
  })
  const location = `http://127.0.0.1:${(target.address() as AddressInfo).port}/version1/messaging`
  for (const status of [301, 302, 307, 308]) {
    fake.queue({ http: status, body: '', headers: { location } })
    const outcome = await gateway.send(sms)
    assert.ok(outcome.kind === 'retry', `HTTP ${status}: ${outcome.kind}`)
    assert.equal(outcome.operatorAction, true)
    assert.match(outcome.reason, new RegExp(`HTTP ${status} redirect.*AT_BASE_URL`))
  }
  assert.deepEqual(hits, [])
})
