import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { errorReplies } from '../http/errors.js'
import { NoListQuery } from '../http/pagination.js'
import type { RateLimit } from '../http/rate-limit.js'
import type { Authenticator } from './authenticator.js'
import {
  CreateUserBody,
  LoginBody,
  PrincipalReply,
  RefreshBody,
  TokenPairReply,
  UpdateUserBody,
  UserListReply,
  UserParams,
  UserReply,
} from './schemas.js'
import type { AuthService } from './service.js'

const errors = errorReplies(400, 401, 429)
const adminErrors = errorReplies(400, 401, 403, 429)

export async function authRoutes(
  parent: FastifyInstance,
  options: {
    service: AuthService
    authenticator: Authenticator
    loginRateLimit: RateLimit
  },
) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { service, authenticator } = options

  app.post(
    '/api/token',
    {
      config: { auth: 'public', rateLimit: options.loginRateLimit },
      schema: {
        tags: ['auth'],
        summary: 'Sign in: a username and password for an access and a refresh token',
        security: [],
        body: LoginBody,
        response: { 200: TokenPairReply, ...errors },
      },
    },
    async (request) => service.login(request.body.username, request.body.password),
  )

  app.post(
    '/api/token/refresh',
    {
      config: { auth: 'public', rateLimit: options.loginRateLimit },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (the old one stops working)',
        description:
          'Presenting a refresh token a second time revokes every token descended from the same login.',
        security: [],
        body: RefreshBody,
        response: { 200: TokenPairReply, ...errors },
      },
    },
    async (request) => service.refresh(request.body.refresh),
  )

  app.post(
    '/api/token/revoke',
    {
      config: { auth: 'public', rateLimit: options.loginRateLimit },
      schema: {
        tags: ['auth'],
        summary: 'Sign out: revoke the refresh token (and the access token, if sent as the bearer)',
        security: [],
        body: RefreshBody,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const header = request.headers.authorization
      // The access token is optional here; an expired or foreign one is simply not revoked.
      const access = header ? await authenticator.authenticate(header).catch(() => undefined) : undefined
      await service.revoke(request.body.refresh, access?.claims)
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/api/me',
    {
      config: { auth: 'client' },
      schema: {
        tags: ['auth'],
        summary: 'Who the bearer token belongs to',
        response: { 200: PrincipalReply, ...errors },
      },
    },
    async (request) => request.principal,
  )

  app.get(
    '/api/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'List users',
        querystring: NoListQuery,
        response: { 200: UserListReply, ...adminErrors },
      },
    },
    async () => ({ results: await service.listUsers() }),
  )

  app.post(
    '/api/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Create a user',
        body: CreateUserBody,
        response: { 201: UserReply, ...adminErrors },
      },
    },
    async (request, reply) => {
      const { username, password, role } = request.body
      return reply.code(201).send(await service.createUser(username, password, role))
    },
  )

  app.patch(
    '/api/users/:username',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Disable or enable a user (disabling revokes their tokens)',
        description:
          'Tokens issued before a disable stay refused after a re-enable; the user signs in again. ' +
          'Disabling the last enabled admin is refused with 409 (the CLI can still do it).',
        params: UserParams,
        body: UpdateUserBody,
        response: {
          200: UserReply,
          404: Type.Ref('ErrorEnvelope'),
          409: Type.Ref('ErrorEnvelope'),
          ...adminErrors,
        },
      },
    },
    async (request) =>
      service.setDisabled(request.params.username, request.body.disabled, { keepAnAdmin: true }),
  )
}
