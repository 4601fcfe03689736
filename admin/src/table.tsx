// Tables of results. A column with an ordering field sorts the whole list, not the rows on screen:
// its header button sets `ordering` in the URL (`ordering=amount`, `ordering=-amount`) and goes
// back to page 1; a paged list then asks the API for that order.
import type { ComponentChildren } from 'preact'
import { useRef } from 'preact/hooks'
import type { Ordering } from '../../src/http/pagination.js'
import { href, type Location, setQuery, useLocation } from './router.js'

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
  /** The size of the whole list, when the rows are one page of it. */
  total?: number
}) {
  const { columns, rows, rowKey, ordering } = props
  if (rows.length === 0) {
    // A page past the end of a list that has rows: the pager says so, and links back.
    if (props.total !== undefined && props.total > 0) return null
    return <p class="empty">{props.empty}</p>
  }
  const descending = ordering.startsWith('-')
  const sortedBy = columns.find((c) => c.sort !== undefined && c.sort === ordering.replace(/^-/, ''))
  return (
    <>
      <SortSelect caption={props.caption} columns={columns} />
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
                  <td
                    key={column.key}
                    data-label={column.label}
                    class={column.numeric ? 'numeric' : undefined}
                  >
                    {/* One element per cell: on phones the cell is a grid of its label and its content. */}
                    <span>{column.cell(row)}</span>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  )
}

/**
 * On phones the header row, and with it the sort buttons, is not shown (each row is a card): this
 * select sorts instead. Wider screens do not show it (styles/tables.css).
 */
function SortSelect<T, F extends string>(props: { caption: string; columns: Array<Column<T, F>> }) {
  const wanted = useLocation().query.get('ordering') ?? ''
  const options = props.columns.flatMap((column) =>
    column.sort === undefined
      ? []
      : [
          { value: column.sort, label: `${column.label}, ascending` },
          { value: `-${column.sort}`, label: `${column.label}, descending` },
        ],
  )
  if (options.length === 0) return null
  const id = `sort-${props.caption.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
  return (
    <div class="field sort-select">
      <label for={id}>Sort by</label>
      <select
        id={id}
        value={options.some((o) => o.value === wanted) ? wanted : ''}
        onChange={(e) => setQuery({ ordering: e.currentTarget.value, page: undefined })}
      >
        <option value="">Default order</option>
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
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
  const location = useLocation()
  const previous = useRef<HTMLButtonElement>(null)
  const next = useRef<HTMLButtonElement>(null)
  const pages = Math.max(1, Math.ceil(count / pageSize))
  const first = count === 0 ? 0 : (page - 1) * pageSize + 1
  const last = Math.min(count, page * pageSize)
  if (page > pages) {
    return (
      <nav class="pager" aria-label={`${label} pages`}>
        <p>
          There is no page {page}: {count} {count === 1 ? 'result' : 'results'} in all.
        </p>
        <div class="pager-buttons">
          <a class="button" href={href(pageHref(location, pages))}>
            Go to the last page ({pages})
          </a>
        </div>
      </nav>
    )
  }
  /** Goes to page `to`; the button just pressed may become disabled, and focus must not go with it. */
  const go = (to: number, away: boolean) => {
    setQuery({ page: to === 1 ? undefined : to })
    if (!away) return
    window.setTimeout(() => (to === 1 ? next : previous).current?.focus())
  }
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <p>
        {first}–{last} of {count} · page {Math.min(page, pages)} of {pages}
      </p>
      <div class="pager-buttons">
        <button type="button" ref={previous} disabled={page <= 1} onClick={() => go(page - 1, page - 1 <= 1)}>
          Previous
        </button>
        <button
          type="button"
          ref={next}
          disabled={page >= pages}
          onClick={() => go(page + 1, page + 1 >= pages)}
        >
          Next
        </button>
        <label class="inline">
          Per page{' '}
          <select
            value={String(pageSize)}
            onChange={(e) => setQuery({ page_size: e.currentTarget.value, page: undefined })}
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

/** This page's path with another page number (1 is the default, left out). */
function pageHref({ path, query }: Location, page: number): string {
  const search = new URLSearchParams(query)
  if (page === 1) search.delete('page')
  else search.set('page', String(page))
  const text = search.toString()
  return `${path}${text ? `?${text}` : ''}`
}
