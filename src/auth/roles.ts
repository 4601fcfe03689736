// Roles are ordered: each one may do everything the roles before it may.
export const ROLES = ['client', 'operator', 'admin'] as const
export type Role = (typeof ROLES)[number]

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value)
}

/** Whether `role` may do what `required` may. */
export function allows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required)
}

/** Who made a request: a Waybill user or an OpenID Connect client. */
export interface Principal {
  /** `user:<id>` for Waybill users, `oidc:<sub>` for OpenID Connect tokens: unique across both. */
  subject: string
  /** Display name: the username, or the provider's `sub` / `client_id`. */
  name: string
  /** The highest role the token grants; null when it grants none (every route then answers 403). */
  role: Role | null
  source: 'waybill' | 'oidc'
}
