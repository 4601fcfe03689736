import cluster from 'node:cluster'
import type { RequestListener } from 'node:http'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fastJson from 'fast-json-stringify'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { adminPage } from './admin/plugin.js'
import { bootstrapAdmin, type FirstRun } from './auth/bootstrap.js'
import { createAuth } from './auth/index.js'
import { authPlugin } from './auth/plugin.js'
import { allows } from './auth/roles.js'
import { authRoutes } from './auth/routes.js'
import type { Config } from './config.js'
import { createCustomerRepository, findCustomerByCode } from './customers/repository.js'
import { customerRoutes } from './customers/routes.js'
import { createCustomerService } from './customers/service.js'
import { createDatabase, type DatabaseHandle, durabilityWarnings } from './db/index.js'
import { migrateToLatest } from './db/migrate.js'
import { answerConnect, clientErrorHandler, parseQueryString, strictJsonBodies } from './http/edges.js'
import { registerErrorHandling, renderFrameworkError } from './http/errors.js'
import { framingProblem } from './http/framing.js'
import { trackRoutePaths } from './http/method-not-allowed.js'
import { API_HEADERS, registerPages, registerSecurity } from './http/security.js'
import { createValidatorCompiler } from './http/validation.js'
import { createSmsGateway } from './notifications/africastalking.js'
import { listNotifications, outboxCounts } from './notifications/outbox.js'
import { registerOutboxGauge } from './notifications/outbox-gauge.js'
import { createNotificationWorker } from './notifications/worker.js'
import { groupMetrics } from './observability/cluster-metrics.js'
import { healthRoutes } from './observability/health.js'
import {
  flushLogsPeriodically,
  loggerOptions,
  RequestLog,
  requestId,
  requestLogger,
} from './observability/logger.js'
import { createMetrics, metricsPlugin } from './observability/metrics.js'
import { createOrderRepository } from './orders/repository.js'
import { orderRoutes } from './orders/routes.js'
import { createOrderService } from './orders/service.js'
import { createStatsRepository } from './stats/repository.js'
import { statsRoutes } from './stats/routes.js'
import { createStatsService } from './stats/service.js'
import { type FastIssueRoute, fastIssueRoute } from './tracking/fast-route.js'
import { createTracking } from './tracking/index.js'
import { keyFingerprint, resolveTrackingKey } from './tracking/key.js'
import { findIdempotencyKey } from './tracking/repository.js'
import { ISSUE_PATHS, toIssueRequest, trackingRoutes } from './tracking/routes.js'
import { type IssueQuery, issueQuery, NextTrackingNumberWire } from './tracking/schemas.js'

// The router's path rules, shared with the index of paths that answers 405s.
// maxParamLength: a long path parameter reaches its schema, which names it, instead of a 404.
const ROUTER_PATHS = { ignoreTrailingSlash: true, maxParamLength: 1_000 }

declare module 'fastify' {
  interface FastifyInstance {
    /** Creates `admin` on a database with no users, as the settings allow (src/auth/bootstrap.ts). */
    firstRun(): Promise<FirstRun>
    /** GET /next-tracking-number's fast path, when it is on (src/tracking/fast-route.ts). */
    issueFastPath?: FastIssueRoute
  }
}

// How often each instance adds its issue counts to the database (the dashboard's figures).
const STATS_FLUSH_MS = 5_000

/** Opens the database, migrates it and checks the tracking key; closes it again if any step fails. */
async function openDatabase(
  config: Config,
): Promise<{ database: DatabaseHandle; key: Buffer; warnings: string[] }> {
  // On SQLite the tracking writer thread checkpoints (src/tracking/writer-thread.ts): never the
  // event loop.
  const database = createDatabase(config.database, { checkpoints: 'elsewhere' })
  try {
    await migrateToLatest(database.db)
    const key = await resolveTrackingKey(database.db, config.tracking.key, config.tracking.format)
    return { database, key, warnings: await durabilityWarnings(database) }
  } catch (error) {
    await database.close()
    throw error
  }
}

