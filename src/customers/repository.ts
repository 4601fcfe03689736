import { type ExpressionBuilder, type RawBuilder, type Selectable, sql, type Updateable } from 'kysely'
import { dialectOf } from '../db/dialect.js'
import type { Database, Tables } from '../db/index.js'
import { containsPattern, likeEscape } from '../db/like.js'
import type { CustomersTable } from '../db/schema.js'
import { type Page, type PageRequest, sortOf } from '../http/pagination.js'
import type { CustomerOrdering, CustomerSortField } from './schemas.js'

export type Customer = Selectable<CustomersTable>

export type NewCustomer = Omit<Customer, 'id'>
export type CustomerChanges = Updateable<Omit<CustomersTable, 'id' | 'created_at'>>

// A term made only of these is taken as (part of) a phone number, and its digits are searched for.
const PHONE_LIKE = /^[+\d\s().-]*\d[+\d\s().-]*$/

/**
 * Case-insensitive substring search. lower() on both sides works on both dialects; PostgreSQL
 * folds every letter, SQLite only A-Z, so a non-ASCII letter matches there in its own case only.
 * ESCAPE is spelled out: SQLite has no default escape character.
 */
function matching(term: string, escaping: RawBuilder<unknown>) {
  return (eb: ExpressionBuilder<Tables, 'customers'>) => {
    const pattern = containsPattern(term)
    const conditions = [
      sql<boolean>`lower(name) like lower(${pattern}) ${escaping}`,
      sql<boolean>`lower(code) like lower(${pattern}) ${escaping}`,
    ]
    if (PHONE_LIKE.test(term)) {
      conditions.push(sql<boolean>`phone_number like ${containsPattern(term.replace(/\D/g, ''))}`)
    }
    return eb.or(conditions)
  }
}

// What each ordering field sorts by. Names ignore case: lower() on both dialects (A-Z only on
// SQLite, as in the search); the rest of the comparison is the database's collation.
const SORT_KEYS: Record<CustomerSortField, RawBuilder<unknown>> = {
  name: sql`lower(name)`,
  code: sql.ref('code'),
  created_at: sql.ref('created_at'),
  id: sql.ref('id'),
}

/** The customer with this code, for other features (orders name their customer by code). */
export async function findCustomerByCode(db: Database, code: string): Promise<Customer | undefined> {
  return db.selectFrom('customers').selectAll().where('code', '=', code).executeTakeFirst()
}

export function createCustomerRepository(db: Database) {
  const escaping = likeEscape(db)
  // MySQL and MariaDB have no RETURNING: rows are read back by their id.
  const mysql = dialectOf(db) === 'mysql'
  return {
    async list(
      filter: { q?: string | undefined },
      page: PageRequest,
      ordering: CustomerOrdering,
    ): Promise<Page<Customer>> {
      const term = filter.q?.trim()
      const base = term
        ? db.selectFrom('customers').where(matching(term, escaping))
        : db.selectFrom('customers')
      const total = await base
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .executeTakeFirst()
      // id, unique, breaks ties (in the same direction, so -x is exactly x reversed): no two pages
      // share a row and none is skipped, whatever else the rows have in common.
      const { field, direction } = sortOf(ordering)
      let query = base.selectAll().orderBy(SORT_KEYS[field], direction)
      if (field !== 'id') query = query.orderBy('id', direction)
      const results = await query.limit(page.pageSize).offset(page.offset).execute()
      return { count: Number(total?.count ?? 0), results }
    },

    async findById(id: number): Promise<Customer | undefined> {
      return db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst()
    },

    findByCode: (code: string) => findCustomerByCode(db, code),

    async insert(customer: NewCustomer): Promise<Customer> {
      const insert = db.insertInto('customers').values(customer)
      if (!mysql) return insert.returningAll().executeTakeFirstOrThrow()
      const { insertId } = await insert.executeTakeFirstOrThrow()
      return db
        .selectFrom('customers')
        .selectAll()
        .where('id', '=', Number(insertId))
        .executeTakeFirstOrThrow()
    },

    async update(id: number, changes: CustomerChanges): Promise<Customer | undefined> {
      const update = db.updateTable('customers').set(changes).where('id', '=', id)
      if (!mysql) return update.returningAll().executeTakeFirst()
      const { numUpdatedRows } = await update.executeTakeFirst()
      if (Number(numUpdatedRows) === 0) return undefined
      return db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst()
    },

    /** Whether the row was there to delete. */
    async delete(id: number): Promise<boolean> {
      const result = await db.deleteFrom('customers').where('id', '=', id).executeTakeFirst()
      return Number(result.numDeletedRows) > 0
    },

    /** Which of these unique values another customer (not `exceptId`) already has. */
    async takenBy(
      values: { code?: string | undefined; phone_number?: string | undefined },
      exceptId?: number,
    ): Promise<Array<'code' | 'phone_number'>> {
      const { code, phone_number } = values
      if (code === undefined && phone_number === undefined) return []
      let query = db
        .selectFrom('customers')
        .select(['code', 'phone_number'])
        .where((eb) =>
          eb.or([
            ...(code === undefined ? [] : [eb('code', '=', code)]),
            ...(phone_number === undefined ? [] : [eb('phone_number', '=', phone_number)]),
          ]),
        )
      if (exceptId !== undefined) query = query.where('id', '!=', exceptId)
      const rows = await query.execute()
      const taken: Array<'code' | 'phone_number'> = []
      if (code !== undefined && rows.some((r) => r.code === code)) taken.push('code')
      if (phone_number !== undefined && rows.some((r) => r.phone_number === phone_number)) {
        taken.push('phone_number')
      }
      return taken
    },
  }
}

export type CustomerRepository = ReturnType<typeof createCustomerRepository>
