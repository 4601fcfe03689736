import type { FastifyInstance } from 'fastify'
import FindMyWay, { type HTTPMethod } from 'find-my-way'

// A request whose path exists under other methods (`PUT /api/orders/1/`, `DELETE
// /next-tracking-number`) is answered 405 with `Allow`, not 404: the client reads "wrong method",
// not "not found". Fastify's router answers only "no route"; a second router holding the same
// paths (no handlers) tells which methods a path has. It is consulted only on that miss: a route
// that is found costs nothing more.

const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

export interface RoutePaths {
  /** The methods this concrete path is routed for, in a fixed order; empty when none. */
  allowed(path: string): string[]
}

/** Records every route registered after it; `options` must be the app's own router options. */
export function trackRoutePaths(
  app: FastifyInstance,
  options: { ignoreTrailingSlash: boolean; maxParamLength: number },
): RoutePaths {
  const router = FindMyWay(options)
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // CORS answers a preflight on any path: that says nothing about what the path allows.
      if (method === 'OPTIONS' && route.url.endsWith('*')) continue
      if (METHODS.includes(method as HTTPMethod)) router.on(method as HTTPMethod, route.url, () => {})
    }
  })
  return {
    allowed(path) {
      return METHODS.filter((method) => router.find(method, path) !== null)
    },
  }
}
