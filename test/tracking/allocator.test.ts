import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { Allocator } from '../../src/tracking/allocator.js'
import { type Block, createTrackingRepository } from '../../src/tracking/repository.js'
import { migratedDatabase, openDatabase, testDatabaseUrl } from '../helpers/build.js'

function allocator(
  reserve: (size: number) => Promise<Block>,
  options: Partial<ConstructorParameters<typeof Allocator>[0]> = {},
) {
  return new Allocator({ reserve, minBlock: 10, maxBlock: 10, blockSeconds: 1, ...options })
}

/** An allocator on a real database whose clock the test moves (`clock.ms`), recording block sizes. */
async function sizedAllocator(
  t: TestContext,
  options: Pick<ConstructorParameters<typeof Allocator>[0], 'minBlock' | 'maxBlock' | 'blockSeconds'>,
) {
  const repository = createTrackingRepository(await migratedDatabase(t))
  const clock = { ms: 0 }
  const sizes: number[] = []
  const a = allocator(
    async (size) => {
      sizes.push(size)
      return repository.reserveBlock(size)
    },
    { ...options, now: () => clock.ms },
  )
  return { a, sizes, clock }
}

async function take(a: Allocator, values: number): Promise<number[]> {
  const out: number[] = []
  while (out.length < values) {
    const { start, count } = await a.nextRange(Math.min(7, values - out.length))
    for (let i = 0; i < count; i++) out.push(start + i)
  }
  return out
}

test('two allocators on one database, many concurrent takers: every value at most once', async (t) => {
  const dir = await testDatabaseUrl(t)
  await migratedDatabase(t, dir)
  const one = allocator(createTrackingRepository(openDatabase(t, dir)).reserveBlock)
  const two = allocator(createTrackingRepository(openDatabase(t, dir)).reserveBlock)
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => take(i % 2 ? one : two, 250)))
  const all = results.flat()
  assert.equal(all.length, 10_000)
  assert.equal(new Set(all).size, all.length)
})

test('the counter only moves forward: a new allocator never sees an old value', async (t) => {
  const dir = await testDatabaseUrl(t)
  await migratedDatabase(t, dir)
  const first = await take(allocator(createTrackingRepository(openDatabase(t, dir)).reserveBlock), 25)
  const second = await take(allocator(createTrackingRepository(openDatabase(t, dir)).reserveBlock), 25)
  assert.ok(Math.min(...second) > Math.max(...first), 'values after a restart are above all earlier ones')
})

test('double buffering: the next block is reserved while the current one still has half left', async (t) => {
  const repository = createTrackingRepository(await migratedDatabase(t))
  const reservedAt: number[] = []
  const blocks: Block[] = []
  let handedOut = 0
  const a = allocator(
    async (size) => {
      reservedAt.push(handedOut)
      const block = await repository.reserveBlock(size)
      blocks.push(block)
      return block
    },
    { minBlock: 100, maxBlock: 100 },
  )
  const values: number[] = []
  for (let i = 0; i < 101; i++) {
    values.push((await a.nextRange(1)).start)
    handedOut++
  }
  // The first reservation when empty; the second while the 50th value is handed out (50 left).
  assert.deepEqual(reservedAt, [0, 49])
  // The 101st value comes from the spare block, reserved long before it was needed.
  const [first, spare] = blocks as [Block, Block]
  assert.equal(values[99], first.end - 1)
  assert.equal(values[100], spare.start, 'the spare block took over without another reservation')
  assert.equal(reservedAt.length, 2)
})

test('block size adapts to the issue rate, within the configured bounds', async (t) => {
  const { a, sizes, clock } = await sizedAllocator(t, { minBlock: 10, maxBlock: 5_000, blockSeconds: 1 })
  // 1,000 values per simulated second.
  for (let i = 0; i < 4_000; i++) {
    await a.nextRange(1)
    clock.ms += 1
  }
  const last = sizes.at(-1) as number
  assert.ok(last >= 900 && last <= 1_100, `block size ${last} should follow ~1,000/s × 1 s`)
  assert.ok(sizes.every((s) => s >= 10 && s <= 5_000))

  // A burst far above the bound is capped at maxBlock.
  for (let i = 0; i < 20_000; i++) await a.nextRange(1)
  clock.ms += 1
  for (let i = 0; i < 6_000; i++) await a.nextRange(1)
  assert.equal(Math.max(...sizes), 5_000)
})

test('slow start: a first chunk taken at once does not make the next block the largest', async (t) => {
  const { a, sizes, clock } = await sizedAllocator(t, { minBlock: 100, maxBlock: 100_000, blockSeconds: 2 })
  // The supply takes 256 values at once right after a start: it gets the first block's 100 at once.
  clock.ms += 5_000
  assert.equal((await a.nextRange(256)).count, 100)
  await a.nextRange(1) // from the block reserved meanwhile
  assert.deepEqual(sizes.slice(0, 2), [100, 800], 'at most eight times the previous block')

  // At a sustained high rate (50,000/s simulated), it still reaches the largest block within a few.
  for (let i = 0; i < 400_000; i += 50) {
    await a.nextRange(50)
    clock.ms += 1
  }
  assert.equal(sizes.at(-1), 100_000)
  assert.ok(sizes.indexOf(100_000) <= 5, `sizes ${sizes.slice(0, 8).join(', ')}`)
})

test('a failed reservation fails the waiting caller, and the allocator recovers', async (t) => {
  const repository = createTrackingRepository(await migratedDatabase(t))
  let broken = true
  const a = allocator(async (size) => {
    if (broken) throw new Error('database down')
    return repository.reserveBlock(size)
  })
  await assert.rejects(a.nextRange(1), /database down/)
  broken = false
  const { count } = await a.nextRange(1)
  assert.equal(count, 1)
})

test('fence: the unused rest of every block is dropped and the counter checked before the next reservation', async () => {
  let counter = 0
  const fences: number[] = []
  const a = allocator(
    async (size) => {
      counter += size
      return { start: counter - size, end: counter }
    },
    {
      refillAt: 0,
      fence: async (end) => {
        fences.push(end)
        counter = Math.max(counter, end) // as the database does: the counter moves past the block
      },
    },
  )
  assert.deepEqual(await take(a, 3), [0, 1, 2])
  // A failover to a server that lost the reservation of [0, 10): its counter is back at 0.
  counter = 0
  a.fence()
  const after = await take(a, 3)
  assert.deepEqual(fences, [10])
  assert.deepEqual(after, [10, 11, 12], 'neither the rest of the old block nor its values again')
  a.fence()
  await take(a, 1)
  assert.deepEqual(fences, [10, 20], 'the highest end reserved so far')
})

test('fence: a reservation that was in flight when the server changed is never handed out', async () => {
  let counter = 100
  let release: () => void = () => {}
  const a = allocator(
    async (size) => {
      counter += size
      const block = { start: counter - size, end: counter }
      if (block.start === 100) await new Promise<void>((resolve) => (release = resolve))
      return block
    },
    { fence: async () => {} },
  )
  const pending = a.nextRange(5)
  await new Promise((resolve) => setImmediate(resolve))
  a.fence()
  release()
  assert.deepEqual(await pending, { start: 110, count: 5 })
})
