import type { Static } from '@sinclair/typebox'
import { useState } from 'preact/hooks'
import { asciiUpper, checkTrackingNumber } from '../../../src/tracking/codec.js'
import type { GenerateReply, TrackingRecordReply } from '../../../src/tracking/schemas.js'
import { api, get } from '../api.js'
import { Field, FormFailure, useForm } from '../form.js'
import { formatDateTime, localTimestamp, PageTitle, randomUuid, StatusBadge } from '../ui.js'
import { CountryList } from './order.js'

type TrackingRecord = Static<typeof TrackingRecordReply>
type Issued = Static<typeof GenerateReply>

const LENGTH = 16

/** What to say about a number as it is typed, from its shape and check character alone. */
export function typoCheck(value: string): { ok: boolean; message: string } {
  if (value === '') return { ok: false, message: '' }
  if (!/^[A-Z0-9]*$/.test(value)) {
    return { ok: false, message: 'Only the letters A–Z and the digits 0–9 appear in a tracking number.' }
  }
  if (value.length < LENGTH) return { ok: false, message: `${value.length} of ${LENGTH} characters` }
  if (value.length > LENGTH) {
    return {
      ok: false,
      message: `Too long: a tracking number has ${LENGTH} characters, this has ${value.length}.`,
    }
  }
  const check = checkTrackingNumber(value)
  if (check.ok) return { ok: true, message: 'The check character matches.' }
  return {
    ok: false,
    message:
      'This number has a typo: its last character (the check character) does not match the others. ' +
      'Look for a mistyped character or two neighbours swapped.',
  }
}

const normalize = (value: string) => asciiUpper(value.replace(/\s+/g, ''))

export function Tracking() {
  return (
    <>
      <PageTitle title="Tracking numbers">Tracking numbers</PageTitle>
      <div class="two-columns">
        <Lookup />
        <Issue />
      </div>
    </>
  )
}

function Lookup() {
  const form = useForm('lookup', { tracking_number: '' })
  const [record, setRecord] = useState<TrackingRecord | null>(null)
  const number = normalize(form.values.tracking_number)
  const check = typoCheck(number)
  const typo = number.length >= LENGTH && !check.ok
  const onSubmit = form.submit(async () => {
    setRecord(null)
    if (!check.ok) {
      // Nothing to ask the server: the message beside the field says what is wrong.
      document.getElementById('lookup-tracking_number')?.focus()
      return
    }
    setRecord(await get<TrackingRecord>(`/tracking-numbers/${number}`))
  })
  return (
    <section class="card" aria-labelledby="lookup-heading">
      <h2 id="lookup-heading">Look up a number</h2>
      <FormFailure form={form} />
      <form onSubmit={onSubmit} noValidate>
        <Field
          form={form}
          name="tracking_number"
          label="Tracking number"
          class="mono tracking-input"
          autoCapitalize="characters"
          autoComplete="off"
          spellcheck={false}
          aria-invalid={typo || form.errors.tracking_number ? true : undefined}
          live={<span class={typo ? 'typo' : check.ok ? 'valid' : undefined}>{check.message}</span>}
        />
        <button type="submit" class="primary" disabled={form.busy}>
          {form.busy ? 'Looking up…' : 'Look up'}
        </button>
      </form>
      {/* Only under the number it answers: a number typed since (or mistyped) has no result yet. */}
      <div aria-live="polite">
        {record && record.tracking_number === number && <TrackingResult record={record} />}
      </div>
    </section>
  )
}

// A field the request did not send (TRACKING_REQUIRED_FIELDS, or an older client's POST).
const NOT_SENT = '—'

/** A number issued through the tracking API carries its request; one given to an order, the order's progress. */
function TrackingResult({ record }: { record: TrackingRecord }) {
  const meta = record.request_metadata
  return (
    <div class="result">
      <p class="tracking-number">{record.tracking_number}</p>
      <dl class="facts">
        <dt>Issued</dt>
        <dd>{formatDateTime(record.created_at)}</dd>
        {record.order && (
          <>
            <dt>Order</dt>
            <dd>
              <StatusBadge status={record.order.status} /> since {formatDateTime(record.order.updated_at)}
            </dd>
          </>
        )}
        {meta && (
          <>
            <dt>Route</dt>
            <dd>
              {meta.origin_country ?? NOT_SENT} → {meta.destination_country ?? NOT_SENT}
            </dd>
            <dt>Weight</dt>
            <dd>{meta.weight_kg === null ? NOT_SENT : `${meta.weight_kg} kg`}</dd>
            <dt>Customer</dt>
            <dd>
              {meta.customer_name ?? NOT_SENT}{' '}
              {meta.customer_slug !== null && <code>{meta.customer_slug}</code>}
            </dd>
            <dt>Ordered</dt>
            <dd>{formatDateTime(meta.order_created_at)}</dd>
          </>
        )}
      </dl>
    </div>
  )
}

