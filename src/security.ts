import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import type { Config } from './config.js'
import { AppError } from './errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Where @fastify/helmet reads a route's own settings; set on pages only (see below). */
    helmet?: Record<string, unknown>
  }
}

const PAGE_PREFIXES = ['/admin', '/docs']

const API_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}

const MEMORY_STORE_KEYS = 100_000

/**
 * Fixed-window counts in this process. Replaces the plugin's LocalStore, which hands every caller
 * the same mutable record: concurrent requests then read each other's increments and all of them
 * are refused once the sum passes the limit (three concurrent requests under a limit of two: three
 * 429s, where two should pass). This store answers each caller with its own count.
 */
class MemoryStore implements FastifyRateLimitStore {
  private readonly windows = new Map<string, { count: number; start: number }>()

  incr(
    key: string,
    callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
    timeWindow: number,
  ): void {
    const now = Date.now()
    let window = this.windows.get(key)
    if (!window || window.start + timeWindow <= now) {
      if (!window && this.windows.size >= MEMORY_STORE_KEYS) {
        this.windows.delete(this.windows.keys().next().value as string)
      }
      window = { count: 0, start: now }
      this.windows.delete(key) // re-inserted last: the oldest window is evicted first
      this.windows.set(key, window)
    }
    window.count++
    callback(null, { current: window.count, ttl: window.start + timeWindow - now })
  }

  child(): FastifyRateLimitStore {
    return new MemoryStore()
  }
}

/** The client a request counts against: its verified token's subject, else its address. */
export function rateLimitKey(request: FastifyRequest): string {
  return request.principal?.subject ?? `ip:${request.ip}`
}

/**
 * Security headers, CORS and rate limiting. Registered after the auth plugin, so that the limit
 * counts per verified token subject (a forged token cannot spend another client's budget).
 */
export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  // Pages a browser renders (the admin page, the API docs) get helmet's full set of headers;
  // they must be registered after this. JSON answers get the API set below.
  await app.register(helmet, {
    global: false,
    contentSecurityPolicy: {
      // Plain-HTTP deployments (loopback, behind a TLS-terminating proxy) must keep working.
      directives: { upgradeInsecureRequests: null },
    },
    // HSTS belongs to whoever terminates TLS (nginx), not to a process that may be reached over HTTP.
    strictTransportSecurity: false,
  })
  app.addHook('onRoute', (route) => {
    if (PAGE_PREFIXES.some((prefix) => route.url.startsWith(prefix))) {
      route.config = { ...route.config, helmet: {} } // {}: helmet's configuration above
    }
  })
  // Helmet's dozen headers are for documents a browser renders; they cost a quarter of the
  // throughput of the tracking-number route (measured with npm run bench). A JSON API needs
  // these (OWASP REST Security Cheat Sheet): set once per reply, on every answer but the pages.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!request.routeOptions.config.helmet) reply.headers(API_HEADERS)
    done(null, payload)
  })

  if (config.http.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.http.corsOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
      exposedHeaders: [
        'x-request-id',
        'retry-after',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    })
  }

  const { redisUrl } = config.rateLimit
  const redis = redisUrl
    ? new Redis(redisUrl, {
        // A Redis outage must not stall requests: fail the count fast and let the request through.
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        connectTimeout: 2_000,
        lazyConnect: false,
      })
    : undefined
  redis?.on('error', (error) => app.log.warn({ err: error }, 'rate limiting: Redis is unreachable'))
  if (redis) app.addHook('onClose', async () => void (await redis.quit().catch(() => redis.disconnect())))

  await app.register(rateLimit, {
    global: true,
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    keyGenerator: rateLimitKey,
    ...(redis ? { redis, nameSpace: 'waybill:rate-limit:' } : { store: MemoryStore }),
    // Redis down: counting fails open (logged above) rather than refusing every request.
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new AppError(
        'rate_limited',
        `Too many requests: retry in ${context.after}`,
        {},
        {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        },
      ),
  })
}
