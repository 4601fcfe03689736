import { useEffect, useRef, useState } from 'preact/hooks'
import type { CustomerReply, CustomerSortField } from '../../../src/customers/schemas.js'
import { api, get, type Page, query } from '../api.js'
import { Field, FormFailure, useForm } from '../form.js'
import { href, navigate, setQuery, useLocation } from '../router.js'
import { type Column, DataTable, Pager, useOrdering, usePage } from '../table.js'
import { ErrorAlert, Flash, flash, formatDateTime, Loading, PageTitle, useResource } from '../ui.js'

const COLUMNS: Array<Column<CustomerReply, CustomerSortField>> = [
  {
    key: 'name',
    label: 'Name',
    cell: (c) => <a href={href(`/customers/${c.id}`)}>{c.name}</a>,
    sort: 'name',
  },
  { key: 'code', label: 'Code', cell: (c) => <code>{c.code}</code>, sort: 'code' },
  { key: 'phone', label: 'Phone', cell: (c) => c.phone_number },
  { key: 'email', label: 'Email', cell: (c) => c.email ?? '—' },
  { key: 'created', label: 'Created', cell: (c) => formatDateTime(c.created_at), sort: 'created_at' },
  {
    key: 'actions',
    label: 'Actions',
    cell: (c) => (
      <a href={href(`/orders/new?customer_code=${encodeURIComponent(c.code)}`)}>
        New order<span class="visually-hidden"> for {c.name}</span>
      </a>
    ),
  },
]

/** A search box that updates the URL as one types (debounced), so the list follows. */
export function SearchBox({ label, id, hint }: { label: string; id: string; hint?: string }) {
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
      setQuery({ q: sent.current, page: undefined })
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
        aria-describedby={hint ? `${id}-hint` : undefined}
      />
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  )
}

export function Customers() {
  const q = useLocation().query.get('q') ?? ''
  const { page, pageSize } = usePage()
  // The API's default, id, has no column: oldest first.
  const ordering = useOrdering(COLUMNS, 'id')
  const path = `/api/customers/${query({ q, ordering, page, page_size: pageSize })}`
  const list = useResource(() => get<Page<CustomerReply>>(path), path)
  return (
    <>
      <div class="page-head">
        <PageTitle title="Customers">Customers</PageTitle>
        <a class="button primary" href={href('/customers/new')}>
          New customer
        </a>
      </div>
      <Flash />
      <search class="filters">
        <SearchBox id="customer-search" label="Search" hint="Name, code or phone number" />
      </search>
      <ErrorAlert error={list.error} />
      <Loading resource={list} />
      {list.data && (
        <div aria-busy={list.loading}>
          <DataTable
            caption="Customers"
            columns={COLUMNS}
            rows={list.data.results}
            rowKey={(c) => c.id}
            ordering={ordering}
            empty={q ? `No customer matches “${q}”.` : 'No customers yet.'}
          />
          <Pager count={list.data.count} label="Customers" />
        </div>
      )}
    </>
  )
}

const EMPTY = { name: '', code: '', phone_number: '', email: '' }

/** Create (`id` undefined) or edit a customer. */
export function CustomerForm({ id }: { id?: number }) {
  if (id === undefined) return <CustomerEditor initial={EMPTY} />
  return <EditCustomer id={id} />
}

/**
 * The edit form is mounted only once the customer has loaded, with its values: never an empty form
 * that someone could start typing into before the loaded values replace what they typed.
 */
function EditCustomer({ id }: { id: number }) {
  const existing = useResource(() => get<CustomerReply>(`/api/customers/${id}/`), String(id))
  const c = existing.data
  if (c === undefined) {
    return (
      <>
        <PageTitle title="Edit customer">Edit customer</PageTitle>
        <ErrorAlert error={existing.error} />
        <Loading resource={existing} />
      </>
    )
  }
  const initial = { name: c.name, code: c.code, phone_number: c.phone_number, email: c.email ?? '' }
  return <CustomerEditor key={String(id)} id={id} title={`Edit ${c.name}`} initial={initial} />
}

function CustomerEditor({
  id,
  title = 'New customer',
  initial,
}: {
  id?: number
  title?: string
  initial: typeof EMPTY
}) {
  const form = useForm('customer', initial)
  const onSubmit = form.submit(async (values) => {
    // Spaces typed around a value are not part of it (the API refuses them rather than guess).
    const email = values.email.trim()
    const body = {
      name: values.name.trim(),
      code: values.code.trim(),
      phone_number: values.phone_number.trim(),
      email: email === '' ? null : email,
    }
    const saved =
      id === undefined
        ? await api<CustomerReply>('POST', '/api/customers/', body)
        : await api<CustomerReply>('PUT', `/api/customers/${id}/`, body)
    flash(`Customer ${saved.name} (${saved.code}) ${id === undefined ? 'created' : 'saved'}.`)
    navigate('/customers')
  })
  return (
    <>
      <PageTitle title={title}>{title}</PageTitle>
      <FormFailure form={form} />
      <form class="card form" onSubmit={onSubmit} noValidate>
        <Field form={form} name="name" label="Name" autoComplete="organization" />
        <Field
          form={form}
          name="code"
          label="Code"
          hint="2 to 32 capital letters and digits, unique, e.g. CUST001"
          autoCapitalize="characters"
          spellcheck={false}
        />
        <Field
          form={form}
          name="phone_number"
          label="Phone number"
          type="tel"
          hint="International format starting with +, e.g. +254722000000"
          autoComplete="tel"
        />
        <Field form={form} name="email" label="Email (optional)" type="email" autoComplete="email" />
        <div class="actions">
          <button type="submit" class="primary" disabled={form.busy}>
            {form.busy ? 'Saving…' : id === undefined ? 'Create customer' : 'Save changes'}
          </button>
          <a class="button" href={href('/customers')}>
            Cancel
          </a>
        </div>
      </form>
    </>
  )
}
