import { decodeJwt } from 'jose'
import { AppError } from '../http/errors.js'
import type { OidcVerifier } from './oidc.js'
import type { Principal } from './roles.js'
import {
  type AccessClaims,
  type AccessTokens,
  claimedIssuer,
  ISSUER,
  invalidToken,
  principalOf,
  revokedSignIn,
} from './tokens.js'

interface Verified {
  principal: Principal
  /** Milliseconds since the epoch. */
  expiresAt: number
  claims?: AccessClaims
  /** Whether the cache still holds this entry (cleared when it is dropped or replaced). */
  cached?: boolean
  /** The revocations' version when this token was last found not revoked (see `version`). */
  clearedAt?: number
}

/** What a connection sent last, and the cache entry (under `key`) that answered it. */
interface LastSeen {
  header: string
  key: string
  verified: Verified
}

/**
 * Which of a user's access tokens are accepted: none while disabled, else those that carry the
 * current generation. Every disable starts a new, higher generation (the instant of the disable,
 * in ms, made strictly increasing), so tokens issued before it never work again, and tokens issued
 * after the re-enable work at once: equality, no clock comparison. A user never disabled has
 * generation 0.
 */
export interface TokenState {
  generation: number
  disabled: boolean
}

/**
 * Whether `a` comes after `b`. Within a generation a user can only go from disabled to enabled
 * (a disable always starts a new generation), so the states are totally ordered, and every
 * instance can keep the latest it has heard of, whatever order the news arrives in.
 */
export function isLater(a: TokenState, b: TokenState): boolean {
  return a.generation !== b.generation ? a.generation > b.generation : b.disabled && !a.disabled
}

/** What revokes Waybill access tokens before they expire. */
export interface Revocations {
  /** Token ids (`jti`) and sign-ins (`sid:<family>`) revoked and not yet expired. */
  revokedTokens(now: string): Promise<string[]>
  /** The token state of every user ever disabled; the others are at generation 0, enabled. */
  tokenStates(): Promise<Map<number, TokenState>>
}

/**
 * A change made in this process: a token or a sign-in revoked, or a user's new token state (a
 * disable or a re-enable).
 */
export type Revocation = { jti: string } | { sid: string } | ({ userId: number } & TokenState)

// The cache of verified tokens: bounded in entries and in bytes (a token's text, at one byte per
// character as V8 keeps ASCII, plus an estimate of its entry: principal, claims, map slot).
const CACHE_ENTRIES = 10_000
const CACHE_BYTES = 16 * 1024 * 1024
const ENTRY_BYTES = 600

export function missingToken(): AppError {
  return new AppError(
    'unauthorized',
    'A bearer token is required (Authorization: Bearer <token>)',
    {},
    {
      headers: { 'www-authenticate': 'Bearer' },
    },
  )
}

/**
 * Turns an Authorization header into a principal. A token's signature is verified once; later
 * requests with the same token cost a map lookup plus the revocation checks. The key is the token
 * in one spelling, `Bearer <token>`, not the header as sent: `bearer x`, `Bearer  x` and
 * `Bearer x ` are one entry, so one valid token cannot fill the cache with spellings of itself and
 * push other clients' out. (Keyed by that spelling rather than the bare token, the header most
 * clients send is the key itself: no slicing or parsing per request.) Revocations made in this process apply at
 * once; those made by other instances arrive with the next poll.
 */
