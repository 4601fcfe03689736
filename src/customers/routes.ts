import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { errorReplies } from '../http/errors.js'
import { pageReply, pageRequest } from '../http/pagination.js'
import {
  CustomerBody,
  CustomerListQuery,
  CustomerListReply,
  CustomerParams,
  CustomerPatch,
  CustomerReply,
} from './schemas.js'
import type { CustomerService } from './service.js'

const errors = errorReplies(400, 401, 403, 429)
const oneErrors = errorReplies(400, 401, 403, 404, 429)
// A create never finds nothing (404); its 409 is another request's write colliding with it.
const createErrors = errorReplies(400, 401, 403, 409, 429)
const writeErrors = errorReplies(400, 401, 403, 404, 409, 429)

export async function customerRoutes(parent: FastifyInstance, options: { service: CustomerService }) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { service } = options

  app.get(
    '/api/customers',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['customers'],
        summary: 'List customers, oldest first unless `ordering` says otherwise, a page at a time',
        querystring: CustomerListQuery,
        response: { 200: CustomerListReply, ...errors },
      },
    },
    async (request) => {
      const page = pageRequest(request.query)
      return pageReply(
        request,
        page,
        await service.list({ q: request.query.q }, page, request.query.ordering),
      )
    },
  )

  app.post(
    '/api/customers',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['customers'],
        summary: 'Create a customer',
        description: 'A code or phone number another customer has is a 400 naming the field.',
        body: CustomerBody,
        response: { 201: CustomerReply, ...createErrors },
      },
    },
    async (request, reply) => reply.code(201).send(await service.create(request.body)),
  )

  app.get(
    '/api/customers/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['customers'],
        summary: 'Get a customer',
        params: CustomerParams,
        response: { 200: CustomerReply, ...oneErrors },
      },
    },
    async (request) => service.get(request.params.id),
  )

  app.put(
    '/api/customers/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['customers'],
        summary: 'Replace a customer (an email left out is removed)',
        params: CustomerParams,
        body: CustomerBody,
        response: { 200: CustomerReply, ...writeErrors },
      },
    },
    async (request) => service.replace(request.params.id, request.body),
  )

  app.patch(
    '/api/customers/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['customers'],
        summary: 'Change some fields of a customer (email null removes it)',
        params: CustomerParams,
        body: CustomerPatch,
        response: { 200: CustomerReply, ...writeErrors },
      },
    },
    async (request) => service.update(request.params.id, request.body),
  )

  app.delete(
    '/api/customers/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['customers'],
        summary: 'Delete a customer that has no orders',
        description: 'A customer with orders is a 409.',
        params: CustomerParams,
        response: { 204: Type.Null(), ...writeErrors },
      },
    },
    async (request, reply) => {
      await service.remove(request.params.id)
      return reply.code(204).send(null)
    },
  )
}
