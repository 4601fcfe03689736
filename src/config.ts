import { existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, join } from 'node:path'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isRole, ROLES, type Role } from './auth/roles.js'
import { parsePostgresUrl } from './db/postgres-hosts.js'
import { ISSUE_FIELDS, type IssueField, isIssueField, LANE_FIELDS } from './tracking/fields.js'

// Every setting Waybill reads, in one schema: defaults, types and limits live here and nowhere else.
export const DEFAULT_DATABASE_URL = 'sqlite:data/waybill.db'

const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
  }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
  DATABASE_URL: Type.String({ minLength: 1, default: DEFAULT_DATABASE_URL }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  // Milliseconds stay below 2^31: Node's timers fire at once beyond it.
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 2_000 }),
  DATABASE_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 5_000 }),
  // PostgreSQL: issue numbers only while the primary has a synchronous standby attached (503 otherwise).
  DATABASE_REQUIRE_SYNC_STANDBY: Type.Boolean({ default: false }),
  TRACKING_KEY: Type.Optional(Type.String()),
  TRACKING_FORMAT: Type.Union([Type.Literal('default'), Type.Literal('route')], { default: 'default' }),
  // The issue fields a request must carry, comma-separated, or none; unset: all of them.
  TRACKING_REQUIRED_FIELDS: Type.Optional(Type.String()),
  TRACKING_BLOCK_MIN: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
  TRACKING_BLOCK_MAX: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  TRACKING_BLOCK_SECONDS: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 2 }),
  COMMIT_MAX_BATCH: Type.Integer({ minimum: 1, maximum: 10_000, default: 2_000 }),
  // Unset: 1 on PostgreSQL and MySQL, 0 on SQLite (src/tracking/recorder.ts, gatherMs).
  COMMIT_GATHER_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  IDEMPOTENCY_TTL_HOURS: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 366 * 10, default: 24 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 10_000 }),
  WEB_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 1 }),
  // The proxies whose X-Forwarded-For is believed: true (any), or addresses and CIDR ranges.
  TRUST_PROXY: Type.String({ default: '' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 100 * 1024 * 1024, default: 1024 * 1024 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 30_000 }),
  CORS_ALLOWED_ORIGINS: Type.String({ default: '' }),
  // GET /next-tracking-number answered without Fastify's lifecycle where it can be (src/tracking/fast-route.ts).
  ISSUE_FAST_PATH: Type.Boolean({ default: true }),

  // Authentication.
  SECRET_KEY: Type.Optional(Type.String()),
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 10, maximum: 86_400, default: 900 }),
  REFRESH_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 366 * 86_400, default: 14 * 86_400 }),
  // The first user's password in production (elsewhere one is generated into a file when unset).
  BOOTSTRAP_ADMIN_PASSWORD: Type.Optional(Type.String()),
  OIDC_ISSUER: Type.Optional(Type.String({ pattern: '^https?://' })),
  OIDC_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  OIDC_ROLE_CLAIM: Type.String({ minLength: 1, default: 'scope' }),
  OIDC_ROLE_MAP: Type.String({
    minLength: 1,
    default: 'waybill:admin=admin,waybill:operator=operator,waybill:client=client',
  }),
  OIDC_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 5_000 }),

  // Rate limiting: per client (token subject, else address), shared through Redis when set.
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 100_000 }),
  RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  LOGIN_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 10 }),

  // SMS through Africa's Talking.
  AT_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  AT_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  AT_SENDER_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 11 })),
  AT_BASE_URL: Type.String({ pattern: '^https?://', default: 'https://api.sandbox.africastalking.com' }),
  SMS_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 10_000 }),
  // Rides out a gateway outage of hours: the 40 waits between 41 attempts (2 s doubling to 512 s,
  // then 31 at the 15-minute cap, each between half and all of its step) add up to 4 h at least,
  // 6 h on average and 8 h at most. Past that, `npm run cli -- sms retry --failed` resends.
  SMS_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 41 }),
  SMS_RETRY_BASE_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 2_000 }),
  SMS_RETRY_MAX_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 15 * 60_000 }),
  SMS_POLL_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 2_147_483_647, default: 1_000 }),
  SMS_CLAIM_TIMEOUT_MS: Type.Integer({ minimum: 1_000, maximum: 2_147_483_647, default: 60_000 }),
  SMS_WORKER: Type.Boolean({ default: true }),
})
type Env = Static<typeof EnvSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export type DatabaseTarget =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string }
  | { kind: 'mysql'; url: string }

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const sqlite = /^(?:sqlite|file):(?:\/\/)?(.+)$/.exec(url)
  if (sqlite?.[1]) return { kind: 'sqlite', path: sqlite[1] }
  if (/^postgres(?:ql)?:\/\//.test(url)) {
    try {
      parsePostgresUrl(url)
    } catch (error) {
      throw new ConfigError(`DATABASE_URL: ${(error as Error).message} in "${redactUrl(url)}"`)
    }
    return { kind: 'postgres', url }
  }
  // mariadb:// is the same protocol: mysql2 takes it once the scheme reads mysql.
  const mysql = /^(?:mysql|mariadb):\/\/(.*)$/.exec(url)
  if (mysql) {
    const normalized = `mysql://${mysql[1]}`
    if (!URL.canParse(normalized) || new URL(normalized).pathname.length <= 1) {
      throw new ConfigError(
        `DATABASE_URL: expected mysql://USER:PASSWORD@HOST:PORT/DATABASE but got "${redactUrl(url)}"`,
      )
    }
    return { kind: 'mysql', url: normalized }
  }
  throw new ConfigError(
    `DATABASE_URL: expected sqlite:PATH, file:PATH, postgres://…, mysql://… or mariadb://… but got "${redactUrl(url)}"`,
  )
}

