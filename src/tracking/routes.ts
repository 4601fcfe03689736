import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { parseWeightGrams } from '../formats.js'
import { errorReplies } from '../http/errors.js'
import { type HandedOver, ISSUE_FAILED } from '../http/handover.js'
import { IdempotencyHeaders, idempotency } from '../http/idempotency.js'
import type { TrackingFormat } from './codec.js'
import { type IssueField, LANE_FIELDS } from './fields.js'
import {
  BatchReply,
  batchBody,
  GenerateReply,
  generateBody,
  type IssueQuery,
  issueQuery,
  NextTrackingNumberReply,
  TrackingNumberParams,
  TrackingRecordReply,
} from './schemas.js'
import { type IssueRequest, requestMetadata, type TrackingService } from './service.js'

const errors = errorReplies(400, 401, 403, 409, 429, 503)

/** Where GET issues one number (the second for clients of the older API). */
export const ISSUE_PATHS = ['/next-tracking-number', '/api/next-tracking-number'] as const

/** A field not sent is absent (null); one sent has been checked by the schema. */
export function toIssueRequest(fields: IssueQuery): IssueRequest {
  return {
    origin: fields.origin_country_id ?? null,
    destination: fields.destination_country_id ?? null,
    weightGrams: fields.weight === undefined ? null : (parseWeightGrams(fields.weight) as number),
    orderCreatedAt: fields.created_at ?? null,
    customerId: fields.customer_id?.toLowerCase() ?? null,
    customerName: fields.customer_name ?? null,
    customerSlug: fields.customer_slug ?? null,
  }
}

export async function trackingRoutes(
  parent: FastifyInstance,
  options: {
    service: TrackingService
    /** TRACKING_REQUIRED_FIELDS: what the issue and batch routes require. */
    requiredFields: readonly IssueField[]
    format: TrackingFormat
  },
) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { service } = options
  const IssueQuery = issueQuery(options.requiredFields)
  const BatchBody = batchBody(options.requiredFields)
  // Older clients' route takes any subset of the fields, an empty body too; only route-format
  // numbers need their lane.
  const GenerateBody = generateBody(options.format === 'route' ? LANE_FIELDS : [])

  for (const url of ISSUE_PATHS) {
    app.get(
      url,
      {
        // A HEAD would issue and store a number that nobody receives (probes, link checkers).
        exposeHeadRoute: false,
        config: { auth: 'client' },
        schema: {
          tags: ['tracking'],
          summary: 'Issue the next tracking number',
          description: 'Answered only once the number and its request are committed.',
          querystring: IssueQuery,
          headers: IdempotencyHeaders,
          response: { 200: NextTrackingNumberReply, ...errors },
        },
      },
      async (request) => {
        // Handed over by the fast path (fast-route.ts) after issuing failed there: answered as here.
        if (ISSUE_FAILED in request.raw) throw (request.raw as HandedOver)[ISSUE_FAILED]
        const issued = await service.issue(toIssueRequest(request.query), 1, idempotency(request, 'next'))
        return {
          tracking_number: issued.tracking_numbers[0] as string,
          created_at: issued.created_at,
          correlation_id: request.id,
          request_metadata: requestMetadata(issued),
        }
      },
    )
  }

  app.post(
    '/tracking/generate',
    {
      config: { auth: 'client' },
      schema: {
        tags: ['tracking'],
        summary: 'Issue a tracking number (for older clients)',
        description:
          'Takes any subset of the fields, or no body at all (except the lane with TRACKING_FORMAT=route); what is not sent is stored as absent.',
        body: GenerateBody,
        headers: IdempotencyHeaders,
        response: { 201: GenerateReply, ...errors },
      },
      // `curl -X POST …/tracking/generate/`, as the older clients' documentation has it: no body
      // is an empty one.
      preValidation: (request, _reply, done) => {
        if (request.body === undefined) request.body = {} as typeof request.body
        done()
      },
    },
    async (request, reply) => {
      const issued = await service.issue(toIssueRequest(request.body), 1, idempotency(request, 'generate'), {
        uuids: true,
      })
      return reply.code(201).send({
        id: issued.sequences[0] as number,
        uuid: issued.uuids?.[0] as string,
        tracking_number: issued.tracking_numbers[0] as string,
        created_at: issued.created_at,
      })
    },
  )

  app.post(
    '/tracking-numbers/batch',
    {
      config: { auth: 'client' },
      schema: {
        tags: ['tracking'],
        summary: 'Issue up to 1000 tracking numbers in one commit',
        body: BatchBody,
        headers: IdempotencyHeaders,
        response: { 201: BatchReply, ...errors },
      },
    },
    async (request, reply) => {
      const issued = await service.issue(
        toIssueRequest(request.body),
        request.body.count,
        idempotency(request, 'batch'),
      )
      return reply.code(201).send({
        tracking_numbers: issued.tracking_numbers,
        created_at: issued.created_at,
        correlation_id: request.id,
        request_metadata: requestMetadata(issued),
      })
    },
  )

  app.get(
    '/tracking-numbers/:tracking_number',
    {
      config: { auth: 'client' },
      schema: {
        tags: ['tracking'],
        summary: 'Look up an issued tracking number',
        description:
          'A malformed number or a wrong check character is a 400, answered without a database query.',
        params: TrackingNumberParams,
        // No 409 here: a lookup has no Idempotency-Key to conflict with.
        response: { 200: TrackingRecordReply, ...errorReplies(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const found = await service.find(request.params.tracking_number)
      if (found.kind === 'order') {
        const { order } = found
        return {
          id: found.sequence,
          tracking_number: order.tracking_number,
          created_at: order.order_time,
          order: { status: order.status, updated_at: order.updated_at },
        }
      }
      const { record } = found
      return {
        id: record.sequence,
        uuid: record.uuid,
        tracking_number: record.tracking_number,
        created_at: record.created_at,
        request_metadata: requestMetadata(record),
      }
    },
  )
}
