import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { errorReplies } from '../http/errors.js'
import { STATUSES } from '../orders/schemas.js'
import type { StatsService } from './service.js'

const Count = Type.Integer({ minimum: 0 })

const StatsReply = Type.Object({
  tracking: Type.Object({
    issued_total: Count,
    issued_today: Type.Integer({ minimum: 0, description: 'Since 00:00 UTC' }),
    per_minute: Type.Array(Type.Object({ minute: Type.String({ format: 'date-time' }), count: Count }), {
      description: 'The last 30 minutes, oldest first, zero-filled',
    }),
  }),
  orders: Type.Object({ by_status: Type.Object(Object.fromEntries(STATUSES.map((s) => [s, Count]))) }),
  outbox: Type.Object({ pending: Count, failed: Count, sent: Count }),
})

export async function statsRoutes(parent: FastifyInstance, options: { service: StatsService }) {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  app.get(
    '/api/stats',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['operations'],
        summary: 'For the dashboard: numbers issued, orders by status, SMS outbox',
        response: { 200: StatsReply, ...errorReplies(401, 403, 429) },
      },
    },
    async () => options.service.summary(),
  )
}