// 32 bytes as 64 hex characters, or as base64/base64url (43-44 characters).
export function parseTrackingKey(value: string): Buffer {
  const trimmed = value.trim()
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64url')
      : undefined
  if (key?.length !== 32) {
    throw new ConfigError(
      'TRACKING_KEY: must be 32 random bytes, as 64 hex characters or base64 (try `openssl rand -hex 32`)',
    )
  }
  return key
}

const MIN_SECRET_KEY_LENGTH = 32

/** `SECRET_KEY`: required and long in production; elsewhere a missing key is generated and stored. */
function parseSecretKey(value: string | undefined, env: Env['NODE_ENV']): string | undefined {
  if (value !== undefined && value.length < MIN_SECRET_KEY_LENGTH) {
    throw new ConfigError(
      `SECRET_KEY: must be at least ${MIN_SECRET_KEY_LENGTH} characters (try \`openssl rand -hex 32\`)`,
    )
  }
  if (value === undefined && env === 'production') {
    throw new ConfigError(
      'SECRET_KEY: required when NODE_ENV=production (at least 32 characters; try `openssl rand -hex 32`)',
    )
  }
  return value
}

/**
 * The first run (src/auth/bootstrap.ts): which password the `admin` of an empty database gets.
 * The value is never echoed in an error: it is a password.
 */
function bootstrapSettings(env: Env, target: DatabaseTarget) {
  const password = env.BOOTSTRAP_ADMIN_PASSWORD
  if (password !== undefined && (password.length < 12 || password.length > 1024 || !/\S/.test(password))) {
    throw new ConfigError(
      'BOOTSTRAP_ADMIN_PASSWORD: must be 12 to 1024 characters, not only spaces (the value is not shown)',
    )
  }
  // Beside the SQLite file (the folder that holds the service's data); for any other database,
  // in ./data, where the default SQLite file would be.
  const folder = target.kind === 'sqlite' && target.path !== ':memory:' ? dirname(target.path) : 'data'
  return {
    password,
    /** Outside production, an empty database gets an admin with a generated password. */
    generate: env.NODE_ENV !== 'production',
    passwordFile: join(folder, 'initial-admin-password'),
  }
}

