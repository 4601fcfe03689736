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

test('database URLs: sqlite:, file:, postgres://, mysql:// and mariadb:// are understood; others are refused', () => {
  assert.deepEqual(parseDatabaseUrl('sqlite:/tmp/a.db'), { kind: 'sqlite', path: '/tmp/a.db' })
  assert.deepEqual(parseDatabaseUrl('file:data/x.db'), { kind: 'sqlite', path: 'data/x.db' })
  assert.equal(parseDatabaseUrl('postgres://localhost/db').kind, 'postgres')
  assert.deepEqual(parseDatabaseUrl('mysql://u:p@host:3306/db'), {
    kind: 'mysql',
    url: 'mysql://u:p@host:3306/db',
  })
  // mariadb:// is the same protocol: mysql2 is handed a mysql:// URL.
  assert.deepEqual(parseDatabaseUrl('mariadb://u:p@host/db'), { kind: 'mysql', url: 'mysql://u:p@host/db' })
  for (const url of ['mongodb://u:secret@host/db', 'mysql://u:secret@host/', 'mariadb://u:secret@host']) {
    assert.throws(
      () => parseDatabaseUrl(url),
      (e: Error) => {
        assert.ok(e instanceof ConfigError)
        assert.match(e.message, /^DATABASE_URL:/)
        assert.doesNotMatch(e.message, /secret/, 'the password is not echoed')
        return true
      },
      url,
    )
  }
})

test('every bad value names its variable, all at once', () => {
  assert.throws(
    () => loadConfig({ PORT: '99999', LOG_LEVEL: 'loud', TRACKING_FORMAT: 'fancy', NODE_ENV: 'staging' }),
    (e: Error) => {
      assert.ok(e instanceof ConfigError)
      for (const name of ['PORT', 'LOG_LEVEL', 'TRACKING_FORMAT', 'NODE_ENV'])
        assert.match(e.message, new RegExp(`${name}:`))
      // A setting with a fixed set of values lists them.
      assert.match(e.message, /NODE_ENV: must be one of development, production, test \(got "staging"\)/)
      assert.match(e.message, /TRACKING_FORMAT: must be one of default, route /)
      assert.match(e.message, /LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent /)
      return true
    },
  )
  assert.throws(() => loadConfig({ SMS_WORKER: 'maybe' }), /SMS_WORKER: must be true or false \(or 1 or 0\)/)
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

test('numbers are read as written: no truncation, exponents or hexadecimal', () => {
  // TypeBox's conversion alone would read these as 3, 41, 1 and 16.
  for (const [name, value] of [
    ['PORT', '3.5'],
    ['PORT', '41.52e2'],
    ['SHUTDOWN_TIMEOUT_MS', '1e4'],
    ['RATE_LIMIT_MAX', '0x10'],
    ['REQUEST_TIMEOUT_MS', '30s'],
    ['TRACKING_BLOCK_SECONDS', '1e1'],
  ] as const) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (e: Error) => e instanceof ConfigError && e.message.includes(`${name}: must be`),
      `${name}=${value}`,
    )
  }
  const config = loadConfig({ PORT: ' 8080 ', TRACKING_BLOCK_SECONDS: '0.5', SHUTDOWN_TIMEOUT_MS: '10000' })
  assert.equal(config.port, 8080)
  assert.equal(config.tracking.blockSeconds, 0.5)
  assert.equal(config.shutdownTimeoutMs, 10_000)
})

test('SECRET_KEY: required and long in production; optional elsewhere', () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /^ConfigError: SECRET_KEY: required/)
  assert.throws(
    () => loadConfig({ NODE_ENV: 'production', SECRET_KEY: 'short' }),
    /SECRET_KEY: must be at least 32/,
  )
  assert.throws(() => loadConfig({ SECRET_KEY: 'short' }), /SECRET_KEY:/, 'a short key is refused everywhere')
  const key = 'k'.repeat(32)
  assert.equal(loadConfig({ NODE_ENV: 'production', SECRET_KEY: key }).auth.secretKey, key)
  assert.equal(loadConfig({}).auth.secretKey, undefined, 'development generates one')
})

