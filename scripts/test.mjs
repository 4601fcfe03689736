#!/usr/bin/env node
// Runs the whole test suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
// In CI (CI=true) PostgreSQL is required: a run without it fails instead of skipping silently.
// Extra arguments are test files to run instead of all of them.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'helpers' ? [] : testFiles(path)
    return entry.name.endsWith('.test.ts') ? [path] : []
  })
}

const chosen = process.argv.slice(2)
const all = chosen.length > 0 ? chosen : testFiles('test').sort()
const postgresOnly = (file) => file.split(/[\\/]/).includes('postgres')
// A file that never opens a database (it uses none of the helpers that do) runs once, on SQLite.
const usesDatabase = (file) => /helpers\/(build|processes|orders)\.js/.test(readFileSync(file, 'utf8'))
const postgresUrl = process.env.TEST_DATABASE_URL

if (process.env.CI === 'true' && !postgresUrl) {
  console.error('CI=true but TEST_DATABASE_URL is not set: the PostgreSQL tests are required in CI.')
  process.exit(1)
}

const runs = [{ dialect: 'sqlite', files: all.filter((f) => !postgresOnly(f)) }]
if (postgresUrl)
  runs.push({ dialect: 'postgres', files: all.filter((f) => postgresOnly(f) || usesDatabase(f)) })
else console.log('TEST_DATABASE_URL is not set: running on SQLite only (set it to run on PostgreSQL too).')

let failed = false
for (const run of runs) {
  if (run.files.length === 0) continue
  console.log(`\n=== ${run.dialect}: ${run.files.length} test files`)
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...run.files],
    { stdio: 'inherit', env: { ...process.env, WAYBILL_TEST_DIALECT: run.dialect } },
  )
  if (result.status !== 0) {
    failed = true
    console.error(`=== ${run.dialect}: FAILED (exit ${result.status ?? result.signal})`)
  }
}
process.exit(failed ? 1 : 0)
