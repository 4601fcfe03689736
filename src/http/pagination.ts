import { type Static, type TSchema, Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'

// Page-number pagination shared by the list routes: `?page=2&page_size=20` in, and
// `{count, next, previous, results}` out, with next/previous as ready-made links.

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100
// Far beyond any real list; it keeps the OFFSET a small, safe integer on both dialects.
const MAX_PAGE = 1_000_000

/** Query-string properties to spread into a list route's querystring schema beside its filters. */
export const PageQueryFields = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1, description: 'From 1' })),
  page_size: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_PAGE_SIZE,
      default: DEFAULT_PAGE_SIZE,
      description: `Results per page, 1 to ${MAX_PAGE_SIZE}`,
    }),
  ),
}

// A list or search refuses a query parameter it does not know (src/http/validation.ts): a misspelt
// filter must never answer the whole list.
export const LIST_QUERY = { additionalProperties: false } as const

/** The query of a list that takes no parameters at all: any one sent is refused, named. */
export const NoListQuery = Type.Object({}, LIST_QUERY)

export const PageQuery = Type.Object(PageQueryFields)
export type PageQuery = Static<typeof PageQuery>

/** A list's sort order, DRF style: a field for ascending, `-` and the field for descending. */
export type Ordering<F extends string> = F | `-${F}`

/** Every ordering of these fields, each ascending then descending: `name, -name, code, -code`. */
export function orderings<F extends string>(fields: readonly F[]): Array<Ordering<F>> {
  return fields.flatMap((field): Array<Ordering<F>> => [field, `-${field}`])
}

/**
 * The `ordering` query property of a list route: a union of literals, so a bad value is refused
 * and OpenAPI lists the values. Repositories break ties by id, so pages never overlap.
 */
export function OrderingQueryField<F extends string>(fields: readonly F[], fallback: Ordering<F>) {
  return Type.Optional(
    Type.Union(
      orderings(fields).map((value) => Type.Literal(value)),
      {
        default: fallback,
        description: `Sort order: a field, ascending, or - and the field, descending (default ${fallback}). Ties are broken by id, in the same direction.`,
      },
    ),
  )
}

/** The field and direction of an ordering: `-amount` → amount, desc. */
export function sortOf<F extends string>(ordering: Ordering<F>): { field: F; direction: 'asc' | 'desc' } {
  return ordering.startsWith('-')
    ? { field: ordering.slice(1) as F, direction: 'desc' }
    : { field: ordering as F, direction: 'asc' }
}

/** Which page to read, defaults applied. */
export interface PageRequest {
  page: number
  pageSize: number
  /** Rows to skip: (page - 1) * pageSize. */
  offset: number
}

/** What a repository returns for one page: the total matching rows and this page's rows. */
export interface Page<T> {
  count: number
  results: T[]
}

// The validator has already filled in the defaults; the types cannot know that.
export function pageRequest(query: PageQuery): PageRequest {
  const page = query.page ?? 1
  const pageSize = query.page_size ?? DEFAULT_PAGE_SIZE
  return { page, pageSize, offset: (page - 1) * pageSize }
}

/** The reply schema of a list route whose items follow `item`. */
export function PageReply<T extends TSchema>(item: T) {
  return Type.Object({
    count: Type.Integer({ minimum: 0, description: 'All matching results, on every page' }),
    next: Type.Union([Type.String(), Type.Null()], {
      description: 'Link to the next page; null on the last page',
    }),
    previous: Type.Union([Type.String(), Type.Null()], {
      description: 'Link to the previous page; null on the first page',
    }),
    results: Type.Array(item),
  })
}

export interface PageLinks {
  next: string | null
  previous: string | null
}

/**
 * next/previous as relative links: the request's own path and query string (filters included)
 * with only `page` and `page_size` replaced. A page past the end links back to the last page.
 */
/** A list route's reply: the count, the links, the rows. */
export function pageReply<T>(
  request: Pick<FastifyRequest, 'url'>,
  page: PageRequest,
  { count, results }: Page<T>,
): { count: number; next: string | null; previous: string | null; results: T[] } {
  return { count, ...pageLinks(request, { count, ...page }), results }
}

export function pageLinks(
  request: Pick<FastifyRequest, 'url'>,
  { count, page, pageSize }: { count: number; page: number; pageSize: number },
): PageLinks {
  const mark = request.url.indexOf('?')
  const path = mark === -1 ? request.url : request.url.slice(0, mark)
  const query = mark === -1 ? '' : request.url.slice(mark + 1)
  const link = (target: number) => {
    const params = new URLSearchParams(query)
    params.set('page', String(target))
    params.set('page_size', String(pageSize))
    return `${path}?${params}`
  }
  const lastPage = Math.max(1, Math.ceil(count / pageSize))
  return {
    next: page < lastPage ? link(page + 1) : null,
    previous: page > 1 ? link(Math.min(page - 1, lastPage)) : null,
  }
}
