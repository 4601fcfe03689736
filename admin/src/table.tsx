// Tables of one page of results. The API has no sort parameter, so a column sorts the rows of the
// page on screen (said in the caption); the sort lives in the URL (`sort=name`, `sort=-name`).
import type { ComponentChildren } from 'preact'
import { setQuery, useLocation } from './router.js'

export interface Column<T> {
  key: string
  label: string
  cell: (row: T) => ComponentChildren
  /** The value to sort by; columns without it do not sort. */
  sortBy?: (row: T) => string | number
  numeric?: boolean
}

function sorted<T>(rows: T[], columns: Array<Column<T>>, sort: string): T[] {
  const descending = sort.startsWith('-')
  const column = columns.find((c) => c.key === (descending ? sort.slice(1) : sort))
  const by = column?.sortBy
  if (!by) return rows
  const compare = (a: T, b: T) => {
    const x = by(a)
    const y = by(b)
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))
    return descending ? -order : order
  }
  return [...rows].sort(compare)
}

export function DataTable<T>(props: {
  caption: string
  columns: Array<Column<T>>
  rows: T[]
  rowKey: (row: T) => string | number
  empty: ComponentChildren
}) {
  const { columns, rows, rowKey } = props
  const sort = useLocation().query.get('sort') ?? ''
  const shown = sorted(rows, columns, sort)
  if (rows.length === 0) return <p class="empty">{props.empty}</p>
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">
          {props.caption}
          {sort && ' (sorted within this page)'}
        </caption>
        <thead>
          <tr>
            {columns.map((column) => {
              const state =
                sort === column.key ? 'ascending' : sort === `-${column.key}` ? 'descending' : undefined
              return (
                <th
                  key={column.key}
                  scope="col"
                  aria-sort={state}
                  class={column.numeric ? 'numeric' : undefined}
                >
                  {column.sortBy ? (
                    <button
                      type="button"
                      class="sort"
                      title="Sorts the rows of this page"
                      onClick={() =>
                        setQuery({ sort: state === 'ascending' ? `-${column.key}` : column.key })
                      }
                    >
                      {column.label}
                      <span aria-hidden="true" class="sort-mark">
                        {state === 'ascending' ? '▲' : state === 'descending' ? '▼' : '↕'}
                      </span>
                    </button>
                  ) : (
                    column.label
                  )}
                </th>
              )
            })}
          </tr>
        </thead>
        <tbody>
          {shown.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((column) => (
                <td key={column.key} data-label={column.label} class={column.numeric ? 'numeric' : undefined}>
                  {/* One element per cell: on phones the cell is a grid of its label and its content. */}
                  <span>{column.cell(row)}</span>
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {sort && <p class="hint">Sorted within this page; pages follow the list's own order.</p>}
    </div>
  )
}

export const PAGE_SIZES = [20, 50, 100]

/** `page` and `page_size` from the URL, bounded to what the API accepts. */
export function usePage(): { page: number; pageSize: number } {
  const { query } = useLocation()
  const page = Math.max(1, Number.parseInt(query.get('page') ?? '1', 10) || 1)
  const size = Number.parseInt(query.get('page_size') ?? '', 10)
  return { page, pageSize: PAGE_SIZES.includes(size) ? size : 20 }
}

export function Pager({ count, label }: { count: number; label: string }) {
  const { page, pageSize } = usePage()
  const pages = Math.max(1, Math.ceil(count / pageSize))
  const first = count === 0 ? 0 : (page - 1) * pageSize + 1
  const last = Math.min(count, page * pageSize)
  if (page > pages) {
    return (
      <nav class="pager" aria-label={`${label} pages`}>
        <p>
          There is no page {page}: {count} results in all.
        </p>
        <button type="button" onClick={() => setQuery({ page: undefined })}>
          Go to page 1
        </button>
      </nav>
    )
  }
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <p>
        {first}–{last} of {count} · page {Math.min(page, pages)} of {pages}
      </p>
      <div class="pager-buttons">
        <button type="button" disabled={page <= 1} onClick={() => setQuery({ page: page - 1 })}>
          Previous
        </button>
        <button type="button" disabled={page >= pages} onClick={() => setQuery({ page: page + 1 })}>
          Next
        </button>
        <label class="inline">
          Per page{' '}
          <select
            value={String(pageSize)}
            onChange={(e) => setQuery({ page_size: e.currentTarget.value, page: 1 })}
          >
            {PAGE_SIZES.map((size) => (
              <option key={size} value={String(size)}>
                {size}
              </option>
            ))}
          </select>
        </label>
      </div>
    </nav>
  )
}
