// The search box and filters above a list. They live in the URL (so Back, reload and links keep
// them); a 400 from the list's API names the query fields it refuses, shown beside each filter
// as forms show theirs.
import { useEffect, useRef, useState } from 'preact/hooks'
import { asciiUpper } from '../../src/tracking/codec.js'
import { describe, FieldErrors, FieldNotes } from './form.js'
import { setQuery, useLocation } from './router.js'

/** The list's error by filter (query field), and one message for the rest, or nothing. */
export function filterErrors(
  error: Error | undefined,
  fields: string[],
): { errors: Record<string, string[]>; message: string | null } {
  if (!error) return { errors: {}, message: null }
  const { fieldErrors, message } = describe(error, fields, 'Please correct the marked filters.')
  return { errors: fieldErrors, message }
}

/** The list's error, above it: a failed filter shows no rows, not the rows of the filter before. */
export function ListFailure({ message }: { message: string | null }) {
  if (!message) return null
  return (
    <div class="alert error" role="alert">
      {message}
    </div>
  )
}

interface Invalid {
  id: string
  errors: string[] | undefined
  hint?: string | undefined
}

/** aria-invalid and aria-describedby of a filter's control, from its hint and its errors. */
function invalidity({ id, errors, hint }: Invalid) {
  const described = [hint && `${id}-hint`, errors && `${id}-error`].filter(Boolean).join(' ')
  return { 'aria-invalid': errors ? true : undefined, 'aria-describedby': described || undefined }
}

/** A search box that updates the URL as one types (debounced), so the list follows. */
export function SearchBox(props: { label: string; id: string; hint?: string; errors?: string[] }) {
  const { label, id, hint, errors } = props
  const current = useLocation().query.get('q') ?? ''
  const [text, setText] = useState(current)
  const sent = useRef(current)
  // The URL changed from elsewhere (back button, "Clear filters"): show its term.
  useEffect(() => {
    if (current === sent.current) return
    sent.current = current
    setText(current)
  }, [current])
  useEffect(() => {
    if (text.trim() === current) return
    const timer = window.setTimeout(() => {
      sent.current = text.trim()
      // Typing is one step for Back, however many pauses it makes.
      setQuery({ q: sent.current, page: undefined }, { replace: true })
    }, 300)
    return () => window.clearTimeout(timer)
  }, [text, current])
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type="search"
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        {...invalidity({ id, errors, hint })}
      />
      <FieldNotes id={id} hint={hint} errors={errors} />
    </div>
  )
}

interface FilterProps {
  id: string
  label: string
  /** The query parameter. */
  name: string
  value: string
  errors?: string[] | undefined
}

export function FilterSelect(props: FilterProps & { options: string[] }) {
  const { id, label, name, value, errors } = props
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        onChange={(e) => setQuery({ [name]: e.currentTarget.value, page: undefined })}
        {...invalidity({ id, errors })}
      >
        <option value="">Any</option>
        {props.options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
      <FieldErrors id={`${id}-error`} messages={errors} />
    </div>
  )
}

/** A text or date filter, applied when it changes (Enter, or leaving the field). */
export function FilterInput(
  props: FilterProps & {
    type?: 'date'
    /** A code kept in capitals (the API refuses lowercase rather than fold it). */
    capitals?: boolean
  },
) {
  const { id, label, name, value, errors, capitals } = props
  const input = {
    id,
    value,
    onChange: (e: { currentTarget: HTMLInputElement }) => {
      const trimmed = e.currentTarget.value.trim()
      const cleaned = capitals ? asciiUpper(trimmed) : trimmed
      // Shown as sent, even when the URL (and so the value) stays the same.
      e.currentTarget.value = cleaned
      setQuery({ [name]: cleaned, page: undefined })
    },
    ...invalidity({ id, errors }),
  }
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {props.type === 'date' ? (
        <input type="date" {...input} />
      ) : (
        <input
          type="text"
          autoCapitalize={capitals ? 'characters' : undefined}
          spellcheck={false}
          {...input}
        />
      )}
      <FieldErrors id={`${id}-error`} messages={errors} />
    </div>
  )
}
