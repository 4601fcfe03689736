// Calls to Waybill's API with the session's bearer token. A 401 on a call made with the current
// access token refreshes it (once, shared with every other call waiting) and retries the call once.
import type { ErrorEnvelope } from '../../src/http/errors.js'
import { getSession, refreshSession } from './session.js'

/** The API's error envelope, or a network failure (status 0). */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorEnvelope['details'] = {},
    readonly correlationId?: string,
  ) {
    super(message)
  }
}

export interface Page<T> {
  count: number
  next: string | null
  previous: string | null
  results: T[]
}

/** A query string from the non-empty values, with its leading `?` (or nothing). */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

async function send(method: string, path: string, body: unknown, access: string | undefined) {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (access) headers.authorization = `Bearer ${access}`
  try {
    return await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body) })
  } catch {
    throw new ApiError(0, 'network', 'Waybill cannot be reached: check the connection and try again.')
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  const envelope = (await response.json().catch(() => null)) as Partial<ErrorEnvelope> | null
  if (envelope && typeof envelope.error === 'string') {
    return new ApiError(
      response.status,
      envelope.code ?? 'error',
      envelope.error,
      envelope.details ?? {},
      envelope.correlation_id,
    )
  }
  return new ApiError(response.status, 'http', `Waybill answered ${response.status} ${response.statusText}`)
}

/**
 * One API call. `anonymous` calls (signing in) send no token and never refresh. Throws ApiError;
 * a 401 that survives a refresh means the session has ended (the app then shows the sign-in page).
 */
export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  options: { anonymous?: boolean } = {},
): Promise<T> {
  let access = options.anonymous ? undefined : getSession()?.access
  let response = await send(method, path, body, access)
  if (response.status === 401 && access) {
    const session = getSession()?.access === access ? await refreshSession().catch(() => null) : getSession()
    access = session?.access
    if (access) response = await send(method, path, body, access)
  }
  if (!response.ok) throw await errorFrom(response)
  if (response.status === 204) return undefined as T
  return (await response.json()) as T
}

export const get = <T>(path: string) => api<T>('GET', path)
