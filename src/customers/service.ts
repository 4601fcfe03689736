import { isUniqueViolation } from '../db/errors.js'
import { PHONE_MESSAGE, toE164 } from '../formats.js'
import { AppError, type Details } from '../http/errors.js'
import type { Page, PageRequest } from '../http/pagination.js'
import type { Customer, CustomerChanges, CustomerRepository } from './repository.js'
import {
  type CustomerBody,
  type CustomerOrdering,
  type CustomerPatch,
  DEFAULT_CUSTOMER_ORDERING,
} from './schemas.js'

export interface CustomerServiceDeps {
  repository: Pick<CustomerRepository, 'list' | 'findById' | 'insert' | 'update' | 'delete' | 'takenBy'>
  /** Whether any order refers to the customer: such a customer cannot be deleted. */
  hasOrders: (customerId: number) => Promise<boolean>
  now?: () => Date
}

function invalid(details: Details): AppError {
  return new AppError('validation_failed', 'The request is invalid', details)
}

/** The number in E.164. The route's schema has checked it; this guards direct callers. */
function phoneNumber(input: string): string {
  const e164 = toE164(input)
  if (!e164) throw invalid({ phone_number: [PHONE_MESSAGE] })
  return e164
}

const notFound = (id: number) => new AppError('not_found', `No customer with id ${id}`)

export function createCustomerService(deps: CustomerServiceDeps) {
  const { repository } = deps
  const now = deps.now ?? (() => new Date())

  /**
   * Runs a write that may collide with another customer's code or phone number. The unique
   * constraints decide (no check-then-write race); a check query afterwards names every field
   * taken, without reading dialect-specific error text.
   */
  async function unique<T>(
    values: { code?: string | undefined; phone_number?: string | undefined },
    exceptId: number | undefined,
    write: () => Promise<T>,
  ): Promise<T> {
    try {
      return await write()
    } catch (error) {
      if (!isUniqueViolation(error)) throw error
      const taken = await repository.takenBy(values, exceptId)
      if (taken.length === 0) {
        // The other customer changed or went away in between: retrying may well succeed.
        const message = 'Another request changed a customer at the same time; try again'
        throw new AppError('conflict', message, {}, { cause: error })
      }
      throw invalid(Object.fromEntries(taken.map((field) => [field, ['is already taken']])))
    }
  }

  async function get(id: number): Promise<Customer> {
    const customer = await repository.findById(id)
    if (!customer) throw notFound(id)
    return customer
  }

  async function change(id: number, changes: CustomerChanges): Promise<Customer> {
    const values = { code: changes.code, phone_number: changes.phone_number }
    const customer = await unique(values, id, () =>
      repository.update(id, { ...changes, updated_at: now().toISOString() }),
    )
    if (!customer) throw notFound(id)
    return customer
  }

  return {
    list(
      filter: { q?: string | undefined },
      page: PageRequest,
      // The validator has filled in the default; the types cannot know that.
      ordering: CustomerOrdering = DEFAULT_CUSTOMER_ORDERING,
    ): Promise<Page<Customer>> {
      return repository.list(filter, page, ordering)
    },

    get,

    async create(body: CustomerBody): Promise<Customer> {
      const phone = phoneNumber(body.phone_number)
      const at = now().toISOString()
      const customer = {
        name: body.name,
        code: body.code,
        phone_number: phone,
        email: body.email ?? null,
        created_at: at,
        updated_at: at,
      }
      return unique(customer, undefined, () => repository.insert(customer))
    },

    /** PUT: every field is replaced; an email left out becomes none. */
    async replace(id: number, body: CustomerBody): Promise<Customer> {
      return change(id, {
        name: body.name,
        code: body.code,
        phone_number: phoneNumber(body.phone_number),
        email: body.email ?? null,
      })
    },

    /** PATCH: only the fields given change; email null removes it. */
    async update(id: number, patch: CustomerPatch): Promise<Customer> {
      const changes: CustomerChanges = {}
      if (patch.name !== undefined) changes.name = patch.name
      if (patch.code !== undefined) changes.code = patch.code
      if (patch.phone_number !== undefined) changes.phone_number = phoneNumber(patch.phone_number)
      if (patch.email !== undefined) changes.email = patch.email
      // Nothing to change: nothing is written, and updated_at stays.
      if (Object.keys(changes).length === 0) return get(id)
      return change(id, changes)
    },

    async remove(id: number): Promise<void> {
      const customer = await get(id)
      const refused = () =>
        new AppError('conflict', `Customer ${customer.code} has orders; it cannot be deleted`, {
          id: ['has orders'],
        })
      if (await deps.hasOrders(id)) throw refused()
      let deleted: boolean
      try {
        deleted = await repository.delete(id)
      } catch (error) {
        // An order added since the check: its foreign key refuses the delete.
        if (await deps.hasOrders(id)) throw refused()
        throw error
      }
      if (!deleted) throw notFound(id)
    },
  }
}

export type CustomerService = ReturnType<typeof createCustomerService>
