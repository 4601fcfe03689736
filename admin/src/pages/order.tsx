import type { Static } from '@sinclair/typebox'
import { useState } from 'preact/hooks'
import { COUNTRY_CODES } from '../../../src/countries.js'
import type { CustomerReply } from '../../../src/customers/schemas.js'
import type { NotificationListReply, OrderReply } from '../../../src/orders/schemas.js'
import { TRANSITIONS } from '../../../src/orders/service.js'
import { asciiUpper } from '../../../src/tracking/codec.js'
import { api, get, type Page } from '../api.js'
import { Field, FormFailure, useForm } from '../form.js'
import { href, navigate, useLocation } from '../router.js'
import {
  Confirm,
  ErrorAlert,
  Flash,
  flash,
  focusSoon,
  formatDateTime,
  PageTitle,
  StatusBadge,
  useResource,
} from '../ui.js'

type Status = OrderReply['status']
type Notification = Static<typeof NotificationListReply>['results'][number]

const ACTIONS: Record<Status, string> = {
  PENDING: 'Back to pending',
  CONFIRMED: 'Confirm',
  SHIPPED: 'Mark as shipped',
  DELIVERED: 'Mark as delivered',
  CANCELLED: 'Cancel order',
}

export function OrderDetail({ id }: { id: number }) {
  const order = useResource(() => get<OrderReply>(`/api/orders/${id}/`), `order ${id}`)
  const notifications = useResource(
    () => get<{ results: Notification[] }>(`/api/orders/${id}/notifications/`),
    `notifications ${id}`,
  )
  const [changing, setChanging] = useState<Status | null>(null)
  const [confirmCancel, setConfirmCancel] = useState(false)
  const [changeError, setChangeError] = useState<Error | undefined>()

  async function change(to: Status) {
    setChanging(to)
    setChangeError(undefined)
    try {
      await api<OrderReply>('PATCH', `/api/orders/${id}/`, { status: to })
      flash(`Status changed to ${to}; an SMS to the customer is queued.`)
      setConfirmCancel(false)
      order.reload()
      notifications.reload()
      // The button just pressed is gone: keep keyboard users in the status section.
      document.getElementById('order-status')?.focus()
    } catch (error) {
      setChangeError(error as Error)
      order.reload()
    } finally {
      setChanging(null)
    }
  }

  const o = order.data
  const next = o ? TRANSITIONS[o.status] : []
  return (
    <>
      <p class="breadcrumb">
        <a href={href('/orders')}>Orders</a>
      </p>
      <PageTitle title={o ? `Order ${o.tracking_number}` : 'Order'}>Order {o ? `#${o.id}` : ''}</PageTitle>
      {/* Remounted when the order changes, to show the message of the change just made. */}
      {o && <Flash key={o.updated_at} />}
      <ErrorAlert error={order.error} />
      {o && (
        <div class="order-grid">
          <section class="card" aria-labelledby="order-tracking">
            <h2 id="order-tracking">Tracking number</h2>
            <p class="tracking-number" data-testid="tracking-number">
              {o.tracking_number}
            </p>
            <dl class="facts">
              <dt>Customer</dt>
              <dd>
                {o.customer_name} <code>{o.customer_code}</code>
              </dd>
              <dt>Item</dt>
              <dd>{o.item}</dd>
              <dt>Amount</dt>
              <dd>{o.amount}</dd>
              <dt>Route</dt>
              <dd>
                {o.origin_country_id && o.destination_country_id
                  ? `${o.origin_country_id} → ${o.destination_country_id}`
                  : '—'}
              </dd>
              <dt>Weight</dt>
              <dd>{o.weight ? `${o.weight} kg` : '—'}</dd>
              <dt>Placed</dt>
              <dd>{formatDateTime(o.order_time)}</dd>
              <dt>Updated</dt>
              <dd>{formatDateTime(o.updated_at)}</dd>
            </dl>
          </section>
          <section class="card" aria-labelledby="order-status">
            <h2 id="order-status" tabIndex={-1}>
              Status
            </h2>
            <p>
              <StatusBadge status={o.status} />
            </p>
            <ErrorAlert error={changeError} />
            {next.length === 0 ? (
              <p class="hint">{o.status} is final: the order cannot change any more.</p>
            ) : confirmCancel ? (
              <Confirm
                question="Cancel this order for good? An SMS to the customer will be queued."
                confirm="Yes, cancel the order"
                cancel="Keep it"
                busy={changing !== null}
                onConfirm={() => change('CANCELLED')}
                onCancel={() => {
                  setConfirmCancel(false)
                  focusSoon('order-action-CANCELLED')
                }}
              />
            ) : (
              <div class="actions">
                {next.map((to) => (
                  <button
                    key={to}
                    id={`order-action-${to}`}
                    type="button"
                    class={to === 'CANCELLED' ? 'danger' : 'primary'}
                    disabled={changing !== null}
                    onClick={() => (to === 'CANCELLED' ? setConfirmCancel(true) : change(to))}
                  >
                    {changing === to ? 'Saving…' : ACTIONS[to]}
                  </button>
                ))}
              </div>
            )}
          </section>
        </div>
      )}
      <section class="card" aria-labelledby="order-notifications">
        <h2 id="order-notifications">SMS notifications</h2>
        <ErrorAlert error={notifications.error} />
        {notifications.data && <NotificationTable rows={notifications.data.results} />}
      </section>
    </>
  )
}

