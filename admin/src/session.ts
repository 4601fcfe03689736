// The signed-in user's tokens: in memory, and in sessionStorage so a reload keeps the session (never
// localStorage: the tokens end with the tab). The access token is refreshed shortly before it
// expires. Refresh tokens are single use and the server revokes the whole login when one comes back,
// so a refresh token is sent at most once: refreshes are serialized in this tab (one promise) and
// across tabs (a Web Lock), and a tab that shares a login with this one (a duplicated tab copies
// sessionStorage) adopts the new pair through a BroadcastChannel instead of refreshing it again.
import type { Static } from '@sinclair/typebox'
import type { Role } from '../../src/auth/roles.js'
import type { TokenPairReply } from '../../src/auth/schemas.js'

export type TokenPair = Static<typeof TokenPairReply>

export interface Session {
  access: string
  /** Empty once the refresh token has been spent without an answer: it is never sent again. */
  refresh: string
  name: string
  role: Role
  /** Milliseconds since the epoch, on this browser's clock. */
  expiresAt: number
  refreshAt: number
}

/** Why there is no session: shown on the sign-in page. */
export type SignedOutReason = 'signed-out' | 'expired' | null

const STORAGE_KEY = 'waybill.session'
const LOCK = 'waybill-token-refresh'
const ROLES: readonly string[] = ['client', 'operator', 'admin']

let current: Session | null = load()
let reason: SignedOutReason = null
let refreshing: Promise<Session | null> | null = null
let timer: number | undefined
const listeners = new Set<() => void>()
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('waybill-session') : null

function claimsOf(token: string): { exp?: number; iat?: number; name?: unknown; role?: unknown } {
  const payload = token.split('.')[1] ?? ''
  const binary = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))))
}

/** The token's lifetime is measured on the server's clock (exp − iat) and counted from now on ours. */
export function sessionFrom(pair: TokenPair, receivedAt = Date.now()): Session {
  const claims = claimsOf(pair.access)
  const role = String(claims.role)
  if (!ROLES.includes(role) || typeof claims.name !== 'string') throw new Error('unexpected token claims')
  const lifetime = Math.max(0, ((claims.exp ?? 0) - (claims.iat ?? 0)) * 1000)
  const margin = Math.min(60_000, lifetime / 5)
  return {
    ...pair,
    name: claims.name,
    role: role as Role,
    expiresAt: receivedAt + lifetime,
    refreshAt: receivedAt + lifetime - margin,
  }
}

function load(): Session | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null
    // An expired access token is fine while there is a refresh token: schedule() renews it at once.
    return stored && (stored.refresh || stored.expiresAt > Date.now()) ? stored : null
  } catch {
    return null
  }
}

function set(next: Session | null, why: SignedOutReason = null): void {
  current = next
  reason = next ? null : why
  if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next))
  else sessionStorage.removeItem(STORAGE_KEY)
  schedule()
  for (const listener of listeners) listener()
}

function schedule(): void {
  window.clearTimeout(timer)
  if (!current) return
  const session = current
  const at = session.refresh ? session.refreshAt : session.expiresAt
  timer = window.setTimeout(
    () => {
      if (current !== session) return
      if (session.refresh) void refreshSession().catch(() => {})
      else set(null, 'expired')
    },
    Math.max(0, at - Date.now()),
  )
}

export function getSession(): Session | null {
  return current
}

export function signedOutReason(): SignedOutReason {
  return reason
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export function startSession(pair: TokenPair): void {
  set(sessionFrom(pair))
}

async function post(path: string, body: unknown, access?: string): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(access ? { authorization: `Bearer ${access}` } : {}) },
    body: JSON.stringify(body),
    keepalive: true,
  })
}

async function exchange(before: Session): Promise<Session | null> {
  if (current !== before) return current // another tab refreshed this login, and this tab adopted it
  if (!before.refresh) return current
  // Spent from here on, whatever happens: a lost reply must not lead to sending it twice.
  const spent = { ...before, refresh: '' }
  current = spent
  let response: Response
  try {
    response = await post('/api/token/refresh/', { refresh: before.refresh })
  } catch (error) {
    set(spent) // keep working until the access token expires, then sign out
    throw error
  }
  if (response.status === 429) {
    // Refused before it was looked at: the token is unspent. Try again when the limit allows.
    const wait = Number(response.headers.get('retry-after')) || 5
    set({ ...before, refreshAt: Date.now() + wait * 1000 })
    return current
  }
  if (!response.ok) {
    set(null, 'expired')
    return null
  }
  const pair = (await response.json()) as TokenPair
  set(sessionFrom(pair))
  channel?.postMessage({ type: 'rotated', old: before.refresh, pair })
  return current
}

/** A new access token; at most one refresh at a time. Resolves null when the session has ended. */
export function refreshSession(): Promise<Session | null> {
  refreshing ??= (async () => {
    const before = current
    if (!before) return null
    const locks = navigator.locks
    return locks ? locks.request(LOCK, () => exchange(before)) : exchange(before)
  })().finally(() => {
    refreshing = null
  })
  return refreshing
}

/** Revokes the login on the server (best effort), then forgets it here. */
export async function signOut(): Promise<void> {
  const session = current
  if (!session) return
  try {
    if (session.refresh) await post('/api/token/revoke/', { refresh: session.refresh }, session.access)
  } catch {
    // Offline: the tokens are dropped here anyway and expire on their own.
  }
  channel?.postMessage({ type: 'signed-out', refresh: session.refresh })
  set(null, 'signed-out')
}

channel?.addEventListener('message', (event: MessageEvent) => {
  const message = event.data as { type: string; old?: string; refresh?: string; pair?: TokenPair }
  if (!current?.refresh) return
  if (message.type === 'rotated' && message.old === current.refresh && message.pair) {
    set(sessionFrom(message.pair))
  } else if (message.type === 'signed-out' && message.refresh === current.refresh) {
    set(null, 'signed-out')
  }
})

// Timers are throttled in background tabs: catch up as soon as the tab is seen again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') schedule()
})
schedule()
