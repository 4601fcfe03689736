import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'

const Status = Type.Object({ status: Type.String() })
// Probes are public and never rate limited: load balancers and orchestrators poll them.
const PROBE = { auth: 'public', rateLimit: false } as const
// OpenAPI: no bearer token, overriding the document's global security requirement.
const NO_TOKEN: [] = []

export async function healthRoutes(app: FastifyInstance, options: { ping: () => Promise<void> }) {
  app.get(
    '/health',
    {
      config: PROBE,
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        security: NO_TOKEN,
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  )
  app.get(
    '/ready',
    {
      config: PROBE,
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the database answers',
        security: NO_TOKEN,
        response: { 200: Status, 503: Status },
      },
    },
    async (request, reply) => {
      try {
        await options.ping()
        return { status: 'ready' }
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed: database unreachable')
        return reply.code(503).send({ status: 'database unavailable' })
      }
    },
  )
}
