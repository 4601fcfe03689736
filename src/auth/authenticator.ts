import { decodeJwt } from 'jose'
import { AppError } from '../errors.js'
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
}

/** What revokes Waybill access tokens before they expire. */
export interface Revocations {
  /** Token ids (`jti`) and sign-ins (`sid:<family>`) revoked and not yet expired. */
  revokedTokens(now: string): Promise<string[]>
  /** Per user, the instant (ms) before which their tokens are refused; Infinity while disabled. */
  tokenCutoffs(): Promise<Map<number, number>>
}

/** One revocation made in this process: a token, a sign-in, or a user's tokens issued before `before`. */
export type Revocation = { jti: string } | { sid: string } | { userId: number; before: number }

const CACHE_SIZE = 10_000

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
 * requests with the same header cost a map lookup plus the revocation checks (the header is the
 * cache key, so a changed token is a miss). Revocations made in this process apply at
 * once; those made by other instances arrive with the next poll.
 */
export function createAuthenticator(deps: {
  tokens: AccessTokens
  oidc?: OidcVerifier
  revocations: Revocations
  pollIntervalMs: number
  onPollError: (error: unknown) => void
}) {
  const cache = new Map<string, Verified>()
  let revoked = new Set<string>()
  let cutoffs = new Map<number, number>()
  // Made here since the last poll began: a poll that read the database just before must not undo them.
  let recent: Revocation[] = []

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
    const cutoff = cutoffs.get(claims.userId)
    return (
      revoked.has(claims.jti) ||
      revoked.has(revokedSignIn(claims.sid)) ||
      (cutoff !== undefined && claims.issuedAt * 1000 <= cutoff)
    )
  }

  function apply(revocation: Revocation): void {
    if ('jti' in revocation) revoked.add(revocation.jti)
    else if ('sid' in revocation) revoked.add(revokedSignIn(revocation.sid))
    else cutoffs.set(revocation.userId, Math.max(cutoffs.get(revocation.userId) ?? 0, revocation.before))
  }

  async function poll(): Promise<void> {
    const local = recent
    recent = []
    try {
      const [tokens, users] = await Promise.all([
        deps.revocations.revokedTokens(new Date().toISOString()),
        deps.revocations.tokenCutoffs(),
      ])
      revoked = new Set(tokens)
      cutoffs = users
    } finally {
      // Whatever was made here during (or just before) the poll is applied again on top.
      for (const revocation of local) apply(revocation)
      for (const revocation of recent) apply(revocation)
    }
  }
  let timer: NodeJS.Timeout | undefined

  function tokenOf(header: string | undefined): string {
    if (!header) throw missingToken()
    const token = /^Bearer +([^\s]+)\s*$/i.exec(header)?.[1]
    if (!token) throw invalidToken()
    return token
  }

  function check(header: string, verified: Verified): Verified {
    if (verified.expiresAt <= Date.now()) {
      cache.delete(header)
      throw invalidToken()
    }
    if (isRevoked(verified)) throw invalidToken()
    return verified
  }

  return {
    /**
     * The answer for a token verified before, without waiting (the common case: a client sends
     * the same token many times); undefined when it must be verified. Throws like authenticate().
     */
    known(header: string | undefined): Verified | undefined {
      // Keyed by the header as sent: a client repeats it byte for byte, so no parsing per request.
      const verified = header === undefined ? undefined : cache.get(header)
      if (verified) return check(header as string, verified)
      tokenOf(header) // throws for a missing or malformed header
      return undefined
    },

    /** Verifies `Authorization: Bearer <token>`; throws a 401 AppError otherwise. */
    async authenticate(header: string | undefined): Promise<Verified> {
      const token = tokenOf(header)
      const key = header as string
      let verified = cache.get(key)
      if (!verified) {
        verified = await verify(token)
        if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
        cache.set(key, verified)
      }
      return check(key, verified)
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
