import type { Config } from '../config.js'

// Africa's Talking SMS over the built-in fetch: one recipient per request, so one answer decides
// one notification. Every failure is turned into an outcome; send() never rejects.

export type GatewaySettings = NonNullable<Config['sms']['gateway']>

export type SendOutcome =
  | { kind: 'sent'; messageId: string; status: string; cost: string }
  /** operatorAction: retrying helps only once someone fixes the account (key, balance); log loudly. */
  | { kind: 'retry'; reason: string; operatorAction?: boolean }
  | { kind: 'permanent'; reason: string; operatorAction?: boolean }

export interface SmsGateway {
  send(sms: { to: string; message: string }): Promise<SendOutcome>
}

type Verdict = 'sent' | 'retry' | 'retry-operator' | 'permanent' | 'permanent-operator'

// Per-recipient status codes. Permanent means the same request would get the same answer, so a
// retry only costs money or, worse, delivers late what was meant for now.
const RECIPIENT_CODES: Record<number, Verdict> = {
  100: 'sent', // Processed
  101: 'sent', // Sent
  102: 'sent', // Queued: accepted; a retry would send it twice
  // RiskHold: AT's fraud checks hold the message (and may release it): a retry could duplicate it
  // and makes the account look riskier still.
  401: 'permanent',
  // InvalidSenderId: configuration; every message fails alike until AT_SENDER_ID is fixed, and
  // then all of them should go: retried without using up attempts, like a bad API key.
  402: 'retry-operator',
  403: 'permanent', // InvalidPhoneNumber: a property of the recipient
  404: 'permanent', // UnsupportedNumberType: idem
  405: 'retry-operator', // InsufficientBalance: goes through once the account is topped up
  406: 'permanent', // UserInBlacklist: the recipient opted out; resending would break that choice
  407: 'permanent', // CouldNotRoute: no route to that network, not a passing fault
  409: 'permanent', // DoNotDisturbRejection: a regulatory refusal, the same on every try
  500: 'retry', // InternalServerError
  501: 'retry', // GatewayError
  502: 'retry', // RejectedByGateway: the carrier's gateway, often a passing refusal
}

interface RecipientAnswer {
  statusCode?: unknown
  status?: unknown
  cost?: unknown
  messageId?: unknown
}

function recipientOf(body: unknown): RecipientAnswer | undefined {
  if (typeof body !== 'object' || body === null || !('SMSMessageData' in body)) return undefined
  const data = body.SMSMessageData
  if (typeof data !== 'object' || data === null || !('Recipients' in data)) return undefined
  const recipients = data.Recipients
  if (!Array.isArray(recipients)) return undefined
  const first: unknown = recipients[0]
  return typeof first === 'object' && first !== null ? (first as RecipientAnswer) : {}
}

function classifyRecipient(recipient: RecipientAnswer): SendOutcome {
  const code = Number(recipient.statusCode)
  const label = `Africa's Talking ${code} ${String(recipient.status ?? 'unknown status')}`
  // An empty Recipients list ("Sent to 0/1") or a code we do not know: nothing says the message
  // went out, so it is retried, within the attempt limit.
  const verdict = RECIPIENT_CODES[code] ?? 'retry'
  switch (verdict) {
    case 'sent':
      return {
        kind: 'sent',
        messageId: String(recipient.messageId ?? ''),
        status: String(recipient.status ?? ''),
        cost: String(recipient.cost ?? ''),
      }
    case 'retry':
      return { kind: 'retry', reason: recipient.statusCode === undefined ? 'no recipient in answer' : label }
    case 'retry-operator':
      return { kind: 'retry', reason: label, operatorAction: true }
    case 'permanent':
      return { kind: 'permanent', reason: label }
    case 'permanent-operator':
      return { kind: 'permanent', reason: label, operatorAction: true }
  }
}

async function classifyResponse(response: Response): Promise<SendOutcome> {
  const text = await response.text()
  const excerpt = text.slice(0, 200).replace(/\s+/g, ' ').trim()
  // Never followed (see send): the gateway did not take the message, and AT_BASE_URL most likely
  // points at the wrong place (http for https, an old host). Retried without using up attempts,
  // like a bad key, so nothing is lost while an operator fixes the setting.
  if ((response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect') {
    const location = response.headers.get('location')
    return {
      kind: 'retry',
      reason: `HTTP ${response.status} redirect${location ? ` to ${location}` : ''} not followed (check AT_BASE_URL)`,
      operatorAction: true,
    }
  }
  if (response.status === 401) {
    // A bad or revoked API key: an operator fixing it must not find the messages gone.
    return {
      kind: 'retry',
      reason: `HTTP 401 (check AT_USERNAME and AT_API_KEY): ${excerpt}`,
      operatorAction: true,
    }
  }
  // 408 and 429 are the server asking us to come back later; 5xx are its own faults.
  if (response.status >= 500 || response.status === 408 || response.status === 429) {
    return { kind: 'retry', reason: `HTTP ${response.status}: ${excerpt}` }
  }
  if (!response.ok) return { kind: 'permanent', reason: `HTTP ${response.status}: ${excerpt}` }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const recipient = recipientOf(body)
  // A success status with an unreadable body: the gateway probably took the message, and a retry
  // could send it twice. It fails visibly instead (last_error says why).
  if (!recipient)
    return { kind: 'permanent', reason: `HTTP ${response.status} with an unreadable body: ${excerpt}` }
  return classifyRecipient(recipient)
}

function describeError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`
  }
  // fetch wraps the socket error ("fetch failed"); its cause names it (ECONNREFUSED, ECONNRESET…).
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined
  const code = cause && 'code' in cause ? ` (${String(cause.code)})` : ''
  return `${error instanceof Error ? error.message : String(error)}${cause ? `: ${cause.message}` : ''}${code}`
}

export function createSmsGateway(
  settings: GatewaySettings,
  options: { fetch?: typeof fetch } = {},
): SmsGateway {
  const fetchFn = options.fetch ?? fetch
  const url = `${settings.baseUrl.replace(/\/+$/, '')}/version1/messaging`
  // Whatever the gateway echoes back, the key never reaches a log line or the database.
  const redact = (text: string) => text.split(settings.apiKey).join('***')

  return {
    async send({ to, message }) {
      const form = new URLSearchParams({ username: settings.username, to, message })
      if (settings.senderId) form.set('from', settings.senderId)
      let outcome: SendOutcome
      try {
        const response = await fetchFn(url, {
          method: 'POST',
          headers: {
            apiKey: settings.apiKey,
            Accept: 'application/json',
            'Content-Type': 'application/x-www-form-urlencoded',
          },
          body: form.toString(),
          // A redirect would carry the apiKey header and the customer's number and text to
          // wherever it points: never followed.
          redirect: 'manual',
          // Covers the body too: a gateway that stalls mid-answer is a timeout as well.
          signal: AbortSignal.timeout(settings.timeoutMs),
        })
        outcome = await classifyResponse(response)
      } catch (error) {
        // Network errors and timeouts. The gateway may have taken a request it never answered;
        // retrying risks a duplicate, giving up risks a loss, and a late SMS beats a lost one.
        outcome = { kind: 'retry', reason: describeError(error, settings.timeoutMs) }
      }
      return outcome.kind === 'sent' ? outcome : { ...outcome, reason: redact(outcome.reason) }
    },
  }
}
