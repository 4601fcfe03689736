// src/tick-shape.ts keeps one process.nextTick queue entry alive, so that full garbage collections
// cannot free the entry's hidden classes and turn nextTick's property-definition feedback slots
// megamorphic (each nextTick then defines its entry in V8's runtime). V8 prints a function's
// feedback slots with %DebugPrint (--allow-natives-syntax): these tests read nextTick's after
// forced full collections (--expose-gc), in the service and, as the control that shows the check
// can fail, in a bare process without the module. They also check that the module leaves V8's
// promise fast paths on (an async hook, even enabled for a moment, switches them off for good:
// --trace-protector-invalidation says so).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { tempDir, testDatabaseUrl } from './helpers/build.js'
import { startServer, waitFor } from './helpers/processes.js'
import { ROOT } from './helpers/root.js'

const V8_FLAGS = ['--expose-gc', '--allow-natives-syntax', '--trace-protector-invalidation']
const PROBE_TIMEOUT_MS = 60_000
const PROMISE_HOOK_INVALIDATED = 'Invalidating protector cell PromiseHook'

// Loaded with --allow-natives-syntax, hence plain JavaScript written out at run time. A few hundred
// entries, a full collection, again three times, then nextTick's feedback printed to stdout by V8's
// C stdio, which drops what a full non-blocking pipe refuses (Node's stdout pipe is one): made
// blocking first. Then a file says it is done. TICK_PROBE_HOOK: an async hook enabled and disabled
// first, to show that the protector check sees what it looks for.
const PROBE = `
const ticks = (n) => new Promise((resolve) => {
  let left = n
  for (let i = 0; i < n; i++) process.nextTick(() => { if (--left === 0) resolve() })
})
async function probe() {
  for (let i = 0; i < 3; i++) { await ticks(300); globalThis.gc() }
  await ticks(300);
  process.stdout._handle?.setBlocking?.(true);
  %DebugPrint(process.nextTick);
  ;(await import('node:fs')).writeFileSync(process.env.TICK_PROBE_DONE, 'done')
}
if (process.env.TICK_PROBE_NOW === '1') {
  if (process.env.TICK_PROBE_HOOK === '1') {
    const { createHook } = await import('node:async_hooks')
    createHook({ init() {} }).enable().disable()
  }
  if (process.env.TICK_SHAPE_MODULE) {
    const { keptTickEntry } = await import(process.env.TICK_SHAPE_MODULE)
    await ticks(1)
    console.log('tick-probe: kept ' + (keptTickEntry()?.callback ? 'an entry' : 'nothing'))
  }
  await probe()
} else process.once('SIGUSR2', () => void probe())
`

/** The states of nextTick's DefineKeyedOwnPropertyInLiteral feedback slots in %DebugPrint's output. */
function literalSlots(output: string): string[] {
  const states = [...output.matchAll(/DefineKeyedOwnPropertyInLiteral\s+([A-Z_]+)/g)].map(
    (m) => m[1] as string,
  )
  assert.ok(
    states.length > 0,
    `no DefineKeyedOwnPropertyInLiteral slot in nextTick's feedback (has Node changed how it builds its queue entries, or how V8 prints them?):\n${output.slice(0, 4000)}`,
  )
  return states
}

function assertMonomorphic(output: string, hint: string): void {
  const states = literalSlots(output)
  assert.ok(
    states.every((state) => state === 'MONOMORPHIC'),
    `nextTick's literal slots: ${states.join(', ')}; all should be MONOMORPHIC (${hint})`,
  )
}

function writeProbe(dir: string): string {
  const path = join(dir, 'tick-probe.mjs')
  writeFileSync(path, PROBE)
  return path
}

/** Runs the probe at once in a bare node process, after src/tick-shape if `withModule`. */
async function bareProbe(dir: string, env: Record<string, string>, withModule: boolean): Promise<string> {
  const build = process.env.WAYBILL_TEST_BUILD
  const module = build ? join(build, 'src', 'tick-shape.js') : join(ROOT, 'src', 'tick-shape.ts')
  const done = join(dir, 'done')
  const child = spawn(
    process.execPath,
    [...V8_FLAGS, ...(build ? [] : ['--import', 'tsx']), writeProbe(dir)],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        TICK_PROBE_NOW: '1',
        TICK_PROBE_DONE: done,
        ...(withModule ? { TICK_SHAPE_MODULE: pathToFileURL(module).href } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS)
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  const [code, signal] = await once(child, 'close')
  clearTimeout(timer)
  assert.equal(code, 0, `the probe exited with ${code ?? signal}:\n${output.slice(0, 4000)}`)
  assert.ok(existsSync(done), output.slice(0, 4000))
  return output
}

test('without src/tick-shape.ts, full collections turn nextTick megamorphic (the control)', async (t) => {
  const states = literalSlots(await bareProbe(tempDir(t), {}, false))
  assert.ok(states.includes('MEGAMORPHIC'), `expected a megamorphic slot, got ${states.join(', ')}`)
})

test('an async hook, even enabled for a moment, invalidates the promise protector (the control)', async (t) => {
  const output = await bareProbe(tempDir(t), { TICK_PROBE_HOOK: '1' }, false)
  assert.ok(output.includes(PROMISE_HOOK_INVALIDATED), output.slice(0, 4000))
})

test('with src/tick-shape.ts, nextTick stays monomorphic through full collections', async (t) => {
  const output = await bareProbe(tempDir(t), {}, true)
  assert.match(output, /tick-probe: kept an entry/)
  assertMonomorphic(output, 'does src/tick-shape.ts still keep an entry?')
  assert.ok(
    !output.includes(PROMISE_HOOK_INVALIDATED),
    'src/tick-shape.ts switched off V8 promise fast paths',
  )
})

test("the service's nextTick stays monomorphic through start-up and full collections", async (t) => {
  const dir = tempDir(t)
  const done = join(dir, 'done-service')
  const server = await startServer(
    { DATABASE_URL: await testDatabaseUrl(t), TICK_PROBE_DONE: done, WEB_CONCURRENCY: '1' },
    undefined,
    [...V8_FLAGS, '--import', pathToFileURL(writeProbe(dir)).href],
  )
  // After 'exit', the last of stdout may still be on its way: 'close' comes after it.
  const closed = once(server.child, 'close')
  try {
    server.child.kill('SIGUSR2')
    await waitFor(() => existsSync(done) || server.child.exitCode !== null, 30_000)
    assert.ok(existsSync(done), `the probe did not finish:\n${server.output.join('\n').slice(0, 4000)}`)
  } finally {
    await server.stop()
    await closed
  }
  const output = server.output.join('\n')
  assertMonomorphic(output, "is src/tick-shape.ts still src/server.ts's first import?")
  assert.ok(
    !output.includes(PROMISE_HOOK_INVALIDATED),
    'something in the service switched off V8 promise fast paths',
  )
})