export async function buildApp(config: Config): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config),
    genReqId: requestId,
    logController: new RequestLog({ requestIdLogLabel: 'request_id' }),
    childLoggerFactory: requestLogger,
    routerOptions: {
      ...ROUTER_PATHS,
      // Text that is not valid percent-encoded UTF-8 is refused by validation, not stored as sent.
      querystringParser: parseQueryString,
    },
    trustProxy: config.http.trustProxy,
    bodyLimit: config.http.bodyLimit,
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      // A missing Host is refused by the framing hook below, in the envelope; Node's own refusal
      // is a bare 400.
      requireHostHeader: false,
      // Node checks request timeouts every 30 s by default: a timeout of a few seconds would be
      // enforced up to 30 s late. Headers get the same limit as the whole request. 0 = no timeout.
      ...(config.http.requestTimeoutMs > 0 && {
        connectionsCheckingInterval: Math.min(30_000, Math.max(250, config.http.requestTimeoutMs / 4)),
        headersTimeout: Math.min(60_000, config.http.requestTimeoutMs),
      }),
    },
    clientErrorHandler,
    forceCloseConnections: 'idle',
    // Errors Fastify raises before routing (a malformed URL) get the same envelope as the rest.
    frameworkErrors: (error, request, reply) => renderFrameworkError(error, request, reply as FastifyReply),
  })

  // Before every other hook (auth included): a request HTTP/1.1 itself refuses is refused first.
  app.addHook('onRequest', (request, _reply, done) => done(framingProblem(request.raw)))
  // An Expect other than 100-continue: Node would answer a bare 417 itself; as a request instead,
  // to whichever listener serves requests (the fast path's or Fastify's), for the hook above.
  app.server.on('checkExpectation', (request, response) => app.server.emit('request', request, response))
  app.server.on('connect', (request, socket) => answerConnect(app.log, request, socket))

  const { database, key, warnings } = await openDatabase(config)
  for (const warning of warnings) app.log.warn(`database durability: ${warning}`)
  app.log.info(
    {
      fingerprint: keyFingerprint(key),
      source: config.tracking.key ? 'TRACKING_KEY' : 'generated, kept in the database (back it up)',
    },
    'tracking key',
  )
  const metrics = createMetrics({ standbys: database.replication !== undefined })
  registerOutboxGauge(metrics.registry, database.db)
  const auth = await createAuth({ db: database.db, config, log: app.log })
  app.decorate('firstRun', () => bootstrapAdmin({ users: auth.service, settings: config.auth.bootstrap }))
  const stats = createStatsService({
    repository: createStatsRepository(database.db),
    outbox: () => outboxCounts(database.db),
    flushIntervalMs: STATS_FLUSH_MS,
    onFlushError: (error) => app.log.warn({ err: error }, 'could not store issue counts'),
  })
  const orderRepository = createOrderRepository(database.db)
  const tracking = createTracking({
    config,
    database,
    key,
    metrics,
    log: app.log,
    onIssued: stats.issued,
    findOrder: (sequence) => orderRepository.findByTrackingSequence(sequence),
  })
  const notifications = createNotificationWorker({
    db: database.db,
    gateway: config.sms.gateway && createSmsGateway(config.sms.gateway),
    log: app.log,
    maxAttempts: config.sms.maxAttempts,
    retryBaseMs: config.sms.retryBaseMs,
    retryMaxMs: config.sms.retryMaxMs,
    pollIntervalMs: config.sms.pollIntervalMs,
    claimTimeoutMs: config.sms.claimTimeoutMs,
    onOutcome: (outcome) => metrics.smsOutcomes.inc({ outcome }),
  })
  // SMS_WORKER=false leaves sending to other instances; wake() is then harmless (never started).
  if (config.sms.worker) app.addHook('onReady', () => notifications.start())

  const stopFlushing = flushLogsPeriodically(app.log)
  // From the start of closing (preClose): no new claim while requests drain, and a send in flight
  // may take the shutdown budget but what closing the rest needs (a tenth of it, and at least a
  // second or half of it: flushing commits and closing the database take about as long whatever
  // the budget); one still unanswered then is logged by id, as it may be sent twice. A second call
  // returns the first one's promise.
  const budget = config.shutdownTimeoutMs
  const smsWaitMs = budget - Math.max(budget / 10, Math.min(1_000, budget / 2))
  const stopNotifications = () => notifications.stop(smsWaitMs)
  app.addHook('onClose', async () => {
    stopFlushing()
    auth.close()
    await stopNotifications()
    await tracking.close()
    await stats.close().catch((error) => app.log.warn({ err: error }, 'could not store issue counts'))
    await database.close()
  })

  // While shutting down, every reply ends its connection: a keep-alive connection that was busy
  // when closing began would otherwise hold close() open until the client's idle timeout.
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    void stopNotifications()
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })

  // Kept: the issuing route's fast path compiles its query schema with the same one (at the end).
  const validatorCompiler = createValidatorCompiler()
  app.setValidatorCompiler(validatorCompiler)
  app.removeContentTypeParser('text/plain') // a JSON API: anything else is a 415
  strictJsonBodies(app)
  registerErrorHandling(app, { paths: trackRoutePaths(app, ROUTER_PATHS) })
  // First: every route registered after it must declare who may call it (and is documented).
  await app.register(authPlugin, { authenticator: auth.authenticator })
  await app.register(swagger, {
    openapi: {
      info: { title: 'Waybill', version: '0.1.0', description: 'Unique parcel tracking numbers' },
      tags: [
        { name: 'tracking' },
        { name: 'customers' },
        { name: 'orders' },
        { name: 'auth' },
        { name: 'users' },
        { name: 'operations' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'A Waybill access token (POST /api/token/) or an OpenID Connect access token',
          },
        },
      },
      security: [{ bearer: [] }],
    },
  })
  await app.register(metricsPlugin, {
    metrics,
    // A cluster worker answers a scrape with every worker's counts, gathered by the primary.
    ...(cluster.isWorker ? { gather: groupMetrics(metrics.registry) } : {}),
  })
  await app.register(healthRoutes, {
    ping: database.ping,
    writes: tracking.writes,
    replication: tracking.replication,
  })
  // Probes and scrapes above are not rate limited; everything below is.
  const rateLimiter = await registerSecurity(app, config)
  await registerPages(app, async (pages) => {
    await pages.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      // Keep plain-HTTP deployments working (see security.ts).
      transformStaticCSP: (header) => header.replace(' upgrade-insecure-requests;', ''),
    })
  })
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger())

  await app.register(authRoutes, {
    service: auth.service,
    authenticator: auth.authenticator,
    loginRateLimit: { max: config.rateLimit.loginMax, windowMs: config.rateLimit.windowMs },
  })
  await app.register(trackingRoutes, {
    service: tracking.service,
    requiredFields: config.tracking.requiredFields,
    format: config.tracking.format,
  })
  const customers = createCustomerService({
    repository: createCustomerRepository(database.db),
    hasOrders: (customerId) => orderRepository.hasOrders(customerId),
  })
  await app.register(customerRoutes, { service: customers })
  const orders = createOrderService({
    repository: orderRepository,
    findCustomerByCode: (code) => findCustomerByCode(database.db, code),
    findIdempotencyKey: (key) => findIdempotencyKey(database.db, key),
    tracking: tracking.service,
    format: config.tracking.format,
    notified: () => notifications.wake(),
  })
  await app.register(orderRoutes, {
    service: orders,
    notifications: (orderId) => listNotifications(database.db, orderId),
  })
  await app.register(statsRoutes, { service: stats })
  await registerPages(app, adminPage)

  // GET /next-tracking-number without Fastify's lifecycle, where it can answer exactly as the route
  // does (src/tracking/fast-route.ts). Not with ISSUE_FAST_PATH=false, nor with CORS origins set:
  // @fastify/cors then adds headers to every reply, which this path does not make.
  const [fastify, ...others] = app.server.listeners('request') as RequestListener[]
  if (config.http.issueFastPath && config.http.corsOrigins.length === 0 && fastify && others.length === 0) {
    const validate = validatorCompiler({
      schema: issueQuery(config.tracking.requiredFields),
      httpPart: 'querystring',
    }) as (query: Record<string, unknown>) => boolean
    const route = fastIssueRoute({
      service: tracking.service,
      paths: ISSUE_PATHS,
      // A successful request logs at debug (RequestLog): with debug on, Fastify logs it.
      open: () => !closing && !(app.log as unknown as Logger).isLevelEnabled('debug'),
      closing: () => closing,
      principal: (header, socket) => {
        let verified: ReturnType<typeof auth.authenticator.known>
        try {
          verified = auth.authenticator.known(header, socket, false)
        } catch {
          return undefined // refused: Fastify says why (an expired token is left for it to drop)
        }
        const role = verified?.principal.role
        return role && allows(role, 'client') ? verified?.principal.subject : undefined
      },
      count: (key) => rateLimiter.count(key),
      parseQuery: parseQueryString,
      validate,
      toIssueRequest: (query) => toIssueRequest(query as IssueQuery),
      requestId,
      serialize: fastJson(NextTrackingNumberWire),
      headers: API_HEADERS,
      observe: (route, status, seconds) => metrics.httpDuration.observeRequest('GET', route, status, seconds),
      fallback: fastify,
    })
    // On the server Fastify made (its only request listener is its handler), not a serverFactory:
    // with one, Fastify binds only the first address of HOST=localhost. Any other address Fastify
    // binds (the other of 127.0.0.1 and ::1) is served by Fastify alone, with the same replies,
    // but for what Node answers there by itself, before Fastify: malformed HTTP, an Expect other
    // than 100-continue, CONNECT (Fastify gives no hold on that server: docs/operations.md).
    app.server.removeListener('request', fastify)
    app.server.on('request', route.listener)
    app.decorate('issueFastPath', route)
  }
  return app
}
