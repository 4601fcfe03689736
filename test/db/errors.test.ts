import assert from 'node:assert/strict'
import { test } from 'node:test'
import { driverCode, isUnavailable } from '../../src/db/errors.js'

const withCode = (code: string, message = 'driver error') => Object.assign(new Error(message), { code })

test('a database that refuses every write is unavailable (a 503 to retry), not an internal error', () => {
  for (const code of [
    'SQLITE_FULL',
    'SQLITE_READONLY',
    'SQLITE_READONLY_DIRECTORY',
    'SQLITE_READONLY_DBMOVED',
    'SQLITE_IOERR',
    'SQLITE_IOERR_WRITE',
    'SQLITE_IOERR_FSYNC',
    'SQLITE_BUSY',
    'SQLITE_BUSY_SNAPSHOT',
    '25006', // read_only_sql_transaction: default_transaction_read_only, a hot standby
    '53100', // disk_full
    '53200',
    '08006',
    '57P01',
    '57014',
    'ECONNREFUSED',
  ]) {
    assert.equal(isUnavailable(withCode(code)), true, code)
  }
})

test('errors of the request or of the code stay what they are', () => {
  for (const code of [
    'SQLITE_CONSTRAINT_UNIQUE',
    'SQLITE_ERROR',
    'SQLITE_CORRUPT',
    'SQLITE_MISMATCH',
    '23505',
    '25001', // active_sql_transaction: a bug, not an outage
    '22003',
    '42P01',
  ]) {
    assert.equal(isUnavailable(withCode(code)), false, code)
  }
  assert.equal(isUnavailable(new Error('plain')), false)
})

test('driverCode reads the code of any thrown value', () => {
  assert.equal(driverCode(withCode('SQLITE_FULL')), 'SQLITE_FULL')
  assert.equal(driverCode({ code: 25006 }), '25006')
  assert.equal(driverCode(new Error('no code')), undefined)
  assert.equal(driverCode(undefined), undefined)
  assert.equal(driverCode('text'), undefined)
})
