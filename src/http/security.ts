import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import type { Config } from '../config.js'
import { occasionalWarning } from '../observability/refusals.js'
import { MemoryStore, type RateLimiter, RedisStore, registerRateLimit } from './rate-limit.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Where @fastify/helmet reads a route's own settings; set on pages only (see below). */
    helmet?: Record<string, unknown>
  }
}

const PAGE_PREFIXES = ['/admin', '/docs']

export const API_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}

/** The client a request counts against: its verified token's subject, else its address. */
export function rateLimitKey(request: FastifyRequest): string {
  return request.principal?.subject ?? `ip:${request.ip}`
}

/**
 * Pages a browser renders (the admin page, the API docs) get helmet's full set of headers, in a
 * context of their own: helmet's hooks (one of them async) then run for those routes only, not on
 * every API request, where they cost a promise and two hook calls each and set nothing.
 */
export async function registerPages(app: FastifyInstance, pages: FastifyPluginAsync): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(helmet, {
      contentSecurityPolicy: {
        // Plain-HTTP deployments (loopback, behind a TLS-terminating proxy) must keep working.
        directives: { upgradeInsecureRequests: null },
      },
      // HSTS belongs to whoever terminates TLS (nginx), not to a process that may be reached over HTTP.
      strictTransportSecurity: false,
    })
    await scope.register(pages)
  })
}

/**
 * Security headers, CORS and rate limiting. Registered after the auth plugin, so that the limit
 * counts per verified token subject (a forged token cannot spend another client's budget).
 */
export async function registerSecurity(app: FastifyInstance, config: Config): Promise<RateLimiter> {
  // Pages (registerPages, after this) are marked so that JSON answers alone get the API set below.
  app.addHook('onRoute', (route) => {
    if (PAGE_PREFIXES.some((prefix) => route.url.startsWith(prefix))) {
      route.config = { ...route.config, helmet: {} } // {}: registerPages' helmet configuration
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
      // Strict mode answers an OPTIONS without Origin or Access-Control-Request-Method with a
      // text/plain 400 outside the error envelope; such a request is harmless, and gets the 204.
      strictPreflight: false,
    })
  }

  const { redisUrl } = config.rateLimit
  if (config.rateLimit.perWorker) {
    app.log.warn(
      { workers: config.workers, max: config.rateLimit.max, loginMax: config.rateLimit.loginMax },
      'rate limits are counted in each worker (no REDIS_URL): each allows its share, so the limits are approximate',
    )
  }
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

  // Redis down: counting fails open (the client's own error events are logged above; failed
  // counts are summed into one line every 10 s rather than one per request).
  const countFailed = occasionalWarning(app.log, 'rate limiting: could not count; requests let through', {
    intervalMs: 10_000,
    countField: 'requests',
  })
  return registerRateLimit(app, {
    store: redis ? new RedisStore(redis) : new MemoryStore(),
    limit: { max: config.rateLimit.max, windowMs: config.rateLimit.windowMs },
    key: rateLimitKey,
    onStoreError: (error) => countFailed({ err: error }),
  })
}
