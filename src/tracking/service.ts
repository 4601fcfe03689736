import { createHash } from 'node:crypto'
import { formatWeightKg } from '../formats.js'
import { AppError } from '../http/errors.js'
import { type Idempotency, idempotencyConflict } from '../http/idempotency.js'
import { asciiUpper, type Codec, checkTrackingNumber } from './codec.js'
import type { Recorder } from './recorder.js'
import {
  type Issued,
  issuedOf,
  type RequestColumns,
  type TrackingRecord,
  type TrackingRepository,
  type WriteEntry,
} from './repository.js'
import type { RequestMetadata } from './schemas.js'
import type { Supply } from './supply.js'
import { randomUuids } from './uuids.js'

/** A validated issue request, in the units the database keeps. */
export interface IssueRequest {
  // Null: not sent (a field TRACKING_REQUIRED_FIELDS leaves optional, or an older client's).
  origin: string | null
  destination: string | null
  weightGrams: number | null
  orderCreatedAt: string | null
  customerId: string | null
  customerName: string | null
  customerSlug: string | null
}

export interface TrackingServiceDeps {
  repository: Pick<TrackingRepository, 'findBySequences' | 'findIdempotencyKey'>
  supply: Pick<Supply, 'take' | 'next'>
  recorder: Pick<Recorder<WriteEntry>, 'write'>
  codec: Pick<Codec, 'assemble' | 'decode'>
  onIssued?: (count: number) => void
  /** Numbers given to orders are stored with the order: where a lookup looks second. */
  findOrder?: (sequence: number) => Promise<OrderTracking | undefined>
  now?: () => Date
}

/** What a tracking lookup shows of an order. */
export interface OrderTracking {
  tracking_number: string
  order_time: string
  status: string
  updated_at: string
}

export type Lookup =
  | { kind: 'request'; record: TrackingRecord }
  | { kind: 'order'; sequence: number; order: OrderTracking }

function unavailable(cause: unknown): AppError {
  return new AppError(
    'unavailable',
    'The database is unavailable; try again shortly',
    {},
    { cause, headers: { 'retry-after': '1' } },
  )
}

export function requestMetadata(record: RequestColumns): RequestMetadata {
  return {
    origin_country: record.origin_country,
    destination_country: record.destination_country,
    weight_kg: record.weight_grams === null ? null : formatWeightKg(record.weight_grams),
    customer_id: record.customer_id,
    customer_name: record.customer_name,
    customer_slug: record.customer_slug,
    order_created_at: record.order_created_at,
  }
}

/** The time as RFC 3339 text, formatted at most once per millisecond (thousands of issues share one). */
function clock(): () => string {
  let last = Number.NaN
  let text = ''
  return () => {
    const ms = Date.now()
    if (ms !== last) {
      last = ms
      text = new Date(ms).toISOString()
    }
    return text
  }
}

