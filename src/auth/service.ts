import { randomUUID } from 'node:crypto'
import { AppError } from '../http/errors.js'
import type { Revocation } from './authenticator.js'
import { hashPassword, verifyAgainstNothing, verifyPassword } from './passwords.js'
import type { Account, AuthRepository, User } from './repository.js'
import type { Role } from './roles.js'
import { type AccessClaims, type AccessTokens, hashRefreshToken, newRefreshToken } from './tokens.js'

export interface TokenPair {
  access: string
  refresh: string
}

export interface AuthServiceDeps {
  repository: AuthRepository
  tokens: AccessTokens
  refreshTtlSeconds: number
  /**
   * Told at once of revocations (and re-enables) made here; other instances learn of them by
   * polling.
   */
  onRevoked?: (revocation: Revocation) => void
  /** Warned when a used refresh token comes back: a sign that it was stolen. */
  onReuse?: () => void
}

// The same answer for an unknown user, a wrong password and a disabled account.
const badCredentials = () => new AppError('unauthorized', 'Invalid username or password')
const badRefresh = () => new AppError('unauthorized', 'The refresh token is invalid, expired or revoked')

export function createAuthService(deps: AuthServiceDeps) {
  const { repository, tokens } = deps
  const refreshExpiry = (now: Date) => new Date(now.getTime() + deps.refreshTtlSeconds * 1000).toISOString()
  // Revocations last until the last access token they cover has expired.
  const accessExpiry = (now: Date) => new Date(now.getTime() + tokens.ttlSeconds * 1000).toISOString()

  async function issuePair(
    user: Pick<Account, 'id' | 'username' | 'role' | 'tokenGeneration'>,
    familyId: string,
    now: Date,
  ) {
    const refresh = newRefreshToken()
    await repository.insertRefreshToken({
      hash: refresh.hash,
      familyId,
      userId: user.id,
      generation: user.tokenGeneration,
      now: now.toISOString(),
      expiresAt: refreshExpiry(now),
    })
    return { access: await tokens.sign(user, familyId), refresh: refresh.token }
  }

  return {
    async login(username: string, password: string): Promise<TokenPair> {
      const user = await repository.findUserByUsername(username)
      if (!user) {
        await verifyAgainstNothing(password)
        throw badCredentials()
      }
      const valid = await verifyPassword(password, user.password_hash)
      if (!valid || user.disabled) throw badCredentials()
      return issuePair(user, randomUUID(), new Date())
    },

    async refresh(token: string): Promise<TokenPair> {
      const now = new Date()
      const next = newRefreshToken()
      const outcome = await repository.rotateRefreshToken(
        hashRefreshToken(token),
        { hash: next.hash, expiresAt: refreshExpiry(now) },
        now.toISOString(),
        accessExpiry(now),
      )
      if (outcome.kind === 'reused') {
        deps.onRevoked?.({ sid: outcome.familyId })
        deps.onReuse?.()
      }
      if (outcome.kind !== 'rotated') throw badRefresh()
      return { access: await tokens.sign(outcome.user, outcome.familyId), refresh: next.token }
    },

    /**
     * Sign-out: the refresh token's family and every access token of that sign-in are revoked
     * (and the access token sent with the request, if it belongs to another sign-in), in one
     * transaction. An unknown refresh token is refused and revokes nothing: a failed request has
     * no effect.
     */
    async revoke(refreshToken: string, access?: AccessClaims): Promise<void> {
      const now = new Date()
      const familyId = await repository.signOut(
        hashRefreshToken(refreshToken),
        now.toISOString(),
        accessExpiry(now),
        access && {
          jti: access.jti,
          sid: access.sid,
          expiresAt: new Date(access.expiresAt * 1000).toISOString(),
        },
      )
      if (!familyId) throw badRefresh()
      deps.onRevoked?.({ sid: familyId })
      if (access && access.sid !== familyId) deps.onRevoked?.({ jti: access.jti })
    },

    async createUser(username: string, password: string, role: Role): Promise<User> {
      return repository.insertUser({
        username,
        passwordHash: await hashPassword(password),
        role,
        now: new Date().toISOString(),
      })
    },

    listUsers: () => repository.listUsers(),
    hasUsers: () => repository.hasUsers(),

    /**
     * Disables (for good: their tokens so far never work again) or re-enables a user. With
     * `keepAnAdmin` (the API), the last enabled admin cannot be disabled; the CLI can do anything.
     */
    async setDisabled(
      username: string,
      disabled: boolean,
      options: { keepAnAdmin?: boolean } = {},
    ): Promise<User> {
      const outcome = await repository.setDisabled(username, disabled, new Date().toISOString(), options)
      if (outcome.kind === 'not_found') throw new AppError('not_found', `No user named ${username}`)
      if (outcome.kind === 'last_admin') {
        throw new AppError(
          'conflict',
          'The last enabled admin cannot be disabled: enable or create another admin first',
          { disabled: [`${username} is the last enabled admin`] },
        )
      }
      deps.onRevoked?.({ userId: outcome.user.id, ...outcome.tokens })
      return outcome.user
    },

    /** An access token for a user, for scripts (the CLI's `token` command). */
    async accessTokenFor(username: string): Promise<string> {
      const user = await repository.findUserByUsername(username)
      if (!user) throw new AppError('not_found', `No user named ${username}`)
      if (user.disabled) throw new AppError('forbidden', `User ${username} is disabled`)
      return tokens.sign(user)
    },
  }
}
export type AuthService = ReturnType<typeof createAuthService>
