import type { Config } from '../config.js'
import type { Database } from '../db/index.js'
import { createAuthenticator } from './authenticator.js'
import { createOidcVerifier } from './oidc.js'
import { createAuthRepository } from './repository.js'
import { createAuthService } from './service.js'
import { createAccessTokens, resolveSigningKey } from './tokens.js'

// How soon a logout or a disabled user made on another instance takes effect here.
const REVOCATION_POLL_MS = 5_000
const CLEANUP_MS = 60 * 60_000

/** Users, Waybill's tokens, OpenID Connect, and the authenticator that checks every request. */
export async function createAuth(deps: {
  db: Database
  config: Pick<Config, 'auth'>
  log: { warn(object: unknown, message?: string): void }
}) {
  const { db, config, log } = deps
  const repository = createAuthRepository(db)
  const tokens = createAccessTokens(
    await resolveSigningKey(db, config.auth.secretKey),
    config.auth.accessTtlSeconds,
  )
  const authenticator = createAuthenticator({
    tokens,
    oidc: config.auth.oidc && createOidcVerifier(config.auth.oidc),
    revocations: repository,
    pollIntervalMs: REVOCATION_POLL_MS,
    onPollError: (error) => log.warn({ err: error }, 'could not load token revocations'),
  })
  const service = createAuthService({
    repository,
    tokens,
    refreshTtlSeconds: config.auth.refreshTtlSeconds,
    onRevoked: (revocation) => authenticator.revoked(revocation),
    onReuse: () => log.warn({}, 'a used refresh token was presented again: its whole family is revoked'),
  })
  const cleanup = setInterval(() => {
    repository
      .deleteExpired(new Date().toISOString())
      .catch((error) => log.warn({ err: error }, 'could not delete expired tokens'))
  }, CLEANUP_MS).unref()

  return {
    service,
    authenticator,
    close(): void {
      clearInterval(cleanup)
      authenticator.stop()
    },
  }
}
