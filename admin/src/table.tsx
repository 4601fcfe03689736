// Tables of results. A column with an ordering field sorts the whole list, not the rows on screen:
// its header button sets `ordering` in the URL (`ordering=amount`, `ordering=-amount`) and goes
// back to page 1; a paged list then asks the API for that order.
import type { ComponentChildren } from 'preact'
import type { Ordering } from '../../src/pagination.js'
import { setQuery, useLocation } from './router.js'

export interface Column<T, F extends string = string> {
  key: string
  label: string
  cell: (row: T) => ComponentChildren
  /** The field this column sorts by (for a paged list, the API's); columns without it do not. */
  sort?: F
  numeric?: boolean
}

/**
 * The list's ordering from the URL when one of the columns (or the default) sorts by its field,
 * else the default: a hand-edited URL gets a sorted list rather than the API's 400.
 */
export function useOrdering<T, F extends string>(
  columns: Array<Column<T, F>>,
  fallback: Ordering<F>,
): Ordering<F> {
  const wanted = useLocation().query.get('ordering') ?? ''
  const field = wanted.startsWith('-') ? wanted.slice(1) : wanted
  const known = columns.some((c) => c.sort === field) || fallback.replace(/^-/, '') === field
  return known ? (wanted as Ordering<F>) : fallback
}

export function DataTable<T, F extends string>(props: {
  caption: string
  columns: Array<Column<T, F>>
  rows: T[]
  rowKey: (row: T) => string | number
  /** The order of the rows, from useOrdering. */
  ordering: Ordering<F>
  empty: ComponentChildren
}) {
  const { columns, rows, rowKey, ordering } = props
  if (rows.length === 0) return <p class="empty">{props.empty}</p>
  const descending = ordering.startsWith('-')
  const sortedBy = columns.find((c) => c.sort !== undefined && c.sort === ordering.replace(/^-/, ''))
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">
          {props.caption}
          {sortedBy && `, sorted by ${sortedBy.label}, ${descending ? 'descending' : 'ascending'}`}
        </caption>
        <thead>
          <tr>
            {columns.map((column) => {
              const state = column === sortedBy ? (descending ? 'descending' : 'ascending') : undefined
              const { sort } = column
              return (
                <th
                  key={column.key}
                  scope="col"
                  aria-sort={state}
                  class={column.numeric ? 'numeric' : undefined}
                >
                  {sort ? (
                    <button
                      type="button"
                      class="sort"
                      onClick={() =>
                        setQuery({ ordering: state === 'ascending' ? `-${sort}` : sort, page: undefined })
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
          {rows.map((row) => (
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
