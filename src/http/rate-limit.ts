import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import { AppError } from './errors.js'
import { ISSUE_FAILED } from './handover.js'

// Fixed-window rate limiting, per client. Hand-written rather than @fastify/rate-limit: the plugin
// runs an async hook with several awaits and adds a property to every request object, and it cost
// a fifth of the tracking-number route's throughput (measured with npm run bench); this hook is a
// callback with a synchronous path for the in-memory store.

/** At most `max` requests per client in each window of `windowMs`. */
export interface RateLimit {
  max: number
  windowMs: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's own limit (counted apart from the global one), or false for none (probes). */
    rateLimit?: RateLimit | false
  }
}

/** A window's count after this request, and when the window ends (ms since the epoch). */
export interface Count {
  current: number
  resetAt: number
}

export interface RateLimitStore {
  /** Counts one request for `key`; synchronous when the store can answer at once. */
  incr(key: string, windowMs: number): Count | Promise<Count>
}

const MEMORY_STORE_KEYS = 100_000

/** Counts in this process; the oldest window is dropped first once MEMORY_STORE_KEYS are held. */
export class MemoryStore implements RateLimitStore {
  private readonly windows = new Map<string, Count>()

  incr(key: string, windowMs: number, now = Date.now()): Count {
    let window = this.windows.get(key)
    if (!window || window.resetAt <= now) {
      if (!window && this.windows.size >= MEMORY_STORE_KEYS) {
        this.windows.delete(this.windows.keys().next().value as string)
      }
      window = { current: 0, resetAt: now + windowMs }
      this.windows.delete(key) // re-inserted last: insertion order is window age
      this.windows.set(key, window)
    }
    window.current++
    return { current: window.current, resetAt: window.resetAt }
  }
}

// One round trip: count, start the window's expiry with its first request, say how long it has left.
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { current, ttl }`

type RateLimitRedis = Redis & {
  waybillRateLimit(key: string, windowMs: number): Promise<[number, number]>
}

/** Counts shared by every instance using the same Redis. */
export class RedisStore implements RateLimitStore {
  private readonly redis: RateLimitRedis

  constructor(
    redis: Redis,
    private readonly prefix = 'waybill:rate-limit:',
  ) {
    redis.defineCommand('waybillRateLimit', { numberOfKeys: 1, lua: INCR_SCRIPT })
    this.redis = redis as RateLimitRedis
  }

  async incr(key: string, windowMs: number): Promise<Count> {
    const [current, ttl] = await this.redis.waybillRateLimit(this.prefix + key, windowMs)
    return { current, resetAt: Date.now() + ttl }
  }
}

function tooManyRequests(limit: RateLimit, count: Count): AppError {
  const seconds = String(Math.max(1, Math.ceil((count.resetAt - Date.now()) / 1000)))
  return new AppError(
    'rate_limited',
    `Too many requests: retry in ${seconds} s`,
    {},
    {
      headers: {
        'retry-after': seconds,
        'x-ratelimit-limit': String(limit.max),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': seconds,
      },
    },
  )
}

/** Lets the request through, or refuses it past the limit. */
function decide(done: (error?: Error) => void, limit: RateLimit, count: Count): void {
  done(count.current > limit.max ? tooManyRequests(limit, count) : undefined)
}

export interface RateLimiter {
  /**
   * Counts one request against `key`'s budget under the global limit, as the hook does: whether it
   * is within it, at once from memory, later from Redis (a store that fails lets it through).
   */
  count(key: string): boolean | Promise<boolean>
}

/**
 * Counts every request against its client's budget (`key`), and refuses with a 429 past it. A
 * route with its own limit (sign-in, refresh) counts apart, per address: a bearer token sent
 * along must not move password guesses to another budget. `rateLimit: false` routes are not
 * counted. A store that fails (Redis down) lets the request through: the limiter never takes the
 * service down with it.
 */
export function registerRateLimit(
  app: FastifyInstance,
  options: {
    store: RateLimitStore
    limit: RateLimit
    key: (request: FastifyRequest) => string
    onStoreError: (error: unknown) => void
  },
): RateLimiter {
  const { store, limit, key, onStoreError } = options
  app.addHook('onRequest', (request, _reply, done) => {
    const own = request.routeOptions.config.rateLimit
    // Counted already, by the fast path that handed it over (src/tracking/fast-route.ts).
    if (own === false || ISSUE_FAILED in request.raw) return done()
    const applied = own ?? limit
    const counted = store.incr(
      own ? `${request.routeOptions.url} ip:${request.ip}` : key(request),
      applied.windowMs,
    )
    // The in-memory store answers at once: no closure is made for it.
    if (!(counted instanceof Promise)) return decide(done, applied, counted)
    counted.then(
      (count) => decide(done, applied, count),
      (error: unknown) => {
        onStoreError(error)
        done()
      },
    )
  })
  return {
    count(client) {
      const counted = store.incr(client, limit.windowMs)
      if (!(counted instanceof Promise)) return counted.current <= limit.max
      return counted.then(
        (count) => count.current <= limit.max,
        (error: unknown) => {
          onStoreError(error)
          return true
        },
      )
    },
  }
}
