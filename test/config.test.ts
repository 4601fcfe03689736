import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, loadConfig, parseDatabaseUrl } from '../src/config.js'

test('defaults: port 3000, SQLite under data/, default format', () => {
  const config = loadConfig({})
  assert.equal(config.port, 3000)
  assert.deepEqual(config.database.target, { kind: 'sqlite', path: 'data/waybill.db' })
  assert.equal(config.tracking.format, 'default')
  assert.equal(config.tracking.key, undefined)
  assert.equal(config.logLevel, 'info')
})

test('values are parsed and typed', () => {
  const config = loadConfig({
    PORT: '8080',
    TRACKING_BLOCK_MIN: '5',
    TRACKING_BLOCK_SECONDS: '0.5',
    TRACKING_KEY: 'A'.repeat(64),
    DATABASE_URL: 'postgresql://u:p@localhost:5432/waybill',
  })
  assert.equal(config.port, 8080)
  assert.equal(config.tracking.blockMin, 5)
  assert.equal(config.tracking.blockSeconds, 0.5)
  assert.equal(config.tracking.key?.length, 32)
  assert.equal(config.database.target.kind, 'postgres')
})

test('database URLs: sqlite:, file: and postgres:// are understood; others are refused', () => {
  assert.deepEqual(parseDatabaseUrl('sqlite:/tmp/a.db'), { kind: 'sqlite', path: '/tmp/a.db' })
  assert.deepEqual(parseDatabaseUrl('file:data/x.db'), { kind: 'sqlite', path: 'data/x.db' })
  assert.equal(parseDatabaseUrl('postgres://localhost/db').kind, 'postgres')
  assert.throws(
    () => parseDatabaseUrl('mysql://u:secret@host/db'),
    (e: Error) => {
      assert.ok(e instanceof ConfigError)
      assert.match(e.message, /^DATABASE_URL:/)
      assert.doesNotMatch(e.message, /secret/, 'the password is not echoed')
      return true
    },
  )
})

test('every bad value names its variable, all at once', () => {
  assert.throws(
    () => loadConfig({ PORT: '99999', LOG_LEVEL: 'loud', TRACKING_FORMAT: 'fancy', NODE_ENV: 'staging' }),
    (e: Error) => {
      assert.ok(e instanceof ConfigError)
      for (const name of ['PORT', 'LOG_LEVEL', 'TRACKING_FORMAT', 'NODE_ENV'])
        assert.match(e.message, new RegExp(`${name}:`))
      return true
    },
  )
  assert.throws(() => loadConfig({ TRACKING_KEY: 'short' }), /TRACKING_KEY:/)
  assert.throws(
    () => loadConfig({ TRACKING_BLOCK_MIN: '50', TRACKING_BLOCK_MAX: '10' }),
    /TRACKING_BLOCK_MIN:/,
  )
  assert.throws(() => loadConfig({ TRACKING_BLOCK_MIN: '0' }), /TRACKING_BLOCK_MIN:/)
  // Past 2^31 - 1 ms, Node's timers fire at once: a shutdown would not wait at all.
  for (const name of ['SHUTDOWN_TIMEOUT_MS', 'DATABASE_CONNECT_TIMEOUT_MS', 'DATABASE_QUERY_TIMEOUT_MS']) {
    assert.throws(() => loadConfig({ [name]: '3000000000' }), new RegExp(`${name}:`))
  }
  assert.throws(() => loadConfig({ IDEMPOTENCY_TTL_HOURS: '3e9' }), /IDEMPOTENCY_TTL_HOURS:/)
})
