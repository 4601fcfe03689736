import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseDatabaseUrl } from '../../src/config.js'
import { parsePostgresUrl, sslAttempts } from '../../src/db/postgres-hosts.js'

test('the URL pg_autoctl prints: every host in order, read-write, sslmode prefer', () => {
  const url = parsePostgresUrl(
    'postgres://127.0.0.1:6011,127.0.0.1:6012/waybill?target_session_attrs=read-write&sslmode=prefer',
  )
  assert.deepEqual(url.hosts, [
    { host: '127.0.0.1', port: 6011 },
    { host: '127.0.0.1', port: 6012 },
  ])
  assert.equal(url.targetSessionAttrs, 'read-write')
  assert.equal(url.sslMode, 'prefer')
  assert.deepEqual(url.base, { database: 'waybill' })
})

test('user, password, default port, IPv6 and options are kept', () => {
  const url = parsePostgresUrl(
    'postgresql://app:s%40cret@db1,[::1]:6543/orders?options=-c%20search_path%3Dx&target_session_attrs=primary',
  )
  assert.deepEqual(url.hosts, [
    { host: 'db1', port: 5432 },
    { host: '::1', port: 6543 },
  ])
  assert.equal(url.targetSessionAttrs, 'primary')
  assert.deepEqual(url.base, {
    user: 'app',
    password: 's@cret',
    database: 'orders',
    options: '-c search_path=x',
  })
})

test('one host without target_session_attrs: any server', () => {
  const url = parsePostgresUrl('postgres://postgres@127.0.0.1:5432/test')
  assert.equal(url.targetSessionAttrs, 'any')
  assert.deepEqual(url.hosts, [{ host: '127.0.0.1', port: 5432 }])
  assert.equal(url.sslMode, undefined)
})

test('sslmode prefer tries TLS without verification, then plain (pg alone would demand verify-full)', () => {
  assert.deepEqual(sslAttempts('prefer'), [{ rejectUnauthorized: false }, false])
  assert.deepEqual(sslAttempts('disable'), [false])
  assert.deepEqual(sslAttempts(undefined), [false])
  assert.deepEqual(sslAttempts('verify-full'), [{}])
})

test('DATABASE_URL: a bad multi-host URL is refused naming the variable and the problem', () => {
  assert.throws(
    () => parseDatabaseUrl('postgres://a:1,b:x/db?target_session_attrs=read-write'),
    /DATABASE_URL: bad host "b:x"/,
  )
  assert.throws(
    () => parseDatabaseUrl('postgres://a,b/db?target_session_attrs=standby'),
    /DATABASE_URL: target_session_attrs must be one of any, read-write, primary \(got "standby"\)/,
  )
  assert.throws(() => parseDatabaseUrl('postgres://a/db?sslmode=maybe'), /DATABASE_URL: sslmode must be/)
  assert.deepEqual(parseDatabaseUrl('postgres://a:1,b:2/db?target_session_attrs=any'), {
    kind: 'postgres',
    url: 'postgres://a:1,b:2/db?target_session_attrs=any',
  })
})
