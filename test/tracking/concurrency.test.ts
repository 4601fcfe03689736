import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build, openDatabase } from '../helpers/build.js'
import { issueMany } from '../helpers/processes.js'

async function assertAllStored(t: Parameters<typeof openDatabase>[0], dir: string, numbers: string[]) {
  const rows = await openDatabase(t, dir).selectFrom('tracking_numbers').select('tracking_number').execute()
  const stored = new Set(rows.map((r) => r.tracking_number))
  assert.equal(stored.size, rows.length, 'the table holds no duplicate')
  const missing = numbers.filter((n) => !stored.has(n))
  assert.deepEqual(missing, [], 'every answered number is stored')
}

test('10,000 concurrent issues over HTTP: no duplicate, every number stored', async (t) => {
  const app = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const { numbers, failures } = await issueMany(port, 10_000, 256)
  assert.equal(failures, 0)
  assert.equal(numbers.length, 10_000)
  assert.equal(new Set(numbers).size, 10_000, 'no duplicate among the answers')
  for (const n of numbers) assert.match(n, /^[A-Z0-9]{16}$/)
  await assertAllStored(t, app.databaseUrl, numbers)
})

test('tiny blocks under load: many reservations, still no duplicate and nothing lost', async (t) => {
  const app = await build(t, { TRACKING_BLOCK_MIN: '3', TRACKING_BLOCK_MAX: '7' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const { numbers, failures } = await issueMany(port, 3_000, 128)
  assert.equal(failures, 0)
  assert.equal(new Set(numbers).size, 3_000)
  await assertAllStored(t, app.databaseUrl, numbers)

  const metrics = (await app.inject({ url: '/metrics' })).body
  const reserved = Number(/tracking_blocks_reserved_total (\d+)/.exec(metrics)?.[1])
  assert.ok(reserved >= 3_000 / 7, `expected at least ${Math.ceil(3_000 / 7)} reservations, saw ${reserved}`)
})
