import { createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto'
import { decodeJwt, jwtVerify, SignJWT } from 'jose'
import type { Database } from '../db/index.js'
import { claimSetting } from '../db/settings.js'
import { AppError } from '../http/errors.js'
import { isRole, type Principal, type Role } from './roles.js'

export const ISSUER = 'waybill'
const AUDIENCE = 'waybill'
const SECRET_SETTING = 'auth.secret_key'

/**
 * The key that signs Waybill's access tokens: derived from SECRET_KEY, or (outside production,
 * where config.ts requires SECRET_KEY) from a secret generated at first start and kept in the
 * database, so that restarts and every instance on the database accept the same tokens.
 */
export async function resolveSigningKey(db: Database, configured: string | undefined): Promise<Uint8Array> {
  return signingKeyFrom(
    configured ?? (await claimSetting(db, SECRET_SETTING, randomBytes(32).toString('hex'))),
  )
}

export function signingKeyFrom(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, '', 'waybill access tokens v1', 32))
}

export interface AccessClaims {
  userId: number
  username: string
  role: Role
  jti: string
  /** The sign-in (refresh token family) the token belongs to: revoking it revokes the token. */
  sid: string
  /**
   * The user's token generation when the token was issued (see TokenState); undefined for tokens
   * signed before the claim existed.
   */
  generation?: number
  /** Seconds since the epoch. */
  issuedAt: number
  /** Seconds since the epoch. */
  expiresAt: number
}

/** How a revoked sign-in is listed among the revoked token ids: revoking it revokes its tokens. */
export function revokedSignIn(sid: string): string {
  return `sid:${sid}`
}

export function createAccessTokens(key: Uint8Array, ttlSeconds: number) {
  return {
    ttlSeconds,
    /**
     * `sid`: the sign-in; scripts' tokens (the CLI's) get one of their own. `tokenGeneration`: the
     * user's, as read before deciding they may have a token (0: never disabled).
     */
    async sign(
      user: { id: number; username: string; role: Role; tokenGeneration?: number },
      sid: string = randomUUID(),
    ): Promise<string> {
      return new SignJWT({ name: user.username, role: user.role, sid, gen: user.tokenGeneration ?? 0 })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(String(user.id))
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key)
    },

    /** Checks signature, algorithm, issuer, audience and expiry; any failure is the same 401. */
    async verify(token: string): Promise<AccessClaims> {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          requiredClaims: ['exp', 'iat', 'jti', 'sub'],
        })
        const userId = Number(payload.sub)
        const { name, role, sid, gen } = payload
        if (
          !Number.isSafeInteger(userId) ||
          typeof name !== 'string' ||
          typeof role !== 'string' ||
          !isRole(role) ||
          typeof sid !== 'string' ||
          (gen !== undefined && !(Number.isSafeInteger(gen) && (gen as number) >= 0))
        ) {
          throw new Error('unexpected claims')
        }
        return {
          userId,
          username: name,
          role,
          jti: payload.jti as string,
          sid,
          generation: gen as number | undefined,
          issuedAt: payload.iat as number,
          expiresAt: payload.exp as number,
        }
      } catch {
        throw invalidToken()
      }
    },
  }
}
export type AccessTokens = ReturnType<typeof createAccessTokens>

export function principalOf(claims: AccessClaims): Principal {
  return { subject: `user:${claims.userId}`, name: claims.username, role: claims.role, source: 'waybill' }
}

/** The issuer a token claims, unverified: only to choose which verifier to try. */
export function claimedIssuer(token: string): string | undefined {
  try {
    const { iss } = decodeJwt(token)
    return iss
  } catch {
    return undefined
  }
}

export function invalidToken(): AppError {
  return new AppError(
    'unauthorized',
    'The bearer token is invalid or expired',
    {},
    {
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    },
  )
}

/** A new refresh token: 32 random bytes; only its hash is stored. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url')
  return { token, hash: hashRefreshToken(token) }
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
