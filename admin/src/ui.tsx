// Small pieces every page uses: loading data, page titles, messages, and formatting.
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import type { ApiError } from './api.js'

export interface Resource<T> {
  data: T | undefined
  error: ApiError | Error | undefined
  loading: boolean
  reload(): void
}

/** Loads `load()` whenever `key` changes; an answer to an older key is dropped. */
export function useResource<T>(load: () => Promise<T>, key: string): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true })
  const [generation, setGeneration] = useState(0)
  const loader = useRef(load)
  loader.current = load
  useEffect(() => {
    let current = true
    setState((old) => ({ ...old, loading: true }))
    loader.current().then(
      (data) => current && setState({ data, loading: false }),
      (error: Error) => current && setState((old) => ({ data: old.data, error, loading: false })),
    )
    return () => {
      current = false
    }
  }, [key, generation])
  const reload = useCallback(() => setGeneration((n) => n + 1), [])
  return { data: state.data, error: state.error, loading: state.loading, reload }
}

/** The page's heading (focused after each navigation, see app.tsx) and the document's title. */
export function PageTitle({ children, title }: { children: ComponentChildren; title: string }) {
  useEffect(() => {
    document.title = `${title} · Waybill`
  }, [title])
  return (
    <h1 tabIndex={-1} class="page-title">
      {children}
    </h1>
  )
}

/** Shown until the first answer arrives; later reloads keep the old rows on screen instead. */
export function Loading({ resource }: { resource: Resource<unknown> }) {
  if (resource.data !== undefined || !resource.loading) return null
  return (
    <p class="empty" aria-busy="true">
      Loading…
    </p>
  )
}

export function ErrorAlert({ error }: { error: Error | undefined }) {
  if (!error) return null
  return (
    <div class="alert error" role="alert">
      {error.message}
    </div>
  )
}

// One message carried over a navigation ("Customer saved"), shown once on the next page.
let pendingFlash: string | null = null

export function flash(message: string): void {
  pendingFlash = message
}

export function Flash() {
  const [message, setMessage] = useState<string | null>(null)
  // Filled in after the live region is on the page, so that screen readers announce it.
  useEffect(() => {
    setMessage(pendingFlash)
    pendingFlash = null
  }, [])
  return (
    <div class="flash-region" role="status">
      {message && <div class="alert success">{message}</div>}
    </div>
  )
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status.toLowerCase()}`}>{status}</span>
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const number = new Intl.NumberFormat()

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date)
}

export function formatNumber(value: number): string {
  return number.format(value)
}

/** Now as RFC 3339 with this browser's offset, e.g. 2026-11-22T09:15:00+08:00. */
export function localTimestamp(date = new Date()): string {
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, '0')
  const offset = -date.getTimezoneOffset()
  const sign = offset >= 0 ? '+' : '-'
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  )
}

/** A random UUID (v4); crypto.randomUUID exists only on HTTPS and loopback. */
export function randomUuid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Focus an element once the render under way is on the page (e.g. a button that replaces another). */
export function focusSoon(id: string): void {
  window.setTimeout(() => document.getElementById(id)?.focus())
}

/**
 * An inline "are you sure?" before an action that takes effect at once (cancelling an order,
 * disabling a user). It takes focus, on its safe button, when it appears; Escape or that button
 * closes it (the caller then puts focus back).
 */
export function Confirm(props: {
  question: ComponentChildren
  confirm: string
  cancel: string
  busy?: boolean
  onConfirm(): void
  onCancel(): void
}) {
  const { onCancel } = props
  const safe = useRef<HTMLButtonElement>(null)
  useEffect(() => safe.current?.focus(), [])
  return (
    <fieldset
      class="confirm"
      onKeyDown={(event) => {
        if (event.key !== 'Escape') return
        event.preventDefault()
        onCancel()
      }}
    >
      <legend>{props.question}</legend>
      <div class="actions">
        <button type="button" class="danger" disabled={props.busy} onClick={props.onConfirm}>
          {props.confirm}
        </button>
        <button type="button" ref={safe} onClick={onCancel}>
          {props.cancel}
        </button>
      </div>
    </fieldset>
  )
}
