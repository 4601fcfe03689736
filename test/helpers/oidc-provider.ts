import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
// @ts-expect-error oidc-provider ships no type declarations
import Provider from 'oidc-provider'
// @ts-expect-error as above
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js'

/** A real OpenID provider (panva's oidc-provider) on 127.0.0.1, issuing JWT access tokens. */
export interface TestOidcProvider {
  issuer: string
  clientId: string
  /** An access token from the token endpoint (client-credentials grant), for `resource` (default TEST_AUDIENCE). */
  token(options?: { scope?: string; resource?: string }): Promise<string>
  /** Signs with a new key (new kid) from now on; the JWKS lists it first, then the earlier keys. */
  rotateKeys(): Promise<void>
  close(): Promise<void>
}

export interface TestOidcProviderOptions {
  /** Access-token lifetime in whole seconds (default 300, at least 1). */
  accessTokenTtl?: number
  /** Edits each access token's claims just before the provider signs it. */
  customizeClaims?: (claims: Record<string, unknown>) => void
}

/** Every resource indicator is its own audience; this one is Waybill's. */
export const TEST_AUDIENCE = 'https://api.waybill.test'
export const TEST_SCOPES = 'waybill:client waybill:operator waybill:admin'
const CLIENT_ID = 'waybill-test-client'
const CLIENT_SECRET = 'waybill-test-secret'

type Handler = (request: IncomingMessage, response: ServerResponse) => void

export async function startOidcProvider(options: TestOidcProviderOptions = {}): Promise<TestOidcProvider> {
  let handle: Handler = (_request, response) => response.writeHead(503).end()
  const server = createServer((request, response) => handle(request, response))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const keys: JWK[] = []
  async function rotateKeys(): Promise<void> {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true })
    const jwk = await exportJWK(privateKey)
    // Thumbprint kids: two providers never share one, as with real ones.
    keys.unshift({ ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' })
    // The provider's keystore is fixed when it is built, so a new instance with the same issuer takes
    // over the server. It signs with the first key and publishes all of them, as a real rotation would.
    handle = new Provider(issuer, configuration([...keys], options)).callback()
  }
  await rotateKeys()

  return {
    issuer,
    clientId: CLIENT_ID,
    rotateKeys,
    async token({ scope = '', resource = TEST_AUDIENCE } = {}) {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${btoa(`${CLIENT_ID}:${CLIENT_SECRET}`)}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
      })
      const body = (await response.json()) as { access_token?: string }
      if (!response.ok || !body.access_token) {
        throw new Error(`token endpoint answered ${response.status}: ${JSON.stringify(body)}`)
      }
      return body.access_token
    },
    async close() {
      if (!server.listening) return
      const closed = once(server, 'close')
      server.close()
      server.closeAllConnections()
      await closed
    },
  }
}

function configuration(keys: JWK[], options: TestOidcProviderOptions) {
  return {
    // The provider's own in-memory store, subclassed only because the store itself warns on every start.
    adapter: class extends MemoryAdapter {},
    jwks: { keys },
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
    ],
    cookies: { keys: ['waybill-test-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          audience: resource,
          scope: TEST_SCOPES,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // A number here, not the default function, which logs a notice; it must be a positive integer.
    ttl: { ClientCredentials: options.accessTokenTtl ?? 300 },
    formats: {
      customizers: {
        jwt: (_ctx: unknown, _token: unknown, jwt: { payload: Record<string, unknown> }) => {
          options.customizeClaims?.(jwt.payload)
        },
      },
    },
  }
}