/** `a=b,c=d` → {a: b, c: d}; each value must be a role. */
function parseRoleMap(value: string): Record<string, Role> {
  const map: Record<string, Role> = {}
  for (const pair of value.split(',')) {
    const [claim, role] = pair.split('=').map((part) => part.trim())
    if (!claim || !role || !isRole(role)) {
      throw new ConfigError(
        `OIDC_ROLE_MAP: expected claim-value=role pairs separated by commas, roles being ${ROLES.join(', ')} (got "${pair}")`,
      )
    }
    map[claim] = role
  }
  return map
}

// proxy-addr's names for address ranges, accepted as they are.
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** A proxy address, CIDR range (`10.0.0.0/8`), address/netmask, or a range name proxy-addr knows. */
function isProxyRange(item: string): boolean {
  if (PROXY_RANGE_NAMES.has(item)) return true
  const [address = '', prefix, extra] = item.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  if (prefix === undefined) return true
  if (isIP(prefix) !== 0) return true // a netmask
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}

function parseTrustProxy(value: string): boolean | string[] {
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  const items = list(value)
  const bad = items.find((item) => !isProxyRange(item))
  if (bad !== undefined) {
    throw new ConfigError(
      `TRUST_PROXY: expected true, or addresses and CIDR ranges separated by commas (e.g. 10.0.0.0/8, loopback), but "${bad}" is neither`,
    )
  }
  return items
}

/** Browser origins: scheme, host and port only (`https://app.example.com`), as the Origin header sends. */
function parseOrigins(value: string): string[] {
  const origins = list(value)
  for (const origin of origins) {
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {}
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError(
        `CORS_ALLOWED_ORIGINS: "${origin}" is not an origin (scheme and host, no path or trailing slash, e.g. https://app.example.com)`,
      )
    }
  }
  return origins
}

/** TRACKING_REQUIRED_FIELDS: field names separated by commas, or `none`; unset or empty: all. */
function parseRequiredFields(value: string | undefined, format: string): IssueField[] {
  const expected = `expected issue field names separated by commas (${ISSUE_FIELDS.join(', ')}), or none`
  const trimmed = value?.trim() ?? ''
  let fields: IssueField[]
  if (trimmed === '') fields = [...ISSUE_FIELDS]
  else if (trimmed.toLowerCase() === 'none') fields = []
  else {
    const names = list(trimmed)
    const bad = names.find((name) => !isIssueField(name))
    if (bad !== undefined || names.length === 0)
      throw new ConfigError(`TRACKING_REQUIRED_FIELDS: ${expected}, but "${bad ?? trimmed}" is not one`)
    fields = ISSUE_FIELDS.filter((field) => names.includes(field))
  }
  const lane = LANE_FIELDS.filter((field) => !fields.includes(field))
  if (format === 'route' && lane.length > 0) {
    throw new ConfigError(
      `TRACKING_REQUIRED_FIELDS: must include ${lane.join(' and ')} with TRACKING_FORMAT=route (the number carries the lane)`,
    )
  }
  return fields
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
}

/** Reads `.env` (if present) without overriding variables already set in the environment. */
export function loadEnvFile(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path)
}

// Value.Convert reads numbers leniently ("3.5" as the integer 3, "1e4" as 1, "0x10" as 16): a
// typo must stop the start instead, so numbers are checked as written first.
const NUMBER_SYNTAX: Record<string, { pattern: RegExp; message: string }> = {
  integer: { pattern: /^\s*-?\d+\s*$/, message: 'must be a whole number in decimal digits' },
  number: { pattern: /^\s*-?(?:\d+(?:\.\d*)?|\.\d+)\s*$/, message: 'must be a decimal number' },
}

