import type { OrderReply, OrderSortField } from '../../../src/orders/schemas.js'
import { TRANSITIONS } from '../../../src/orders/service.js'
import { get, type Page, query } from '../api.js'
import { FilterInput, FilterSelect, filterErrors, ListFailure, SearchBox } from '../filters.js'
import { href, setQuery, useLocation } from '../router.js'
import { type Column, DataTable, Pager, useOrdering, usePage } from '../table.js'
import { Flash, formatDateTime, Loading, PageTitle, StatusBadge, useResource } from '../ui.js'

export const STATUSES = Object.keys(TRANSITIONS) as Array<keyof typeof TRANSITIONS>

const COLUMNS: Array<Column<OrderReply, OrderSortField>> = [
  {
    key: 'tracking',
    label: 'Tracking number',
    cell: (o) => (
      <a href={href(`/orders/${o.id}`)} class="mono">
        {o.tracking_number}
      </a>
    ),
    sort: 'tracking_number',
  },
  {
    key: 'customer',
    label: 'Customer',
    cell: (o) => (
      <>
        {o.customer_name} <code>{o.customer_code}</code>
      </>
    ),
    sort: 'customer_name',
  },
  { key: 'item', label: 'Item', cell: (o) => o.item, sort: 'item' },
  { key: 'amount', label: 'Amount', cell: (o) => o.amount, sort: 'amount', numeric: true },
  // The API sorts statuses in lifecycle order: PENDING, CONFIRMED, SHIPPED, DELIVERED, CANCELLED.
  { key: 'status', label: 'Status', cell: (o) => <StatusBadge status={o.status} />, sort: 'status' },
  { key: 'placed', label: 'Placed', cell: (o) => formatDateTime(o.order_time), sort: 'order_time' },
]

export function Orders() {
  const { query: params } = useLocation()
  const { page, pageSize } = usePage()
  const q = params.get('q') ?? ''
  const ordering = useOrdering(COLUMNS, '-order_time')
  const filters = {
    status: params.get('status') ?? '',
    start_date: params.get('start_date') ?? '',
    end_date: params.get('end_date') ?? '',
    customer_code: params.get('customer_code') ?? '',
  }
  // The search endpoint takes no filters: with a search term, the filters wait.
  const path = q
    ? `/api/orders/search/${query({ q, ordering, page, page_size: pageSize })}`
    : `/api/orders/${query({ ...filters, ordering, page, page_size: pageSize })}`
  const list = useResource(() => get<Page<OrderReply>>(path), path)
  const failed = filterErrors(list.error, ['q', ...Object.keys(filters)])
  const filtered = q !== '' || Object.values(filters).some(Boolean)
  return (
    <>
      <div class="page-head">
        <PageTitle title="Orders">Orders</PageTitle>
        <a class="button primary" href={href('/orders/new')}>
          New order
        </a>
      </div>
      <Flash />
      <search class="filters" aria-label="Orders">
        <SearchBox
          id="order-search"
          label="Search"
          hint="Item, customer, or a whole tracking number"
          errors={failed.errors.q}
        />
        <fieldset disabled={q !== ''} class="filter-set">
          <legend class="visually-hidden">Filters{q && ' (not used while searching)'}</legend>
          <FilterSelect
            id="order-status"
            label="Status"
            name="status"
            value={filters.status}
            options={STATUSES}
            errors={failed.errors.status}
          />
          <FilterInput
            id="order-from"
            label="From (UTC day)"
            name="start_date"
            type="date"
            value={filters.start_date}
            errors={failed.errors.start_date}
          />
          <FilterInput
            id="order-to"
            label="To (UTC day)"
            name="end_date"
            type="date"
            value={filters.end_date}
            errors={failed.errors.end_date}
          />
          <FilterInput
            id="order-customer"
            label="Customer code"
            name="customer_code"
            value={filters.customer_code}
            errors={failed.errors.customer_code}
            capitals
          />
        </fieldset>
        {filtered && (
          <button
            type="button"
            class="link"
            onClick={() =>
              setQuery({
                q: undefined,
                status: undefined,
                start_date: undefined,
                end_date: undefined,
                customer_code: undefined,
                page: undefined,
              })
            }
          >
            Clear filters
          </button>
        )}
      </search>
      {q && (
        <p class="hint">
          Searching: the status, date and customer filters apply when the search box is empty.
        </p>
      )}
      <ListFailure message={failed.message} />
      <Loading resource={list} />
      {list.data && !list.error && (
        <div aria-busy={list.loading}>
          <DataTable
            caption="Orders"
            columns={COLUMNS}
            rows={list.data.results}
            rowKey={(o) => o.id}
            ordering={ordering}
            empty={filtered ? 'No order matches.' : 'No orders yet.'}
            total={list.data.count}
          />
          <Pager count={list.data.count} label="Orders" />
        </div>
      )}
    </>
  )
}
