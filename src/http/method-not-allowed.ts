import type { FastifyInstance, preParsingHookHandler } from 'fastify'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import { AppError } from './errors.js'

// A request whose path exists under other methods (`PUT /api/orders/1/`, `DELETE
// /next-tracking-number`) is answered 405 with `Allow`, not 404: the client reads "wrong method",
// not "not found". Fastify's router answers only "no route"; a second router holding the same
// paths (no handlers) tells which methods a path has. It is consulted only on that miss: a route
// that is found costs nothing more.

const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

export interface RoutePaths {
  /**
   * The methods this concrete path is routed for, in a fixed order; empty when none. A path that a
   * static route has gets that route's methods only (not those of a parameter route it matches).
   */
  allowed(path: string): string[]
}

/** Records every route registered after it; `options` must be the app's own router options. */
export function trackRoutePaths(
  app: FastifyInstance,
  options: { ignoreTrailingSlash: boolean; maxParamLength: number },
): RoutePaths {
  const router = FindMyWay(options)
  const staticPaths = new Set<string>()
  /** The methods routed for this path by a static route (no parameter), in a fixed order. */
  const staticMethods = (path: string) =>
    METHODS.filter((method) => {
      const found = router.find(method, path)
      return found !== null && !/[:*]/.test((found.store as { url: string }).url)
    })
  // `PUT /api/orders/search/` would match `PUT /api/orders/:id` and fail on the id: a path a
  // static route has is that route's, so a method it lacks is a 405 there, not the parameter's.
  // preParsing, after the app's own: a caller without a valid token gets its 401 first.
  const staticWins: preParsingHookHandler = (request, _reply, payload, done) => {
    const path = request.url.split('?')[0] ?? '/'
    // A Set lookup first: the hot parameter routes (a tracking number's lookup) pay nothing more.
    if (!staticPaths.has(path.replace(/\/+$/, ''))) return done(null, payload)
    const allowed = staticMethods(path)
    if (allowed.length > 0 && !allowed.includes(request.method as HTTPMethod)) {
      const error = new AppError(
        'method_not_allowed',
        `${request.method} is not allowed on ${path}; it allows ${allowed.join(', ')}`,
        {},
        { headers: { allow: allowed.join(', ') } },
      )
      return done(error, payload)
    }
    done(null, payload)
  }
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // CORS answers a preflight on any path: that says nothing about what the path allows.
      if (method === 'OPTIONS' && route.url.endsWith('*')) continue
      if (METHODS.includes(method as HTTPMethod))
        router.on(method as HTTPMethod, route.url, () => {}, { url: route.url })
    }
    if (!/[:*]/.test(route.url)) staticPaths.add(route.url.replace(/\/+$/, ''))
    if (/[:*]/.test(route.url) && !route.url.endsWith('*')) {
      route.preParsing = [staticWins, ...[route.preParsing ?? []].flat()]
    }
  })
  return {
    allowed(path) {
      // As staticWins: on a static route's path, only its own methods count.
      const own = staticPaths.has(path.replace(/\/+$/, '')) ? staticMethods(path) : []
      return own.length > 0 ? own : METHODS.filter((method) => router.find(method, path) !== null)
    },
  }
}
