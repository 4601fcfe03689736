// Client-side routes under /admin/, with the History API. The server answers every /admin/ path
// that is not a file with index.html, so a reload or a shared link lands on the same page.
import { useEffect, useState } from 'preact/hooks'

export const BASE = '/admin'

export interface Location {
  /** The path inside the page, from `/`, without a trailing slash. */
  path: string
  query: URLSearchParams
}

function read(): Location {
  const { pathname, search } = window.location
  const inside = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname
  const path = inside.replace(/\/+$/, '') || '/'
  return { path, query: new URLSearchParams(search) }
}

let location = read()
const listeners = new Set<() => void>()

function changed(): void {
  location = read()
  for (const listener of listeners) listener()
}

window.addEventListener('popstate', changed)

/** The full URL of a page path such as `/orders?status=PENDING`. */
export function href(to: string): string {
  return to === '/' ? `${BASE}/` : `${BASE}${to}`
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = href(to)
  if (options.replace) history.replaceState(null, '', url)
  else history.pushState(null, '', url)
  changed()
}

/** Replaces some query parameters of the current page (empty values are removed). */
export function setQuery(changes: Record<string, string | number | undefined>): void {
  const query = new URLSearchParams(location.query)
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined || value === '') query.delete(name)
    else query.set(name, String(value))
  }
  const search = query.toString()
  navigate(`${location.path}${search ? `?${search}` : ''}`, { replace: true })
}

export function useLocation(): Location {
  const [, rerender] = useState(0)
  useEffect(() => {
    const listener = () => rerender((n) => n + 1)
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }, [])
  return location
}

/** The named parts of `pattern` (`/orders/:id`) in `path`, or null when it does not match. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const names: string[] = []
  const source = pattern.replace(/:(\w+)/g, (_, name: string) => {
    names.push(name)
    return '([^/]+)'
  })
  const found = new RegExp(`^${source}$`).exec(path)
  if (!found) return null
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1] ?? '')]))
}

/** A plain click on an in-page link navigates without reloading; modified clicks open as usual. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = (event.target as Element | null)?.closest('a')
  if (
    !anchor ||
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey ||
    event.altKey ||
    anchor.target ||
    anchor.origin !== window.location.origin ||
    !anchor.pathname.startsWith(`${BASE}/`)
  ) {
    return
  }
  event.preventDefault()
  navigate(`${anchor.pathname.slice(BASE.length)}${anchor.search}`)
}
