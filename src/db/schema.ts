import type { Generated } from 'kysely'
import type { Role } from '../auth/roles.js'

// Row types of every table, as Kysely sees them. Timestamps are ISO 8601 UTC strings in both
// dialects, so ordering and range filters work the same on SQLite and PostgreSQL.

export interface CountersTable {
  name: string
  next_value: number
  /** PostgreSQL: the server timeline of the last reservation (null elsewhere, and before the first). */
  timeline: number | null
}

export interface SettingsTable {
  name: string
  value: string
}

export interface TrackingNumbersTable {
  sequence: number
  tracking_number: string
  uuid: string
  // Null: not sent (TRACKING_REQUIRED_FIELDS, or POST /tracking/generate from an older client).
  origin_country: string | null
  destination_country: string | null
  weight_grams: number | null
  order_created_at: string | null
  customer_id: string | null
  customer_name: string | null
  customer_slug: string | null
  created_at: string
  /**
   * Null: this row holds its request's columns. Else the sequence of its request's first number,
   * whose row holds them; the seven request columns here are then null (migration 0011).
   */
  request_sequence: number | null
}

export interface IdempotencyKeysTable {
  key: string
  request_hash: string
  /** The issued sequence values, comma-separated, in order. */
  sequences: string
  created_at: string
}

export interface UsersTable {
  id: Generated<number>
  username: string
  password_hash: string
  role: Role
  /** 0 or 1. */
  disabled: number
  tokens_valid_after: string | null
  created_at: string
  updated_at: string
}

export interface RefreshTokensTable {
  token_hash: string
  family_id: string
  user_id: number
  created_at: string
  expires_at: string
  used_at: string | null
  revoked_at: string | null
  /** The user's tokens_valid_after at sign-in: the token works only while it is still theirs. */
  generation: string | null
}

export interface RevokedTokensTable {
  /** An access token's jti, or `sid:<family>` for every access token of one sign-in. */
  token_id: string
  expires_at: string
}

export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'failed'

/** The SMS outbox; a row is claimed by one worker at a time through claim_token and claimed_until. */
export interface NotificationsTable {
  id: Generated<number>
  order_id: number
  event: string
  recipient: string
  message: string
  status: NotificationStatus
  attempts: number
  /** When a worker may next pick the row up; for a claimed row, when its claim expires. */
  next_attempt_at: string
  claim_token: string | null
  claimed_until: string | null
  last_error: string | null
  message_id: string | null
  cost: string | null
  created_at: string
  updated_at: string
  sent_at: string | null
}

export interface CustomersTable {
  id: Generated<number>
  name: string
  /** Uppercase letters and digits, unique. */
  code: string
  /** E.164, unique. */
  phone_number: string
  email: string | null
  created_at: string
  updated_at: string
}

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'SHIPPED' | 'DELIVERED' | 'CANCELLED'

export interface OrdersTable {
  id: Generated<number>
  customer_id: number
  item: string
  /** Minor units (cents). */
  amount_minor: number
  origin_country: string | null
  destination_country: string | null
  weight_grams: number | null
  tracking_sequence: number
  tracking_number: string
  status: OrderStatus
  order_time: string
  updated_at: string
}

export interface IssueCountsTable {
  /** The minute's start, ISO 8601 UTC. */
  minute: string
  instance: string
  count: number
}

export interface Tables {
  counters: CountersTable
  settings: SettingsTable
  tracking_numbers: TrackingNumbersTable
  /** A view (migration 0011): every number with its request's columns, for people and reports. */
  tracking_records: Omit<TrackingNumbersTable, 'request_sequence'>
  idempotency_keys: IdempotencyKeysTable
  users: UsersTable
  refresh_tokens: RefreshTokensTable
  revoked_tokens: RevokedTokensTable
  notifications: NotificationsTable
  customers: CustomersTable
  orders: OrdersTable
  issue_counts: IssueCountsTable
}
