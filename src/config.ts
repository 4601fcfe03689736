import { existsSync } from 'node:fs'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

// Every setting Waybill reads, in one schema: defaults, types and limits live here and nowhere else.
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
  DATABASE_URL: Type.String({ minLength: 1, default: 'sqlite:data/waybill.db' }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  // Milliseconds stay below 2^31: Node's timers fire at once beyond it.
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 2_000 }),
  DATABASE_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 5_000 }),
  TRACKING_KEY: Type.Optional(Type.String()),
  TRACKING_FORMAT: Type.Union([Type.Literal('default'), Type.Literal('route')], { default: 'default' }),
  TRACKING_BLOCK_MIN: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
  TRACKING_BLOCK_MAX: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  TRACKING_BLOCK_SECONDS: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 2 }),
  COMMIT_MAX_BATCH: Type.Integer({ minimum: 1, maximum: 10_000, default: 2_000 }),
  IDEMPOTENCY_TTL_HOURS: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 366 * 10, default: 24 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 10_000 }),
  WEB_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 1 }),
})
type Env = Static<typeof EnvSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string }

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const sqlite = /^(?:sqlite|file):(?:\/\/)?(.+)$/.exec(url)
  if (sqlite?.[1]) return { kind: 'sqlite', path: sqlite[1] }
  if (/^postgres(?:ql)?:\/\//.test(url)) return { kind: 'postgres', url }
  throw new ConfigError(
    `DATABASE_URL: expected sqlite:PATH, file:PATH or postgres://… but got "${redactUrl(url)}"`,
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

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
}

/** Reads `.env` (if present) without overriding variables already set in the environment. */
export function loadEnvFile(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path)
}

export function loadConfig(source: Record<string, string | undefined> = process.env) {
  const known = Object.fromEntries(
    Object.keys(EnvSchema.properties)
      .filter((name) => source[name] !== undefined && source[name] !== '')
      .map((name) => [name, source[name]]),
  )
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, known)) as Env
  const problems = [...Value.Errors(EnvSchema, env)].map((e) => {
    const name = e.path.replace(/^\//, '')
    return `${name}: ${e.message} (got ${JSON.stringify(source[name])})`
  })
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  if (env.TRACKING_BLOCK_MIN > env.TRACKING_BLOCK_MAX) {
    throw new ConfigError('TRACKING_BLOCK_MIN: must not be greater than TRACKING_BLOCK_MAX')
  }

  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    database: {
      target: parseDatabaseUrl(env.DATABASE_URL),
      poolSize: env.DATABASE_POOL_SIZE,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS,
    },
    tracking: {
      key: env.TRACKING_KEY ? parseTrackingKey(env.TRACKING_KEY) : undefined,
      format: env.TRACKING_FORMAT,
      blockMin: env.TRACKING_BLOCK_MIN,
      blockMax: env.TRACKING_BLOCK_MAX,
      blockSeconds: env.TRACKING_BLOCK_SECONDS,
      commitMaxBatch: env.COMMIT_MAX_BATCH,
      idempotencyTtlMs: env.IDEMPOTENCY_TTL_HOURS * 3_600_000,
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    workers: env.WEB_CONCURRENCY,
  }
}

export type Config = ReturnType<typeof loadConfig>
