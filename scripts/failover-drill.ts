// A failover drill on this machine: a pg_auto_failover formation (monitor + two nodes on
// loopback), three Waybill processes under load, the primary's keeper and postgres killed with
// SIGKILL. Prints how long issuing stopped and whether any number repeated or went missing.
//   npm run drill:failover            (needs pg_autoctl: apt-get install postgresql-15-auto-failover)
import pg from 'pg'
import { TEST_KEY } from '../test/helpers/build.js'
import { failoverLoad } from '../test/helpers/failover-load.js'
import { startFormation } from '../test/helpers/formation.js'
import { type ServerProcess, startServer } from '../test/helpers/processes.js'

const LOAD_BEFORE_MS = 3_000
const LOAD_AFTER_MS = 5_000

const started = Date.now()
const formation = await startFormation()
console.log(`formation up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${formation.uri}`)
let servers: ServerProcess[] = []
try {
  servers = await Promise.all(
    [1, 2, 3].map(() =>
      startServer(
        {
          DATABASE_URL: formation.uri,
          PGUSER: 'postgres',
          TRACKING_KEY: TEST_KEY,
          DATABASE_CONNECT_TIMEOUT_MS: '1000',
          DATABASE_QUERY_TIMEOUT_MS: '3000',
          SMS_WORKER: 'false',
        },
        60_000,
      ),
    ),
  )
  let stopping = false
  const load = failoverLoad(
    servers.map((s) => s.port),
    () => stopping,
  )
  await new Promise((r) => setTimeout(r, LOAD_BEFORE_MS))
  const primary = await formation.primary()
  const lostAt = Date.now()
  formation.kill9(primary)
  let promotedAt = Number.NaN
  while (Date.now() - lostAt < 120_000) {
    const now = await formation.primary().catch(() => undefined)
    if (now && now.name !== primary.name) {
      promotedAt = Date.now()
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await new Promise((r) => setTimeout(r, LOAD_AFTER_MS))
  stopping = true
  const result = await load
  const lastRefusal = Math.max(lostAt, ...result.refusedAt)
  const firstAfterLoss = result.answered.find(
    (a) => a.at > lostAt && result.refusedAt.some((r) => r > lostAt && r < a.at),
  )
  const allBack = result.answered.find((a) => a.at > lastRefusal)
  const numbers = result.answered.map((a) => a.number)
  const twice = numbers.length - new Set(numbers).size
  const newPrimary = await formation.primary()
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${newPrimary.port}/waybill`,
  })
  await client.connect()
  const { rows } = await client.query(
    'select count(*)::int as n from tracking_numbers where tracking_number = any($1)',
    [numbers],
  )
  await client.end()
  const seconds = (at: number | undefined) =>
    at === undefined ? 'never' : `${((at - lostAt) / 1000).toFixed(1)} s`
  console.log(`primary ${primary.name} killed; ${newPrimary.name} promoted after ${seconds(promotedAt)}`)
  console.log(
    `first 200 again after the loss: ${seconds(firstAfterLoss?.at)}; every request answered again after ${seconds(allBack?.at)}`,
  )
  console.log(`numbers answered: ${numbers.length}; requests refused meanwhile: ${result.refused}`)
  console.log(
    `numbers issued twice: ${twice}; answered numbers missing on the new primary: ${numbers.length - rows[0].n}`,
  )
  process.exitCode = twice === 0 && rows[0].n === numbers.length ? 0 : 1
} finally {
  await Promise.all(servers.map((s) => s.kill9()))
  await formation.stop()
}
