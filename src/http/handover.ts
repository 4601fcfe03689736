import type { IncomingMessage } from 'node:http'

/**
 * Set on a request that the tracking route's fast path (src/tracking/fast-route.ts) hands to
 * Fastify after its number could not be issued: the route throws it, so the error reply, its log
 * line and metrics are Fastify's own, and the rate limiter does not count the request again.
 */
export const ISSUE_FAILED = Symbol('waybill: issuing failed on the fast path')

export type HandedOver = IncomingMessage & { [ISSUE_FAILED]?: unknown }