/** The settings whose numbers are not written as numbers, with what is wrong with each. */
function numberSyntaxProblems(known: Record<string, string | undefined>): Map<string, string> {
  const problems = new Map<string, string>()
  for (const [name, raw] of Object.entries(known)) {
    const type = (EnvSchema.properties as Record<string, { type?: string }>)[name]?.type
    const syntax = type ? NUMBER_SYNTAX[type] : undefined
    if (syntax && raw !== undefined && !syntax.pattern.test(raw)) {
      problems.set(name, `${name}: ${syntax.message} (got ${JSON.stringify(raw)})`)
    }
  }
  return problems
}

/** TypeBox says "Expected union value"; a setting with a fixed set of values lists them instead. */
function settingProblem(name: string, message: string): string {
  const schema = (
    EnvSchema.properties as Record<string, { type?: string; anyOf?: Array<{ const?: unknown }> }>
  )[name]
  const values = schema?.anyOf?.map((option) => option.const).filter((value) => typeof value === 'string')
  if (values && values.length > 0) return `must be one of ${values.join(', ')}`
  if (schema?.type === 'boolean') return 'must be true or false (or 1 or 0)'
  return message
}

export function loadConfig(source: Record<string, string | undefined> = process.env) {
  const known = Object.fromEntries(
    Object.keys(EnvSchema.properties)
      .filter((name) => source[name] !== undefined && source[name] !== '')
      .map((name) => [name, source[name]]),
  )
  const syntax = numberSyntaxProblems(known)
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, known)) as Env
  const problems = [
    ...syntax.values(),
    ...[...Value.Errors(EnvSchema, env)]
      .map((e) => {
        const name = e.path.replace(/^\//, '')
        return { name, message: settingProblem(name, e.message) }
      })
      .filter(({ name }) => !syntax.has(name)) // already said, as written
      .map(({ name, message }) => `${name}: ${message} (got ${JSON.stringify(source[name])})`),
  ]
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  if (env.SMS_CLAIM_TIMEOUT_MS <= env.SMS_TIMEOUT_MS) {
    // A send still waiting on the gateway must not be claimed again by another worker.
    throw new ConfigError('SMS_CLAIM_TIMEOUT_MS: must be greater than SMS_TIMEOUT_MS')
  }
  if (env.DATABASE_REQUIRE_SYNC_STANDBY && parseDatabaseUrl(env.DATABASE_URL).kind !== 'postgres') {
    throw new ConfigError(
      'DATABASE_REQUIRE_SYNC_STANDBY: only PostgreSQL has standbys; set DATABASE_URL=postgres://…',
    )
  }
  if (env.TRACKING_BLOCK_MIN > env.TRACKING_BLOCK_MAX) {
    throw new ConfigError('TRACKING_BLOCK_MIN: must not be greater than TRACKING_BLOCK_MAX')
  }

  const databaseTarget = parseDatabaseUrl(env.DATABASE_URL)
  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    database: {
      target: databaseTarget,
      poolSize: env.DATABASE_POOL_SIZE,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS,
      // Optional in the type: tools build a database config by hand, without it.
      ...(env.DATABASE_REQUIRE_SYNC_STANDBY ? { requireSyncStandby: true as boolean } : {}),
    },
    tracking: {
      key: env.TRACKING_KEY ? parseTrackingKey(env.TRACKING_KEY) : undefined,
      format: env.TRACKING_FORMAT,
      requiredFields: parseRequiredFields(env.TRACKING_REQUIRED_FIELDS, env.TRACKING_FORMAT),
      blockMin: env.TRACKING_BLOCK_MIN,
      blockMax: env.TRACKING_BLOCK_MAX,
      blockSeconds: env.TRACKING_BLOCK_SECONDS,
      commitMaxBatch: env.COMMIT_MAX_BATCH,
      commitGatherMs: env.COMMIT_GATHER_MS ?? (databaseTarget.kind === 'sqlite' ? 0 : 1),
      idempotencyTtlMs: env.IDEMPOTENCY_TTL_HOURS * 3_600_000,
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    workers: env.WEB_CONCURRENCY,
    http: {
      trustProxy: parseTrustProxy(env.TRUST_PROXY),
      bodyLimit: env.BODY_LIMIT_BYTES,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      corsOrigins: parseOrigins(env.CORS_ALLOWED_ORIGINS),
      issueFastPath: env.ISSUE_FAST_PATH,
    },
    auth: {
      secretKey: parseSecretKey(env.SECRET_KEY, env.NODE_ENV),
      accessTtlSeconds: env.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: env.REFRESH_TOKEN_TTL_SECONDS,
      oidc: oidcSettings(env),
      bootstrap: bootstrapSettings(env, databaseTarget),
    },
    rateLimit: rateLimits(env),
    sms: {
      gateway: smsGateway(env),
      worker: env.SMS_WORKER,
      maxAttempts: env.SMS_MAX_ATTEMPTS,
      retryBaseMs: env.SMS_RETRY_BASE_MS,
      retryMaxMs: env.SMS_RETRY_MAX_MS,
      pollIntervalMs: env.SMS_POLL_INTERVAL_MS,
      claimTimeoutMs: env.SMS_CLAIM_TIMEOUT_MS,
    },
  }
}

