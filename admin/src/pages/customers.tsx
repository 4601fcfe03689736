import type { CustomerPatch, CustomerReply, CustomerSortField } from '../../../src/customers/schemas.js'
import { asciiUpper } from '../../../src/tracking/codec.js'
import { api, get, type Page, query } from '../api.js'
import { filterErrors, ListFailure, SearchBox } from '../filters.js'
import { Field, FormFailure, useForm } from '../form.js'
import { href, listFrom, returnTo, useLocation } from '../router.js'
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

export function Customers() {
  const q = useLocation().query.get('q') ?? ''
  const { page, pageSize } = usePage()
  // The API's default, id, has no column: oldest first.
  const ordering = useOrdering(COLUMNS, 'id')
  const path = `/api/customers/${query({ q, ordering, page, page_size: pageSize })}`
  const list = useResource(() => get<Page<CustomerReply>>(path), path)
  const failed = filterErrors(list.error, ['q'])
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
        <SearchBox
          id="customer-search"
          label="Search"
          hint="Name, code or phone number"
          errors={failed.errors.q}
        />
      </search>
      <ListFailure message={failed.message} />
      <Loading resource={list} />
      {list.data && !list.error && (
        <div aria-busy={list.loading}>
          <DataTable
            caption="Customers"
            columns={COLUMNS}
            rows={list.data.results}
            rowKey={(c) => c.id}
            ordering={ordering}
            empty={q ? `No customer matches “${q}”.` : 'No customers yet.'}
            total={list.data.count}
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

type CustomerBody = ReturnType<typeof customerBody>

/** What the API takes from the form's values. */
function customerBody(values: typeof EMPTY) {
  // Spaces typed around a value are not part of it (the API refuses them rather than guess), and a
  // code is stored in capitals (the API refuses lowercase rather than fold it).
  const email = values.email.trim()
  return {
    name: values.name.trim(),
    code: asciiUpper(values.code.trim()),
    phone_number: values.phone_number.trim(),
    email: email === '' ? null : email,
  }
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
    const body = customerBody(values)
    if (id === undefined) {
      const created = await api<CustomerReply>('POST', '/api/customers/', body)
      flash(`Customer ${created.name} (${created.code}) created.`)
      returnTo('/customers')
      return
    }
    // Only what this person changed: a whole customer would undo what others saved since it loaded.
    const before = customerBody(initial)
    const changes: CustomerPatch = Object.fromEntries(
      Object.entries(body).filter(([name, value]) => before[name as keyof CustomerBody] !== value),
    )
    if (Object.keys(changes).length === 0) {
      flash('Nothing changed.')
    } else {
      const saved = await api<CustomerReply>('PATCH', `/api/customers/${id}/`, changes)
      flash(`Customer ${saved.name} (${saved.code}) saved.`)
    }
    returnTo('/customers')
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
          hint="2 to 32 letters and digits, unique, e.g. CUST001 (kept in capitals)"
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
          <a class="button" href={href(listFrom('/customers'))}>
            Cancel
          </a>
        </div>
      </form>
    </>
  )
}
