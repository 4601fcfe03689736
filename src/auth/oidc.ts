import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose'
import { AppError } from '../http/errors.js'
import { type Principal, ROLES, type Role } from './roles.js'

/** Same shape as `Config['auth']['oidc']`. */
export interface OidcSettings {
  issuer: string
  audience: string
  roleClaim: string
  roleMap: Record<string, Role>
  timeoutMs: number
}

export interface OidcVerifier {
  verify(token: string): Promise<Principal>
}

// Asymmetric only: with an HMAC algorithm allowed, a public key could be used as the shared secret.
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
const CLOCK_TOLERANCE_SECONDS = 5
// A failed discovery is reported as is for this long, so an outage costs one request per interval.
const DISCOVERY_RETRY_MS = 5_000
// A token with an unknown kid refetches the key set at most this often: a rotation is seen within a
// second, and tokens with made-up kids cannot make us hammer the provider.
const JWKS_COOLDOWN_MS = 1_000
const JWKS_MAX_AGE_MS = 10 * 60_000

type Discovered = { issuer: string; jwks: JWTVerifyGetKey }

export function createOidcVerifier(
  settings: OidcSettings,
  options: { fetch?: typeof fetch } = {},
): OidcVerifier {
  const fetchImpl = options.fetch ?? fetch
  const base = settings.issuer.replace(/\/+$/, '')
  let discovery: Promise<Discovered> | undefined
  let retryAt = 0

  async function discover(): Promise<Discovered> {
    const response = await fetchImpl(`${base}/.well-known/openid-configuration`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(settings.timeoutMs),
    })
    if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`)
    const { issuer, jwks_uri: jwksUri } = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown }
    // The document's spelling of the issuer is the one its tokens carry in `iss`.
    if (typeof issuer !== 'string' || issuer.replace(/\/+$/, '') !== base) {
      throw new Error(`discovery names issuer ${JSON.stringify(issuer)}, not ${settings.issuer}`)
    }
    if (typeof jwksUri !== 'string') throw new Error('discovery names no jwks_uri')
    const remote = createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: settings.timeoutMs,
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      [customFetch]: fetchImpl,
    })
    // A key set that cannot be fetched or read is the provider's fault; a kid it lacks is the token's.
    const jwks: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token)
      } catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
          throw error
        }
        throw unreachable(error)
      }
    }
    return { issuer, jwks }
  }

  function discovered(): Promise<Discovered> {
    if (!discovery || (retryAt !== 0 && Date.now() >= retryAt)) {
      retryAt = 0
      discovery = discover().catch((cause: unknown) => {
        retryAt = Date.now() + DISCOVERY_RETRY_MS
        throw unreachable(cause)
      })
    }
    return discovery
  }

  return {
    async verify(token) {
      const { issuer, jwks } = await discovered()
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(token, jwks, {
          issuer,
          audience: settings.audience,
          algorithms: ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        }))
      } catch (error) {
        throw rejected(error)
      }
      // A token with no `sub` (some providers' client-credentials tokens) is its client's: its
      // subject says so, so a client never shares a subject (rate limit, Idempotency-Keys) with a
      // user whose `sub` happens to equal its id.
      const bySub = typeof payload.sub === 'string' && payload.sub !== ''
      const name = bySub ? payload.sub : payload.client_id
      if (typeof name !== 'string' || name === '') {
        throw new AppError('unauthorized', 'The token names no subject')
      }
      const subject = bySub ? `oidc:${name}` : `oidc-client:${name}`
      return { subject, name, role: highestRole(payload, settings), source: 'oidc' }
    },
  }
}

function unreachable(cause: unknown): AppError {
  const headers = { 'retry-after': String(DISCOVERY_RETRY_MS / 1000) }
  return new AppError('unavailable', 'The identity provider cannot be reached', {}, { cause, headers })
}

function rejected(error: unknown): unknown {
  if (!(error instanceof errors.JOSEError)) return error // already an AppError, or a bug
  if (error instanceof errors.JWTExpired) {
    return new AppError('unauthorized', 'The token has expired', {}, { cause: error })
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new AppError(
      'unauthorized',
      `The token's "${error.claim}" claim is not accepted`,
      {},
      { cause: error },
    )
  }
  return new AppError('unauthorized', 'The token is invalid', {}, { cause: error })
}

function highestRole(payload: JWTPayload, settings: OidcSettings): Role | null {
  const value = claim(payload, settings.roleClaim)
  const entries = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : []
  let best = -1
  for (const entry of entries) {
    const role =
      typeof entry === 'string' && Object.hasOwn(settings.roleMap, entry) && settings.roleMap[entry]
    if (role) best = Math.max(best, ROLES.indexOf(role))
  }
  return ROLES[best] ?? null
}

// `realm_access.roles` is a path into nested objects, but a claim may also be named with dots
// (Auth0's `https://example.com/roles`): the exact name wins.
function claim(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name]
  let value: unknown = payload
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined
    value = (value as Record<string, unknown>)[part]
  }
  return value
}
