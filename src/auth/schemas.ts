import { type Static, Type } from '@sinclair/typebox'
import { ROLES } from './roles.js'

const RoleSchema = Type.Union(
  ROLES.map((role) => Type.Literal(role)),
  {
    description:
      'client issues and reads tracking numbers; operator also manages customers and orders; admin also manages users',
  },
)

export const LoginBody = Type.Object({
  // No format rules at login: the answer must not tell a malformed name from an unknown one.
  username: Type.String({ format: 'plain-text', minLength: 1, maxLength: 200 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
})
export type LoginBody = Static<typeof LoginBody>

export const RefreshBody = Type.Object({
  refresh: Type.String({
    minLength: 1,
    maxLength: 200,
    description: 'The refresh token from the last login or refresh',
  }),
})
export type RefreshBody = Static<typeof RefreshBody>

export const TokenPairReply = Type.Object({
  access: Type.String({
    description: 'A JWT for `Authorization: Bearer …`, valid for ACCESS_TOKEN_TTL_SECONDS',
  }),
  refresh: Type.String({ description: 'Single use: exchange it at /api/token/refresh/ for a new pair' }),
})

export const Username = Type.String({
  pattern: '^[a-z0-9][a-z0-9._@-]{2,63}$',
  description: '3 to 64 characters: lowercase letters, digits and . _ @ -',
  examples: ['ops.jane'],
})

export const CreateUserBody = Type.Object({
  username: Username,
  password: Type.String({
    minLength: 12,
    maxLength: 1024,
    pattern: '\\S', // something besides spaces: twelve of them are no password
    description: 'At least 12 characters, not only spaces',
  }),
  role: RoleSchema,
})
export type CreateUserBody = Static<typeof CreateUserBody>

export const UserParams = Type.Object({
  username: Type.String({ format: 'plain-text', minLength: 1, maxLength: 64 }),
})
export type UserParams = Static<typeof UserParams>

export const UpdateUserBody = Type.Object({ disabled: Type.Boolean() })
export type UpdateUserBody = Static<typeof UpdateUserBody>

export const UserReply = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  role: RoleSchema,
  disabled: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})

export const UserListReply = Type.Object({ results: Type.Array(UserReply) })

export const PrincipalReply = Type.Object({
  subject: Type.String(),
  name: Type.String(),
  role: Type.Union([RoleSchema, Type.Null()]),
  source: Type.Union([Type.Literal('waybill'), Type.Literal('oidc')]),
})
