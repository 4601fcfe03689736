import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../http/errors.js'
import { type Authenticator, missingToken } from './authenticator.js'
import { allows, type Principal, type Role } from './roles.js'

/** Who may call a route: anyone, or a bearer token whose role is at least this one. */
export type RouteAuth = 'public' | Role

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth
  }
  interface FastifyRequest {
    /** Who sent the request, when it carried a valid bearer token (always, past a non-public route's checks). */
    principal: Principal | null
    /** Why the bearer token it carried was refused. */
    authError: unknown
  }
  interface FastifyInstance {
    /** Every route's method, URL and access rule, for documentation and for the route-walking test. */
    routeAccess: Array<{ method: string; url: string; auth: RouteAuth }>
  }
}

// Routes registered by plugins that take no route config: the API documentation pages.
const PUBLIC_PREFIXES = ['/docs']

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

function forbidden(principal: Principal, required: Role): AppError {
  return new AppError(
    'forbidden',
    principal.role
      ? `This needs the ${required} role; the token has ${principal.role}`
      : `This needs the ${required} role; the token grants no Waybill role`,
  )
}

/**
 * Secure by default: a route must say who may call it (`config.auth`), or the app refuses to
 * start. Every non-public route, and any unknown URL, needs a valid bearer token.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: { authenticator: Authenticator }) => {
    const { authenticator } = options
    app.decorateRequest('principal', null)
    app.decorateRequest('authError', null)
    app.decorate('routeAccess', [])

    app.addHook('onRoute', (route) => {
      // CORS preflights carry no credentials by design.
      if (route.method === 'OPTIONS' || PUBLIC_PREFIXES.some((prefix) => route.url.startsWith(prefix))) {
        route.config = { ...route.config, auth: 'public' }
      }
      const auth = route.config?.auth
      if (!auth) throw new Error(`route ${route.method} ${route.url} does not declare config.auth`)
      for (const method of [route.method].flat()) app.routeAccess.push({ method, url: route.url, auth })
    })

    // Two steps. onRequest only finds out who is calling, and never refuses: the rate limit (keyed
    // by that principal, else the address), CORS and the security headers then run on every
    // request, refused ones included. preParsing refuses, before any body is read.
    // Callback hooks with a synchronous path for tokens seen before: no promise per request.
    app.addHook('onRequest', (request, _reply, done) => {
      const header = request.headers.authorization
      if (header === undefined) return done()
      let known: ReturnType<Authenticator['known']>
      try {
        // Per connection: a keep-alive client sends the same token each time (see known()).
        known = authenticator.known(header, request.raw.socket ?? undefined)
      } catch (error) {
        request.authError = error
        return done()
      }
      if (known) {
        request.principal = known.principal
        return done()
      }
      authenticator.authenticate(header).then(
        (verified) => {
          request.principal = verified.principal
          done()
        },
        (error: unknown) => {
          request.authError = error
          done()
        },
      )
    })

    app.addHook('preParsing', (request, _reply, payload, done) => {
      // Unknown URLs have no config: they need a token too, so they reveal nothing.
      const required = request.routeOptions.config.auth ?? 'client'
      if (required === 'public') return done(null, payload)
      const { principal } = request
      if (!principal) return done(toError(request.authError ?? missingToken()), payload)
      if (!principal.role || !allows(principal.role, required))
        return done(forbidden(principal, required), payload)
      done(null, payload)
    })

    app.addHook('onReady', () => authenticator.start())
    app.addHook('onClose', () => authenticator.stop())
  },
  { name: 'waybill-auth' },
)
