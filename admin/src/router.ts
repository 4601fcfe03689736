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

/** What each history entry of this page remembers: the page it was reached from. */
interface EntryState {
  from?: string
}

/** A page path with its query, as navigate() takes it. */
function withQuery(path: string, query: URLSearchParams): string {
  const search = query.toString()
  return `${path}${search ? `?${search}` : ''}`
}

function current(): string {
  return withQuery(location.path, location.query)
}

/**
 * Goes to a page path. A new entry remembers the page it came from (see `cameFrom`); a replaced
 * entry keeps what the entry it replaces remembered.
 */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = href(to)
  if (options.replace) history.replaceState(history.state, '', url)
  else history.pushState({ from: current() } satisfies EntryState, '', url)
  changed()
}

/** The page path (with its query) this history entry was reached from in this page, if any. */
export function cameFrom(): string | undefined {
  const state = history.state as EntryState | null
  return typeof state?.from === 'string' ? state.from : undefined
}

/**
 * Changes some query parameters of the current page (empty values are removed). Each change is a
 * step that Back undoes (a page, a sort, a filter); `replace` is for changes made as one types.
 */
export function setQuery(
  changes: Record<string, string | number | undefined>,
  options: { replace?: boolean } = {},
): void {
  const query = new URLSearchParams(location.query)
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined || value === '') query.delete(name)
    else query.set(name, String(value))
  }
  const to = withQuery(location.path, query)
  if (to === current()) return
  navigate(to, options)
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

/** `list` as this entry was reached from it (with its search, sort and page), else `list` itself. */
export function listFrom(list: string): string {
  const from = cameFrom()
  return from !== undefined && (from === list || from.startsWith(`${list}?`)) ? from : list
}

/**
 * Back to the list this page was opened from, as it was: the entry before this one when that is
 * the list (so that Back does not lead to this page again), else a new entry for `list`.
 */
export function returnTo(list: string): void {
  if (cameFrom() === listFrom(list)) history.back()
  else navigate(list)
}
