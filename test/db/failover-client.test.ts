import assert from 'node:assert/strict'
import { test } from 'node:test'
import type pg from 'pg'
import { failoverClient } from '../../src/db/failover-client.js'
import { HostLocator, parsePostgresUrl } from '../../src/db/postgres-hosts.js'

// A PostgreSQL failover test once ended a service with "Unhandled 'error' event … Connection
// terminated unexpectedly … on FailoverClient": a client whose connection died while no one
// listened (pg-pool listens only once a client is connected and handed to it). The query in
// flight fails either way; the event must never take the process down.
test('a pool client’s error event, whenever it comes, is heard: it never ends the process', () => {
  const url = 'postgres://waybill@127.0.0.1:1/waybill'
  const Client = failoverClient(new HostLocator(parsePostgresUrl(url), 1_000))
  const client = new Client({ user: 'waybill', database: 'waybill' } as pg.ClientConfig)
  assert.doesNotThrow(() => client.emit('error', new Error('Connection terminated unexpectedly')))
})
