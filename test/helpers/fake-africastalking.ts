import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// A local stand-in for Africa's Talking's SMS API, speaking its wire protocol: a form-encoded POST
// to /version1/messaging with an apiKey header in, 201 with SMSMessageData out. Tests program how
// it answers, request by request.

export interface SmsRequest {
  username: string
  to: string
  message: string
  from: string | undefined
  apiKey: string | undefined
  at: number
}

export type FakeReply =
  /** 201 with this per-recipient statusCode (101 Sent, 403 InvalidPhoneNumber, ...). */
  | { recipient: number }
  | { http: number; body?: string; headers?: Record<string, string> }
  | { slowMs: number; then?: FakeReply }
  | { destroy: true }

const STATUS_NAMES: Record<number, string> = {
  100: 'Processed',
  101: 'Success',
  102: 'Queued',
  401: 'RiskHold',
  402: 'InvalidSenderId',
  403: 'InvalidPhoneNumber',
  404: 'UnsupportedNumberType',
  405: 'InsufficientBalance',
  406: 'UserInBlacklist',
  407: 'CouldNotRoute',
  409: 'DoNotDisturbRejection',
  500: 'InternalServerError',
  501: 'GatewayError',
  502: 'RejectedByGateway',
}

export interface FakeAfricasTalking {
  baseUrl: string
  apiKey: string
  requests: SmsRequest[]
  /** Replies for the next requests, in order; after them, `behaviour` (default: 101 Sent). */
  queue(...replies: FakeReply[]): void
  behaviour: (request: SmsRequest, index: number) => FakeReply
  close(): Promise<void>
}

let nextMessageId = 1

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function answer(res: ServerResponse, request: SmsRequest, reply: FakeReply, timers: Set<NodeJS.Timeout>) {
  if ('destroy' in reply) {
    res.socket?.destroy()
    return
  }
  if ('slowMs' in reply) {
    const timer = setTimeout(() => {
      timers.delete(timer)
      if (!res.destroyed) answer(res, request, reply.then ?? { recipient: 101 }, timers)
    }, reply.slowMs)
    timers.add(timer)
    return
  }
  if ('http' in reply) {
    res
      .writeHead(reply.http, { 'content-type': 'text/plain', ...reply.headers })
      .end(reply.body ?? 'Internal Server Error')
    return
  }
  const sent = reply.recipient >= 100 && reply.recipient <= 102
  const numbers = request.to.split(',')
  sendJson(res, 201, {
    SMSMessageData: {
      Message: `Sent to ${sent ? numbers.length : 0}/${numbers.length} Total Cost: KES ${sent ? '0.8000' : '0'}`,
      Recipients: numbers.map((number) => ({
        statusCode: reply.recipient,
        number,
        status: STATUS_NAMES[reply.recipient] ?? 'Unknown',
        cost: sent ? 'KES 0.8000' : '0',
        messageId: sent ? `ATXid_${nextMessageId++}` : 'None',
      })),
    },
  })
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startFakeAfricasTalking(
  apiKey = 'atsk_test_key_0123456789abcdef',
): Promise<FakeAfricasTalking> {
  const pending: FakeReply[] = []
  const timers = new Set<NodeJS.Timeout>()
  const fake: FakeAfricasTalking = {
    baseUrl: '',
    apiKey,
    requests: [],
    queue: (...replies) => pending.push(...replies),
    behaviour: () => ({ recipient: 101 }),
    close: async () => {
      for (const timer of timers) clearTimeout(timer)
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }

  const server = createServer((req, res) => {
    res.on('error', () => {}) // the client may hang up on a slow answer
    readBody(req).then(
      (body) => handle(req, res, body),
      () => res.socket?.destroy(),
    )
  })

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    if (req.method !== 'POST' || req.url !== '/version1/messaging') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found')
      return
    }
    const key = req.headers.apikey
    const form = new URLSearchParams(body)
    const request: SmsRequest = {
      username: form.get('username') ?? '',
      to: form.get('to') ?? '',
      message: form.get('message') ?? '',
      from: form.get('from') ?? undefined,
      apiKey: Array.isArray(key) ? key[0] : key,
      at: Date.now(),
    }
    const index = fake.requests.push(request) - 1
    // As the real gateway: a wrong key is a 401 with a plain-text body, before anything else.
    if (request.apiKey !== apiKey) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('The supplied authentication is invalid')
      return
    }
    // Without Accept: application/json the real gateway answers XML; make that mistake loud.
    if (req.headers.accept !== 'application/json') {
      res.writeHead(406, { 'content-type': 'text/plain' }).end('expected Accept: application/json')
      return
    }
    if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      res.writeHead(415, { 'content-type': 'text/plain' }).end('expected a form body')
      return
    }
    if (!request.username || !request.to || !request.message) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('username, to and message are required')
      return
    }
    answer(res, request, pending.shift() ?? fake.behaviour(request, index), timers)
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return fake
}