function smsGateway(env: Env) {
  // Without both credentials SMS is disabled: notifications wait in the outbox. One of the two
  // alone is a mistake, not a wish to disable it.
  if (!env.AT_USERNAME && !env.AT_API_KEY) return undefined
  if (!env.AT_USERNAME || !env.AT_API_KEY) {
    const [missing, set] = env.AT_USERNAME ? ['AT_API_KEY', 'AT_USERNAME'] : ['AT_USERNAME', 'AT_API_KEY']
    throw new ConfigError(
      `${missing}: not set, but ${set} is (set both to send SMS, or neither to disable it)`,
    )
  }
  return {
    baseUrl: env.AT_BASE_URL.replace(/\/+$/, ''),
    username: env.AT_USERNAME,
    apiKey: env.AT_API_KEY,
    senderId: env.AT_SENDER_ID,
    timeoutMs: env.SMS_TIMEOUT_MS,
  }
}

/**
 * Without Redis each process counts alone: with WEB_CONCURRENCY workers, each allows its share of
 * a limit (rounded up), so that one address gets about the limit from the group, not N times it.
 * Connections are spread over the workers unevenly, so it is approximate: REDIS_URL makes it exact.
 */
function rateLimits(env: Env) {
  const perWorker = !env.REDIS_URL && env.WEB_CONCURRENCY > 1
  const share = (max: number) => (perWorker ? Math.ceil(max / env.WEB_CONCURRENCY) : max)
  return {
    redisUrl: env.REDIS_URL,
    max: share(env.RATE_LIMIT_MAX),
    windowMs: env.RATE_LIMIT_WINDOW_SECONDS * 1000,
    loginMax: share(env.LOGIN_RATE_LIMIT_MAX),
    /** Counted in each worker's memory, each allowing its share. */
    perWorker,
  }
}

function oidcSettings(env: Env) {
  // Checked even while OpenID Connect is off: a typo must not wait for the day it is turned on.
  const roleMap = parseRoleMap(env.OIDC_ROLE_MAP)
  if (!env.OIDC_ISSUER && !env.OIDC_AUDIENCE) return undefined
  if (!env.OIDC_ISSUER || !env.OIDC_AUDIENCE) {
    throw new ConfigError(
      `${env.OIDC_ISSUER ? 'OIDC_AUDIENCE' : 'OIDC_ISSUER'}: OIDC_ISSUER and OIDC_AUDIENCE go together`,
    )
  }
  return {
    issuer: env.OIDC_ISSUER,
    audience: env.OIDC_AUDIENCE,
    roleClaim: env.OIDC_ROLE_CLAIM,
    roleMap,
    timeoutMs: env.OIDC_TIMEOUT_MS,
  }
}

export type Config = ReturnType<typeof loadConfig>
