import { type Static, type TRef, Type } from '@sinclair/typebox'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isUnavailable } from '../db/errors.js'
import { RefusalLog } from '../observability/refusals.js'
import type { RoutePaths } from './method-not-allowed.js'
import { validationDetails } from './validation.js'

export type Details = Record<string, string[]>

const STATUS = {
  validation_failed: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  expectation_failed: 417,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
} as const
export type ErrorCode = keyof typeof STATUS

/** What services throw; the error handler turns it into the one envelope. */
export class AppError extends Error {
  override name = 'AppError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Details = {},
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause })
    this.headers = options.headers ?? {}
  }
  readonly headers: Record<string, string>
  get statusCode(): number {
    return STATUS[this.code]
  }
}

export const ErrorEnvelope = Type.Object(
  {
    error: Type.String({ description: 'What went wrong, for a person' }),
    code: Type.String({ description: 'Stable machine-readable code, e.g. validation_failed' }),
    details: Type.Record(Type.String(), Type.Array(Type.String()), {
      description: 'Messages by field name',
    }),
    correlation_id: Type.String({ description: 'Same as the x-request-id response header' }),
  },
  { $id: 'ErrorEnvelope' },
)
export type ErrorEnvelope = Static<typeof ErrorEnvelope>

/** Route response schemas for these error statuses: all the one envelope. */
export function errorReplies<S extends number>(...statuses: S[]): Record<S, TRef<'ErrorEnvelope'>> {
  const ref = Type.Ref('ErrorEnvelope')
  return Object.fromEntries(statuses.map((status) => [status, ref])) as unknown as Record<
    S,
    TRef<'ErrorEnvelope'>
  >
}

export function errorEnvelope(request: FastifyRequest, error: AppError): ErrorEnvelope {
  return { error: error.message, code: error.code, details: error.details, correlation_id: request.id }
}

// Fastify's own errors that are the client's fault, by their codes.
const FRAMEWORK_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_MAX_PARAM_LENGTH: 'bad_request',
  FST_ERR_BAD_URL: 'bad_request',
}
// Messages of our own where Fastify's would echo the path back (up to the whole URL).
const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_ERR_MAX_PARAM_LENGTH: 'A path segment is longer than 1000 characters',
  FST_ERR_BAD_URL: 'The path is not valid percent-encoded UTF-8',
}

export function toAppError(error: FastifyError | AppError | Error): AppError {
  if (error instanceof AppError) return error
  const fastifyError = error as FastifyError
  if (fastifyError.validation) {
    return new AppError(
      'validation_failed',
      'The request is invalid',
      validationDetails(fastifyError.validation, fastifyError.validationContext),
    )
  }
  const code = fastifyError.code ? FRAMEWORK_ERRORS[fastifyError.code] : undefined
  if (code) return new AppError(code, FRAMEWORK_MESSAGES[fastifyError.code] ?? fastifyError.message)
  const status = fastifyError.statusCode
  if (status === 429) return new AppError('rate_limited', 'Too many requests')
  // Fastify's own client errors first: a request body whose stream failed (the client hung up:
  // its ECONNRESET, which is no database outage) is marked 400.
  if (status && status >= 400 && status < 500) return new AppError('bad_request', fastifyError.message)
  if (isUnavailable(error)) {
    return new AppError(
      'unavailable',
      'The database is unavailable; try again shortly',
      {},
      { cause: error, headers: { 'retry-after': '1' } },
    )
  }
  return new AppError('internal', 'Internal server error', {}, { cause: error })
}

/**
 * The error's headers. Every 401 says which scheme to use (RFC 9110 requires it, the README
 * promises it): a failed sign-in or refresh too, not only a refused bearer token.
 */
function headersOf(error: AppError): Record<string, string> {
  if (error.statusCode !== 401 || error.headers['www-authenticate']) return error.headers
  return { ...error.headers, 'www-authenticate': 'Bearer' }
}

export function registerErrorHandling(
  app: FastifyInstance,
  options: { refusals?: ConstructorParameters<typeof RefusalLog>[1]; paths?: RoutePaths } = {},
): void {
  app.addSchema(ErrorEnvelope)
  // An outage refuses every request alike: the first in full, then a count per second.
  const refusals = new RefusalLog(app.log, options.refusals)
  app.addHook('onClose', async () => refusals.close())

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(error)
    if (appError.code === 'unavailable') {
      refusals.refused(request, appError)
    } else if (appError.statusCode >= 500) {
      // 5xx details go to the log, never to the client.
      request.log.error({ err: appError.cause ?? error, code: appError.code }, appError.message)
    } else {
      request.log.info({ code: appError.code, details: appError.details }, appError.message)
    }
    return reply.code(appError.statusCode).headers(headersOf(appError)).send(errorEnvelope(request, appError))
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/'
    const allowed = options.paths?.allowed(path) ?? []
    // A route of this method that found nothing (a static file that is not there) is a 404.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      const error = new AppError(
        'method_not_allowed',
        `${request.method} is not allowed on ${path}; it allows ${allowed.join(', ')}`,
      )
      return reply.code(405).header('allow', allowed.join(', ')).send(errorEnvelope(request, error))
    }
    const error = new AppError('not_found', `No route for ${request.method} ${path}`)
    return reply.code(404).send(errorEnvelope(request, error))
  })
}

/** For errors Fastify raises before routing (e.g. a malformed URL): the same envelope and header. */
export function renderFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const appError = toAppError(error)
  reply
    .code(appError.statusCode)
    .headers(headersOf(appError))
    .header('x-request-id', request.id)
    .send(errorEnvelope(request, appError))
}
