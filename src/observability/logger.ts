import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify'
import { type Logger, pino } from 'pino'
import type { Config } from '../config.js'

// A client's x-request-id is kept only if it is short and plain, so it cannot forge log lines.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function requestId(request: IncomingMessage): string {
  const sent = request.headers['x-request-id']
  return typeof sent === 'string' && SAFE_REQUEST_ID.test(sent) ? sent : randomUUID()
}

/**
 * JSON logs on stdout. Lines are buffered and written in 4 KiB chunks, off the request path
 * (a write syscall per line cost more than the rest of a request); the buffer is flushed every
 * second, after the ready line and at exit, so a kill -9 loses at most the last second of logs.
 */
export function loggerOptions(config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    base: { service: 'waybill', pid: process.pid },
    // Credentials never reach the logs, whatever a future log call passes.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    ...(config.logLevel === 'silent'
      ? {}
      : { stream: pino.destination({ dest: 1, sync: false, minLength: 4096 }) }),
  }
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>

/**
 * A request's logger, made into a pino child (which serializes its bindings, the request id, up
 * front) only when the request first logs at an enabled level. Most requests never do: a
 * successful one logs at debug. Fastify makes one per request, on the hot path.
 */
class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
  ) {}

  private logger(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings)
    return this.made
  }

  private write(level: Level, args: unknown[]): void {
    if (!this.made && !this.parent.isLevelEnabled(level)) return
    ;(this.logger()[level] as (...args: unknown[]) => void)(...args)
  }

  get level(): string {
    return this.made?.level ?? this.parent.level
  }
  set level(level: string) {
    this.logger().level = level
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args)
  }
  error(...args: unknown[]): void {
    this.write('error', args)
  }
  warn(...args: unknown[]): void {
    this.write('warn', args)
  }
  info(...args: unknown[]): void {
    this.write('info', args)
  }
  debug(...args: unknown[]): void {
    this.write('debug', args)
  }
  trace(...args: unknown[]): void {
    this.write('trace', args)
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options)
  }
}

/** Fastify's childLoggerFactory: a RequestLogger, unless the route sets its own level or serializers. */
export function requestLogger(
  this: unknown,
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildOptions,
): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options)
  return new RequestLogger(logger as unknown as Logger, bindings)
}

/** Writes out buffered log lines now (Fastify's logger type omits pino's flush). */
export function flushLogs(logger: FastifyBaseLogger): void {
  ;(logger as Partial<Pick<Logger, 'flush'>>).flush?.()
}

/**
 * Exits with `code` once the buffered log lines are written. The write is made asynchronously
 * first: on a closed stdout (the log reader gone, as with `waybill | head`) it fails with EPIPE
 * and pino stops writing, where the synchronous flush at exit would retry that write forever
 * (sonic-boom 4 retries every error there, not only EAGAIN) and the process never exit. Lines a
 * reader has not taken within a second (it stopped reading) are dropped: the process exits.
 */
export function exitAfterLogs(logger: FastifyBaseLogger, code: number): void {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[
    pino.symbols.streamSym
  ]
  const exit = () => process.exit(code)
  setTimeout(() => {
    if (stream) stream.flushSync = () => {}
    exit()
  }, 1_000)
  const flush = (logger as Partial<Pick<Logger, 'flush'>>).flush
  if (flush) flush.call(logger, exit)
  else exit()
}

/** Flushes buffered log lines every second, so a quiet service's lines are not held back. */
export function flushLogsPeriodically(logger: FastifyBaseLogger): () => void {
  const timer = setInterval(() => flushLogs(logger), 1_000).unref()
  return () => {
    clearInterval(timer)
    flushLogs(logger)
  }
}

/**
 * One line per request, when it completes (Fastify's default writes two). Successful requests
 * log at debug: at tens of thousands a second the metrics describe them better than lines do.
 * Client errors log at info, server errors at warn (the error handler logs their cause), except
 * 503s: refusals during an outage, which RefusalLog summarizes (and /ready logs its changes).
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const status = reply.statusCode
    const level = error ? 'warn' : status < 400 || status === 503 ? 'debug' : status >= 500 ? 'warn' : 'info'
    request.log[level](
      {
        method: request.method,
        url: request.url,
        status,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        err: error,
      },
      'request completed',
    )
  }
}