export function createAuthenticator(deps: {
  tokens: AccessTokens
  oidc?: OidcVerifier
  revocations: Revocations
  pollIntervalMs: number
  onPollError: (error: unknown) => void
  cacheLimits?: { entries: number; bytes: number }
}) {
  const limits = deps.cacheLimits ?? { entries: CACHE_ENTRIES, bytes: CACHE_BYTES }
  const cache = new Map<string, Verified>()
  let cacheBytes = 0
  const sizeOf = (key: string) => key.length + ENTRY_BYTES

  function forget(key: string): void {
    const verified = cache.get(key)
    if (verified === undefined) return
    verified.cached = false
    cache.delete(key)
    cacheBytes -= sizeOf(key)
  }

  function remember(key: string, verified: Verified): void {
    forget(key)
    // Oldest first (a Map iterates in insertion order) until the new entry fits both bounds.
    while (cache.size > 0 && (cache.size >= limits.entries || cacheBytes + sizeOf(key) > limits.bytes))
      forget(cache.keys().next().value as string)
    verified.cached = true
    cache.set(key, verified)
    cacheBytes += sizeOf(key)
  }
  // A client sends the same header on every request of a keep-alive connection. Looking a fresh
  // header string up hashes all of it (a token is hundreds of characters); comparing it with the
  // one the connection sent before costs less, and finds the same entry.
  const lastSeen = new WeakMap<object, LastSeen>()
  let revoked = new Set<string>()
  let users = new Map<number, TokenState>()
  // Made here since the last poll began: a poll that read the database just before must not undo
  // them. Applying one again is harmless: revocations only add, and a user keeps their later state.
  let recent: Revocation[] = []
  // Changes whenever `revoked` or `users` do: a token found not revoked at this version still is.
  let version = 0

  async function verify(token: string): Promise<Verified> {
    if (claimedIssuer(token) === ISSUER || !deps.oidc) {
      const claims = await deps.tokens.verify(token)
      return { principal: principalOf(claims), expiresAt: claims.expiresAt * 1000, claims }
    }
    const principal = await deps.oidc.verify(token)
    // Verified just now, and the verifier requires `exp`.
    const { exp } = decodeJwt(token)
    return { principal, expiresAt: (exp ?? 0) * 1000 }
  }

  function isRevoked({ claims }: Verified): boolean {
    if (!claims) return false
    if (revoked.has(claims.jti) || revoked.has(revokedSignIn(claims.sid))) return true
    const user = users.get(claims.userId)
    if (!user) return (claims.generation ?? 0) !== 0
    if (user.disabled) return true
    // Tokens signed before the generation claim existed: by time, as they were then.
    if (claims.generation === undefined) return claims.issuedAt * 1000 <= user.generation
    return claims.generation !== user.generation
  }

  function apply(revocation: Revocation): void {
    version++
    if ('jti' in revocation) revoked.add(revocation.jti)
    else if ('sid' in revocation) revoked.add(revokedSignIn(revocation.sid))
    else {
      const { userId, generation, disabled } = revocation
      const known = users.get(userId)
      if (!known || isLater(revocation, known)) users.set(userId, { generation, disabled })
    }
  }

  async function poll(): Promise<void> {
    const local = recent
    recent = []
    try {
      const [tokens, states] = await Promise.all([
        deps.revocations.revokedTokens(new Date().toISOString()),
        deps.revocations.tokenStates(),
      ])
      revoked = new Set(tokens)
      users = states
      version++
    } finally {
      // Whatever was made here during (or just before) the poll is applied again on top.
      for (const revocation of local) apply(revocation)
      for (const revocation of recent) apply(revocation)
    }
  }
  let timer: NodeJS.Timeout | undefined

  function tokenOf(header: string | undefined): string {
    if (!header) throw missingToken()
    // A JWS in compact form, strictly base64url: a token has one spelling (jose would take padding
    // or standard base64 too, each another key in the cache of verified tokens).
    const token = /^Bearer +([\w-]+\.[\w-]+\.[\w-]+)\s*$/i.exec(header)?.[1]
    if (!token) throw invalidToken()
    return token
  }

  const keyOf = (token: string) => `Bearer ${token}`

  function check(key: string, verified: Verified, forgetExpired = true): Verified {
    if (verified.expiresAt <= Date.now()) {
      if (forgetExpired) forget(key)
      throw invalidToken()
    }
    if (verified.clearedAt !== version) {
      if (isRevoked(verified)) throw invalidToken()
      verified.clearedAt = version
    }
    return verified
  }

  return {
    /**
     * The answer for a token verified before, without waiting (the common case: a client sends
     * the same token many times); undefined when it must be verified. Throws like authenticate().
     * `forgetExpired: false` (the issuing route's fast path, which hands what it refuses to
     * Fastify) leaves an expired token cached, for Fastify's call to refuse and drop it as usual.
     */
    known(header: string | undefined, connection?: object, forgetExpired = true): Verified | undefined {
      if (connection !== undefined) {
        const last = lastSeen.get(connection)
        if (last !== undefined && last.header === header && last.verified.cached)
          return check(last.key, last.verified, forgetExpired)
      }
      // Most headers are `Bearer <token>` exactly: the key itself. Every key is a header that
      // parsed, so a hit needs no other check; anything else is parsed, then looked up.
      let key = header
      let found = header === undefined ? undefined : cache.get(header)
      if (!found) {
        key = keyOf(tokenOf(header)) // throws for a missing or malformed header
        found = cache.get(key)
        if (!found) return undefined
      }
      const verified = check(key as string, found, forgetExpired)
      if (connection !== undefined)
        lastSeen.set(connection, { header: header as string, key: key as string, verified })
      return verified
    },

    /** Verifies `Authorization: Bearer <token>`; throws a 401 AppError otherwise. */
    async authenticate(header: string | undefined): Promise<Verified> {
      const token = tokenOf(header)
      const key = keyOf(token)
      let verified = cache.get(key)
      if (!verified) {
        verified = await verify(token)
        remember(key, verified)
      }
      return check(key, verified)
    },

    /** How much the cache of verified tokens holds (entries, and bytes as estimated). */
    cacheUsage(): { entries: number; bytes: number } {
      return { entries: cache.size, bytes: cacheBytes }
    },

    revoked(revocation: Revocation): void {
      apply(revocation)
      recent.push(revocation)
    },

    /** Loads the revocations, then keeps polling for them until stop(). */
    async start(): Promise<void> {
      await poll()
      timer = setInterval(() => poll().catch(deps.onPollError), deps.pollIntervalMs)
      timer.unref()
    },

    stop(): void {
      clearInterval(timer)
    },
  }
}
export type Authenticator = ReturnType<typeof createAuthenticator>