export function createTrackingService(deps: TrackingServiceDeps) {
  const { now } = deps
  const timestamp = now ? () => now().toISOString() : clock()
  const inFlight = new Map<string, { hash: string; result: Promise<Issued> }>()

  async function build(request: IssueRequest, count: number, withUuids: boolean): Promise<Issued> {
    const createdAt = timestamp()
    // Route-format numbers always have a lane (config and the routes' schemas see to it).
    const lane = { origin: request.origin ?? '', destination: request.destination ?? '' }
    const sequences: number[] = []
    const numbers: string[] = []
    for (let i = 0; i < count; i++) {
      const { sequence, body } = deps.supply.take() ?? (await deps.supply.next())
      sequences.push(sequence)
      numbers.push(deps.codec.assemble(body, lane))
    }
    return {
      sequences,
      tracking_numbers: numbers,
      ...(withUuids ? { uuids: randomUuids(count) } : {}),
      origin_country: request.origin,
      destination_country: request.destination,
      weight_grams: request.weightGrams,
      order_created_at: request.orderCreatedAt,
      customer_id: request.customerId,
      customer_name: request.customerName,
      customer_slug: request.customerSlug,
      created_at: createdAt,
    }
  }

  async function replay(stored: { request_hash: string; sequences: string }, hash: string) {
    if (stored.request_hash !== hash) throw idempotencyConflict()
    return issuedOf(await deps.repository.findBySequences(stored.sequences.split(',').map(Number)))
  }

  async function issueOnce(
    request: IssueRequest,
    count: number,
    idem: Idempotency,
    hash: string,
    withUuids: boolean,
  ) {
    const stored = await deps.repository.findIdempotencyKey(idem.key)
    if (stored) return replay(stored, hash)
    const issued = await build(request, count, withUuids)
    const written = await deps.recorder.write({
      issued,
      idempotency: { key: idem.key, requestHash: hash, createdAt: issued.created_at },
    })
    if (written) {
      deps.onIssued?.(count)
      return issued
    }
    // Another process committed this key first: answer what it answered.
    const winner = await deps.repository.findIdempotencyKey(idem.key)
    if (!winner) throw new Error(`idempotency key ${idem.key} lost after a conflict`)
    return replay(winner, hash)
  }

  return {
    /**
     * Issues `count` numbers in one commit; resolves only after they are durable. Their UUIDs are
     * in the answer only with `uuids` (else made where they are stored: less to hand over).
     */
    async issue(
      request: IssueRequest,
      count = 1,
      idempotency?: Idempotency,
      { uuids = false }: { uuids?: boolean } = {},
    ): Promise<Issued> {
      try {
        if (!idempotency) {
          const issued = await build(request, count, uuids)
          await deps.recorder.write({ issued })
          deps.onIssued?.(count)
          return issued
        }
        const hash = createHash('sha256')
          .update(JSON.stringify([idempotency.operation, count, request]))
          .digest('hex')
        const running = inFlight.get(idempotency.key)
        if (running) {
          if (running.hash !== hash) throw idempotencyConflict()
          return await running.result
        }
        const result = issueOnce(request, count, idempotency, hash, uuids)
        inFlight.set(idempotency.key, { hash, result })
        try {
          return await result
        } finally {
          inFlight.delete(idempotency.key)
        }
      } catch (error) {
        throw error instanceof AppError ? error : unavailable(error)
      }
    },

    /**
     * A number for a record the caller stores itself (an order, in its own transaction): from the
     * same committed blocks and codec as every other number, so it is unique among all of them.
     */
    async allocate(lane: {
      origin: string
      destination: string
    }): Promise<{ sequence: number; trackingNumber: string }> {
      try {
        const { sequence, body } = await deps.supply.next()
        deps.onIssued?.(1)
        return { sequence, trackingNumber: deps.codec.assemble(body, lane) }
      } catch (error) {
        throw error instanceof AppError ? error : unavailable(error)
      }
    },

    /** The stored record; a malformed number or a wrong check character never reaches the database. */
    async find(typed: string): Promise<Lookup> {
      // People copy numbers from labels in either case; the canonical form is upper case.
      const trackingNumber = asciiUpper(typed)
      const check = checkTrackingNumber(trackingNumber)
      if (!check.ok) {
        throw new AppError('validation_failed', check.message, { tracking_number: [check.message] })
      }
      const notFound = new AppError('not_found', `Tracking number ${trackingNumber} was not issued here`)
      // The number decodes to its sequence value, the primary key: no index on the number itself.
      let sequence: bigint
      try {
        sequence = deps.codec.decode(trackingNumber).sequence
      } catch {
        throw notFound // well-formed with a valid check character, but outside this key's range
      }
      if (sequence > BigInt(Number.MAX_SAFE_INTEGER)) throw notFound
      const key = Number(sequence)
      try {
        const [record] = await deps.repository.findBySequences([key])
        // A route-format number with another lane decodes to the same sequence: compare whole numbers.
        if (record?.tracking_number === trackingNumber) return { kind: 'request', record }
        const order = record ? undefined : await deps.findOrder?.(key)
        if (order?.tracking_number === trackingNumber) return { kind: 'order', sequence: key, order }
      } catch (error) {
        throw unavailable(error)
      }
      throw notFound
    },
  }
}

export type TrackingService = ReturnType<typeof createTrackingService>
