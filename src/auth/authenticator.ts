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
} from './tokens.js'

interface Verified {
  principal: Principal
  /** Milliseconds since the epoch. */
  expiresAt: number
  claims?: AccessClaims
}

export interface Revocations {
  revokedAccessTokens(now: string): Promise<string[]>
  disabledUserIds(): Promise<number[]>
}

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
 * requests with the same token string cost a map lookup plus the revocation checks (a token is
 * its own cache key, so a changed token is a miss). Revocations made in this process apply at
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
  let revokedJtis = new Set<string>()
  let disabledUsers = new Set<number>()

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

  function isRevoked(verified: Verified): boolean {
    const { claims } = verified
    return claims !== undefined && (revokedJtis.has(claims.jti) || disabledUsers.has(claims.userId))
  }

  async function poll(): Promise<void> {
    const [jtis, users] = await Promise.all([
      deps.revocations.revokedAccessTokens(new Date().toISOString()),
      deps.revocations.disabledUserIds(),
    ])
    revokedJtis = new Set(jtis)
    disabledUsers = new Set(users)
  }
  let timer: NodeJS.Timeout | undefined

  return {
    /** Verifies `Authorization: Bearer <token>`; throws a 401 AppError otherwise. */
    async authenticate(header: string | undefined): Promise<Verified> {
      if (!header) throw missingToken()
      const match = /^Bearer +([^\s]+)\s*$/i.exec(header)
      const token = match?.[1]
      if (!token) throw invalidToken()
      let verified = cache.get(token)
      if (!verified) {
        verified = await verify(token)
        if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
        cache.set(token, verified)
      }
      if (verified.expiresAt <= Date.now()) {
        cache.delete(token)
        throw invalidToken()
      }
      if (isRevoked(verified)) throw invalidToken()
      return verified
    },

    revoked(revocation: { jti?: string; userId?: number }): void {
      if (revocation.jti) revokedJtis.add(revocation.jti)
      if (revocation.userId !== undefined) disabledUsers.add(revocation.userId)
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
