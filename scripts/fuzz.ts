// The longer fuzz run, outside `npm test`: `npm run fuzz -- [count] [seed]` (defaults 50000 and a
// random seed, printed so a failure reproduces). The generator is test/fuzz.test.ts's. On SQLite
// in a temporary folder, or on an existing throwaway database named by FUZZ_DATABASE_URL (it is
// written to). Never DATABASE_URL: an exported one is often the service's own database.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { testEnv, tokenFor } from '../test/helpers/build.js'
import { createFuzzer, fuzzRoutes, type OpenApiDocument, replyProblem } from '../test/helpers/fuzz.js'

const count = Number(process.argv[2] ?? 50_000)
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31))
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(seed)) {
  console.error('usage: npm run fuzz -- [count] [seed]')
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'waybill-fuzz-'))
const databaseUrl = process.env.FUZZ_DATABASE_URL || `sqlite:${join(dir, 'fuzz.db')}`
const app = await buildApp(loadConfig(testEnv(databaseUrl, { LOGIN_RATE_LIMIT_MAX: '1000000000' }))).catch(
  (error: unknown) => {
    rmSync(dir, { recursive: true, force: true })
    throw error
  },
)
let failures = 0
try {
  const admin = { authorization: `Bearer ${await tokenFor('admin')}` }
  await app.inject({
    method: 'POST',
    url: '/api/customers/',
    headers: admin,
    payload: { name: 'Acme Freight', code: 'CUST001', phone_number: '+254722000000' },
  })
  await app.inject({
    method: 'POST',
    url: '/api/orders/',
    headers: admin,
    payload: { customer_code: 'CUST001', item: 'Laptop', amount: '1250.50' },
  })
  const routes = fuzzRoutes((await app.inject({ url: '/openapi.json' })).json() as OpenApiDocument)
  for (const route of routes)
    await app.inject({ method: route.method as 'GET', url: route.path, headers: admin })
  const tokens = {
    admin: await tokenFor('admin'),
    operator: await tokenFor('operator'),
    client: await tokenFor('client'),
  }
  const fuzzer = createFuzzer(routes, seed, tokens)
  const statuses = new Map<number, number>()
  let slowest = 0
  const started = performance.now()
  console.log(`fuzz: ${count} requests over ${routes.length} operations, seed ${seed}, ${databaseUrl}`)
  for (let i = 0; i < count; i++) {
    const { request } = fuzzer.next()
    const before = performance.now()
    const reply = await app.inject(request)
    const ms = performance.now() - before
    slowest = Math.max(slowest, ms)
    statuses.set(reply.statusCode, (statuses.get(reply.statusCode) ?? 0) + 1)
    const problem =
      replyProblem(request.method, reply) ?? (ms > 1_000 ? `took ${ms.toFixed(0)} ms` : undefined)
    if (problem) {
      failures++
      console.log(`#${i} ${request.method} ${request.url.slice(0, 300)}: ${problem}`)
    }
    if ((i + 1) % 10_000 === 0) console.log(`  ${i + 1} requests, ${failures} problems`)
  }
  const seconds = (performance.now() - started) / 1000
  console.log(
    `fuzz: ${count} requests in ${seconds.toFixed(1)} s, slowest ${slowest.toFixed(0)} ms, ${failures} problems; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
  )
} finally {
  await app.close()
  rmSync(dir, { recursive: true, force: true })
}
process.exit(failures > 0 ? 1 : 0)