test('OIDC settings go together; the role map is checked', () => {
  assert.throws(() => loadConfig({ OIDC_ISSUER: 'https://id.example.com' }), /OIDC_AUDIENCE:/)
  assert.throws(() => loadConfig({ OIDC_AUDIENCE: 'waybill' }), /OIDC_ISSUER:/)
  assert.throws(
    () => loadConfig({ OIDC_ISSUER: 'https://id.example.com', OIDC_AUDIENCE: 'w', OIDC_ROLE_MAP: 'x=root' }),
    /OIDC_ROLE_MAP:/,
  )
  const { oidc } = loadConfig({
    OIDC_ISSUER: 'https://id.example.com',
    OIDC_AUDIENCE: 'waybill',
    OIDC_ROLE_CLAIM: 'realm_access.roles',
    OIDC_ROLE_MAP: 'waybill-ops=operator, waybill-admin=admin',
  }).auth
  assert.deepEqual(oidc?.roleMap, { 'waybill-ops': 'operator', 'waybill-admin': 'admin' })
  assert.equal(oidc?.roleClaim, 'realm_access.roles')
})

test('SMS: disabled without credentials; the claim must outlast a send', () => {
  assert.equal(loadConfig({}).sms.gateway, undefined)
  const { gateway } = loadConfig({
    AT_USERNAME: 'sandbox',
    AT_API_KEY: 'k',
    AT_BASE_URL: 'http://127.0.0.1:9/',
  }).sms
  assert.equal(gateway?.baseUrl, 'http://127.0.0.1:9')
  assert.throws(
    () => loadConfig({ SMS_TIMEOUT_MS: '5000', SMS_CLAIM_TIMEOUT_MS: '5000' }),
    /SMS_CLAIM_TIMEOUT_MS:/,
  )
  assert.throws(() => loadConfig({ SMS_WORKER: 'maybe' }), /SMS_WORKER:/)
})

test('SMS: one credential without the other is a configuration error naming the missing one', () => {
  assert.throws(
    () => loadConfig({ AT_USERNAME: 'sandbox' }),
    (error) => error instanceof ConfigError && /^AT_API_KEY: not set, but AT_USERNAME is/.test(error.message),
  )
  assert.throws(
    () => loadConfig({ AT_API_KEY: 'k', AT_USERNAME: '' }),
    (error) => error instanceof ConfigError && /^AT_USERNAME: not set, but AT_API_KEY is/.test(error.message),
  )
  assert.equal(loadConfig({ AT_USERNAME: '', AT_API_KEY: '' }).sms.gateway, undefined, 'both empty: disabled')
})

test('SMS: by default a notification is tried 41 times, backing off from 2 s to 15 minutes', () => {
  const { sms } = loadConfig({})
  assert.deepEqual([sms.maxAttempts, sms.retryBaseMs, sms.retryMaxMs], [41, 2_000, 900_000])
})

test('rate limits: with several workers and no Redis, each worker allows its share', () => {
  assert.deepEqual(
    [loadConfig({ RATE_LIMIT_MAX: '100', LOGIN_RATE_LIMIT_MAX: '10' }).rateLimit].map((r) => [
      r.max,
      r.loginMax,
      r.perWorker,
    ]),
    [[100, 10, false]],
  )
  const split = loadConfig({
    WEB_CONCURRENCY: '3',
    RATE_LIMIT_MAX: '100',
    LOGIN_RATE_LIMIT_MAX: '10',
  }).rateLimit
  assert.deepEqual([split.max, split.loginMax, split.perWorker], [34, 4, true])
  const shared = loadConfig({
    WEB_CONCURRENCY: '3',
    LOGIN_RATE_LIMIT_MAX: '10',
    REDIS_URL: 'redis://127.0.0.1:6379',
  })
  assert.deepEqual(
    [shared.rateLimit.loginMax, shared.rateLimit.perWorker],
    [10, false],
    'Redis counts for all',
  )
})