/** `Café Ünïcode` → `cafe-unicode`: accents are dropped (decomposed, then marks removed), not split on. */
export const slugify = (name: string) =>
  name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')

/** Countries are ISO codes in capitals; the API refuses lowercase rather than fold it. */
const COUNTRY_FIELDS = new Set(['origin_country_id', 'destination_country_id'])

function Issue() {
  const form = useForm('issue', {
    origin_country_id: '',
    destination_country_id: '',
    weight: '',
    created_at: localTimestamp(),
    customer_id: randomUuid(),
    customer_name: '',
    customer_slug: '',
  })
  // Fields that follow others (or the clock) until the user types their own value.
  const [typed, setTyped] = useState({ created_at: false, customer_id: false, customer_slug: false })
  /** The input handler of a field that follows until typed in; emptied, it follows again. */
  const typedInto = (name: keyof typeof typed) => (event: { currentTarget: HTMLInputElement }) => {
    const { value } = event.currentTarget
    setTyped((old) => ({ ...old, [name]: value.trim() !== '' }))
    form.set(name, value)
  }
  const [issued, setIssued] = useState<Issued | null>(null)
  const onSubmit = form.submit(async (values) => {
    setIssued(null)
    // Spaces typed around a value are not part of it.
    const body = Object.fromEntries(
      Object.entries(values).map(([name, value]) => [
        name,
        COUNTRY_FIELDS.has(name) ? asciiUpper(value.trim()) : value.trim(),
      ]),
    )
    setIssued(await api<Issued>('POST', '/tracking/generate/', body))
    // The next order is another one: created now, unless the user gave its time.
    if (!typed.created_at) form.set('created_at', localTimestamp())
  })
  return (
    <section class="card" aria-labelledby="issue-heading">
      <h2 id="issue-heading">Issue a number</h2>
      <FormFailure form={form} />
      <form onSubmit={onSubmit} noValidate>
        <div class="field-row">
          <Field
            form={form}
            name="origin_country_id"
            label="Origin country"
            list="countries"
            hint="e.g. MY"
            autoCapitalize="characters"
          />
          <Field
            form={form}
            name="destination_country_id"
            label="Destination country"
            list="countries"
            hint="e.g. ID"
            autoCapitalize="characters"
          />
        </div>
        <Field
          form={form}
          name="weight"
          label="Weight in kg"
          inputMode="decimal"
          hint="More than 0, at most 3 decimals"
        />
        <Field
          form={form}
          name="created_at"
          label="Order created at"
          hint="RFC 3339 with offset, e.g. 2018-11-20T19:29:32+08:00; now, unless you change it"
          spellcheck={false}
          onInput={typedInto('created_at')}
        />
        <Field
          form={form}
          name="customer_name"
          label="Customer name"
          onInput={(event: { currentTarget: HTMLInputElement }) => {
            const name = event.currentTarget.value
            form.set('customer_name', name)
            // Another customer: another slug and id, unless the user gave their own.
            if (!typed.customer_slug) form.set('customer_slug', slugify(name))
            if (!typed.customer_id) form.set('customer_id', randomUuid())
          }}
        />
        <Field
          form={form}
          name="customer_slug"
          label="Customer slug"
          hint="kebab-case, e.g. redbox-logistics"
          spellcheck={false}
          onInput={typedInto('customer_slug')}
        />
        <Field
          form={form}
          name="customer_id"
          label="Customer ID (UUID)"
          hint="A new one for each new customer name, unless you change it"
          class="mono"
          spellcheck={false}
          onInput={typedInto('customer_id')}
        >
          <button
            type="button"
            class="small"
            onClick={() => {
              setTyped((old) => ({ ...old, customer_id: false }))
              form.set('customer_id', randomUuid())
            }}
          >
            New UUID
          </button>
        </Field>
        <CountryList />
        <button type="submit" class="primary" disabled={form.busy}>
          {form.busy ? 'Issuing…' : 'Issue tracking number'}
        </button>
      </form>
      <div role="status">
        {issued && (
          <div class="result">
            <p>Issued:</p>
            <p class="tracking-number">{issued.tracking_number}</p>
            <p class="hint">
              Record {issued.id} · {formatDateTime(issued.created_at)}
            </p>
          </div>
        )}
      </div>
    </section>
  )
}
