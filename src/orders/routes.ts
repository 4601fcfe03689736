import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { errorReplies } from '../http/errors.js'
import { IdempotencyHeaders, idempotency } from '../http/idempotency.js'
import { NoListQuery, pageReply, pageRequest } from '../http/pagination.js'
import {
  NotificationListReply,
  OrderBody,
  OrderListQuery,
  OrderListReply,
  OrderParams,
  OrderPatch,
  OrderReplace,
  OrderReply,
  OrderSearchQuery,
} from './schemas.js'
import type { OrderService } from './service.js'

const errors = errorReplies(400, 401, 403, 429)
const oneErrors = errorReplies(400, 401, 403, 404, 429)

export async function orderRoutes(
  parent: FastifyInstance,
  options: {
    service: OrderService
    notifications: (orderId: number) => Promise<Array<Record<string, unknown>>>
  },
) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { service } = options
  const config = { auth: 'operator' as const }

  app.get(
    '/api/orders',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: 'List orders, newest first unless `ordering` says otherwise, with filters',
        querystring: OrderListQuery,
        response: { 200: OrderListReply, ...errors },
      },
    },
    async (request) => {
      const page = pageRequest(request.query)
      return pageReply(request, page, await service.list(request.query, page))
    },
  )

  app.get(
    '/api/orders/search',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: 'Search orders by item, customer name or code, or tracking number',
        querystring: OrderSearchQuery,
        response: { 200: OrderListReply, ...errors },
      },
    },
    async (request) => {
      const page = pageRequest(request.query)
      return pageReply(request, page, await service.search(request.query.q, page, request.query.ordering))
    },
  )

  app.post(
    '/api/orders',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: 'Create an order: it gets a tracking number, and the customer an SMS',
        description: 'The order, its tracking number and its notification are committed together.',
        body: OrderBody,
        headers: IdempotencyHeaders,
        response: {
          201: OrderReply,
          ...errors,
          409: Type.Ref('ErrorEnvelope'),
          503: Type.Ref('ErrorEnvelope'),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await service.create(request.body, idempotency(request, 'create-order'))),
  )

  app.get(
    '/api/orders/:id',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: 'One order',
        params: OrderParams,
        response: { 200: OrderReply, ...oneErrors },
      },
    },
    async (request) => service.get(request.params.id),
  )

  app.patch(
    '/api/orders/:id',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: 'Change the status of an order (the customer gets an SMS), or correct a PENDING order',
        description:
          '{status}: PENDING → CONFIRMED → SHIPPED → DELIVERED, or CANCELLED before shipping; any other change is a 409 naming the allowed ones. ' +
          'Other fields (item, amount, origin_country_id, destination_country_id, weight) correct the order while it is PENDING (409 otherwise), without an SMS.',
        params: OrderParams,
        body: OrderPatch,
        response: { 200: OrderReply, ...oneErrors, 409: Type.Ref('ErrorEnvelope') },
      },
    },
    async (request) => service.correct(request.params.id, request.body, 'patch'),
  )

  app.put(
    '/api/orders/:id',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: 'Correct a PENDING order: its item, amount, lane and weight as they should be',
        description:
          'A lane or weight left out is cleared. 409 once the order is past PENDING; no SMS is sent. Orders are never deleted: cancel them (PATCH {status: CANCELLED}).',
        params: OrderParams,
        body: OrderReplace,
        response: { 200: OrderReply, ...oneErrors, 409: Type.Ref('ErrorEnvelope') },
      },
    },
    async (request) => service.correct(request.params.id, request.body, 'replace'),
  )

  app.get(
    '/api/orders/:id/notifications',
    {
      config,
      schema: {
        tags: ['orders'],
        summary: "The order's SMS notifications: state, attempts and last error",
        params: OrderParams,
        querystring: NoListQuery,
        response: { 200: NotificationListReply, ...oneErrors },
      },
    },
    async (request) => {
      await service.get(request.params.id) // 404 for an unknown order
      return { results: await options.notifications(request.params.id) }
    },
  )
}
