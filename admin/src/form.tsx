// Forms whose errors come from the API: a 400's details are keyed by the request's field names and
// shown next to each field, so the page says exactly what the API says.
import type { ComponentChildren, InputHTMLAttributes, LooseInputHTMLAttributes } from 'preact'
import { useRef, useState } from 'preact/hooks'
import { ApiError } from './api.js'

export type Values = Record<string, string>

export interface Form<V extends Values> {
  id: string
  values: V
  errors: Record<string, string[]>
  /** The error of the whole form: not about one of its fields. */
  failure: string | null
  busy: boolean
  set(name: keyof V & string, value: string): void
  setValues(values: V): void
  submit(action: (values: V) => Promise<void>): (event: Event) => Promise<void>
}

export function useForm<V extends Values>(id: string, initial: V): Form<V> {
  const [values, setValues] = useState(initial)
  const [errors, setErrors] = useState<Record<string, string[]>>({})
  const [failure, setFailure] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const latest = useRef(values)
  latest.current = values

  return {
    id,
    values,
    errors,
    failure,
    busy,
    set(name, value) {
      setValues((old) => ({ ...old, [name]: value }))
    },
    setValues,
    submit(action) {
      return async (event: Event) => {
        event.preventDefault()
        if (busy) return
        setBusy(true)
        setErrors({})
        setFailure(null)
        try {
          await action(latest.current)
        } catch (error) {
          const { fieldErrors, message } = describe(error, Object.keys(latest.current))
          setErrors(fieldErrors)
          setFailure(message)
          // Take keyboard and screen-reader users to the first field to fix, or to the message.
          window.setTimeout(() => {
            const first = Object.keys(latest.current).find((name) => fieldErrors[name])
            const target = first ? document.getElementById(`${id}-${first}`) : null
            ;(target ?? document.getElementById(`${id}-failure`))?.focus()
          })
        } finally {
          setBusy(false)
        }
      }
    },
  }
}

/**
 * An error's messages for these fields (a 400's details), and one message for the rest: `summary`
 * when some field has its own, else the error's, then the details about other fields.
 */
export function describe(
  error: unknown,
  fields: string[],
  summary = 'Please correct the fields marked below.',
): { fieldErrors: Record<string, string[]>; message: string } {
  if (!(error instanceof ApiError)) return { fieldErrors: {}, message: String(error) }
  const fieldErrors: Record<string, string[]> = {}
  const others: string[] = []
  for (const [field, messages] of Object.entries(error.details)) {
    if (fields.includes(field)) fieldErrors[field] = messages
    else others.push(`${field || 'request'}: ${messages.join('; ')}`)
  }
  const first = Object.keys(fieldErrors).length > 0 ? summary : error.message
  return { fieldErrors, message: [first, ...others].join(' ') }
}

type InputProps = Omit<LooseInputHTMLAttributes<HTMLInputElement>, 'form' | 'name' | 'label' | 'value'> & {
  /** The id of a <datalist> of suggestions. */
  list?: string
}

interface FieldProps<V extends Values> {
  form: Form<V>
  name: keyof V & string
  label: string
  hint?: ComponentChildren
  /** Shown right away, before any request (e.g. a typo in a tracking number). */
  live?: ComponentChildren
  children?: ComponentChildren
}

function describedBy(ids: Array<string | false>): string | undefined {
  const list = ids.filter(Boolean).join(' ')
  return list || undefined
}

/** A labelled input with its hint and its errors, tied together for screen readers. */
export function Field<V extends Values>(props: FieldProps<V> & InputProps) {
  const { form, name, label, hint, live, children, ...input } = props
  const id = `${form.id}-${name}`
  const errors = form.errors[name]
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        name={name}
        value={form.values[name]}
        onInput={(event) => form.set(name, event.currentTarget.value)}
        aria-invalid={errors ? true : undefined}
        aria-describedby={describedBy([
          !!hint && `${id}-hint`,
          !!errors && `${id}-error`,
          !!live && `${id}-live`,
        ])}
        // Preact types each input type's attributes apart; the callers pass plain text fields.
        {...(input as InputHTMLAttributes<HTMLInputElement>)}
      />
      {children}
      <FieldNotes id={id} hint={hint} errors={errors} />
      {live !== undefined && (
        <p class="live" id={`${id}-live`} aria-live="polite">
          {live}
        </p>
      )}
    </div>
  )
}

export function SelectField<V extends Values>(
  props: FieldProps<V> & { options: Array<{ value: string; label: string }> },
) {
  const { form, name, label, hint, options } = props
  const id = `${form.id}-${name}`
  const errors = form.errors[name]
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={form.values[name]}
        onChange={(event) => form.set(name, event.currentTarget.value)}
        aria-invalid={errors ? true : undefined}
        aria-describedby={describedBy([!!hint && `${id}-hint`, !!errors && `${id}-error`])}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <FieldNotes id={id} hint={hint} errors={errors} />
    </div>
  )
}

/** A field's hint and its errors, under it (ids `${id}-hint`, `${id}-error`: see invalidity). */
export function FieldNotes({
  id,
  hint,
  errors,
}: {
  id: string
  hint?: ComponentChildren
  errors?: string[] | undefined
}) {
  return (
    <>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      <FieldErrors id={`${id}-error`} messages={errors} />
    </>
  )
}

export function FieldErrors({ id, messages }: { id: string; messages: string[] | undefined }) {
  if (!messages) return null
  return (
    <ul class="field-errors" id={id}>
      {messages.map((message) => (
        <li key={message}>{message}</li>
      ))}
    </ul>
  )
}

/** The form-level error, focusable so that a failed submit can move focus to it. */
export function FormFailure({ form }: { form: Form<Values> }) {
  if (!form.failure) return null
  return (
    <div class="alert error" role="alert" id={`${form.id}-failure`} tabIndex={-1}>
      {form.failure}
    </div>
  )
}