test('HTTP settings: CORS origins listed, trusted proxies', () => {
  const { http } = loadConfig({
    CORS_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
    TRUST_PROXY: '10.0.0.0/8',
  })
  assert.deepEqual(http.corsOrigins, ['https://a.example', 'https://b.example'])
  assert.deepEqual(http.trustProxy, ['10.0.0.0/8'])
  assert.equal(loadConfig({}).http.trustProxy, false)
  assert.deepEqual(
    loadConfig({ TRUST_PROXY: 'loopback, 192.168.1.1, ::1, 10.0.0.0/255.0.0.0, fd00::/8' }).http.trustProxy,
    ['loopback', '192.168.1.1', '::1', '10.0.0.0/255.0.0.0', 'fd00::/8'],
  )
  for (const bad of ['garbage', '10.0.0.0/99', '10.0.0.0/8/8', '2', 'fd00::/129']) {
    assert.throws(() => loadConfig({ TRUST_PROXY: bad }), /TRUST_PROXY: .*neither/, bad)
  }
  for (const bad of ['notanorigin', 'https://a.example/', 'https://a.example/app', 'ftp://a.example']) {
    assert.throws(() => loadConfig({ CORS_ALLOWED_ORIGINS: bad }), /CORS_ALLOWED_ORIGINS:/, bad)
  }
  // Checked even while OpenID Connect is off.
  assert.throws(() => loadConfig({ OIDC_ROLE_MAP: 'garbage' }), /OIDC_ROLE_MAP:/)
})

test('DATABASE_REQUIRE_SYNC_STANDBY: PostgreSQL only; off unless asked', () => {
  assert.throws(
    () => loadConfig({ DATABASE_REQUIRE_SYNC_STANDBY: 'true' }),
    /DATABASE_REQUIRE_SYNC_STANDBY: only PostgreSQL has standbys/,
  )
  assert.throws(
    () => loadConfig({ DATABASE_REQUIRE_SYNC_STANDBY: 'often' }),
    /DATABASE_REQUIRE_SYNC_STANDBY: must be true or false/,
  )
  const url =
    'postgres://127.0.0.1:6011,127.0.0.1:6012/waybill?target_session_attrs=read-write&sslmode=prefer'
  assert.equal(
    loadConfig({ DATABASE_URL: url, DATABASE_REQUIRE_SYNC_STANDBY: 'true' }).database.requireSyncStandby,
    true,
  )
  assert.equal(loadConfig({ DATABASE_URL: url }).database.requireSyncStandby, undefined)
})

test('COMMIT_GATHER_MS: 1 on PostgreSQL and MySQL, 0 on SQLite, unless set; 0 to 100', () => {
  const postgres = 'postgres://127.0.0.1:5432/waybill'
  assert.equal(loadConfig({ DATABASE_URL: postgres }).tracking.commitGatherMs, 1)
  assert.equal(loadConfig({}).tracking.commitGatherMs, 0)
  assert.equal(loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/w' }).tracking.commitGatherMs, 1)
  assert.equal(loadConfig({ DATABASE_URL: 'sqlite:/tmp/w.db' }).tracking.commitGatherMs, 0)
  assert.equal(loadConfig({ DATABASE_URL: postgres, COMMIT_GATHER_MS: '0' }).tracking.commitGatherMs, 0)
  assert.equal(loadConfig({ COMMIT_GATHER_MS: '5' }).tracking.commitGatherMs, 5)
  for (const bad of ['101', '-1', '0.5', 'soon']) {
    assert.throws(() => loadConfig({ COMMIT_GATHER_MS: bad }), /COMMIT_GATHER_MS:/)
  }
})