function NotificationTable({ rows }: { rows: Notification[] }) {
  if (rows.length === 0) return <p class="empty">No notifications.</p>
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">SMS notifications of this order</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Recipient</th>
            <th scope="col">State</th>
            <th scope="col" class="numeric">
              Attempts
            </th>
            <th scope="col">Last error</th>
            <th scope="col">Queued</th>
            <th scope="col">Sent</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((n) => (
            <tr key={n.id}>
              <td data-label="Event">{n.event}</td>
              <td data-label="Recipient">{n.recipient}</td>
              <td data-label="State">
                <span class={`badge sms-${n.status}`}>{n.status}</span>
              </td>
              <td data-label="Attempts" class="numeric">
                {n.attempts}
              </td>
              <td data-label="Last error">{n.last_error ?? '—'}</td>
              <td data-label="Queued">{formatDateTime(n.created_at)}</td>
              <td data-label="Sent">{formatDateTime(n.sent_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

export function CountryList() {
  return (
    <datalist id="countries">
      {[...COUNTRY_CODES].map((code) => (
        <option key={code} value={code} />
      ))}
    </datalist>
  )
}

const CODE_FIELDS = new Set(['customer_code', 'origin_country_id', 'destination_country_id'])

export function OrderForm() {
  const customerCode = useLocation().query.get('customer_code') ?? ''
  const form = useForm('order', {
    customer_code: customerCode,
    item: '',
    amount: '',
    origin_country_id: '',
    destination_country_id: '',
    weight: '',
  })
  const customers = useResource(() => get<Page<CustomerReply>>('/api/customers/?page_size=100'), 'customers')
  const onSubmit = form.submit(async (values) => {
    // Optional fields left empty are left out; spaces typed around a value are not part of it; codes
    // are in capitals (the API refuses lowercase rather than fold it).
    const body = Object.fromEntries(
      Object.entries(values)
        .map(([name, value]) => [name, CODE_FIELDS.has(name) ? asciiUpper(value.trim()) : value.trim()])
        .filter(([, value]) => value !== ''),
    )
    const order = await api<OrderReply>('POST', '/api/orders/', body)
    flash(`Order created. Its tracking number is ${order.tracking_number}.`)
    navigate(`/orders/${order.id}`)
  })
  return (
    <>
      <p class="breadcrumb">
        <a href={href('/orders')}>Orders</a>
      </p>
      <PageTitle title="New order">New order</PageTitle>
      <FormFailure form={form} />
      <form class="card form" onSubmit={onSubmit} noValidate>
        <Field
          form={form}
          name="customer_code"
          label="Customer code"
          list="customer-codes"
          autoCapitalize="characters"
          spellcheck={false}
        >
          <datalist id="customer-codes">
            {customers.data?.results.map((c) => (
              <option key={c.id} value={c.code}>
                {c.name}
              </option>
            ))}
          </datalist>
        </Field>
        <Field form={form} name="item" label="Item" />
        <Field
          form={form}
          name="amount"
          label="Amount"
          inputMode="decimal"
          hint="At most 2 decimals, e.g. 1250.50"
        />
        <div class="field-row">
          <Field
            form={form}
            name="origin_country_id"
            label="Origin country (optional)"
            list="countries"
            hint="e.g. KE"
            autoCapitalize="characters"
          />
          <Field
            form={form}
            name="destination_country_id"
            label="Destination country (optional)"
            list="countries"
            hint="e.g. UG"
            autoCapitalize="characters"
          />
        </div>
        <Field
          form={form}
          name="weight"
          label="Weight in kg (optional)"
          inputMode="decimal"
          hint="At most 3 decimals, e.g. 1.234"
        />
        <CountryList />
        <div class="actions">
          <button type="submit" class="primary" disabled={form.busy}>
            {form.busy ? 'Creating…' : 'Create order'}
          </button>
          <a class="button" href={href('/orders')}>
            Cancel
          </a>
        </div>
      </form>
    </>
  )
}
