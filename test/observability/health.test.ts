import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import Fastify from 'fastify'
import { pino } from 'pino'
import { healthRoutes, WriteStatus } from '../../src/observability/health.js'

const full = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
const readOnly = () =>
  Object.assign(new Error('cannot execute UPDATE in a read-only transaction'), { code: '25006' })

/** A WriteStatus on a clock the test moves, with a probe that fails while `probeFails`. */
function status() {
  const clock = { now: 1_000 }
  const probe = { calls: 0, fails: true as boolean, error: readOnly as () => Error }
  const writes = new WriteStatus({
    now: () => clock.now,
    probe: async () => {
      probe.calls++
      await new Promise((resolve) => setImmediate(resolve))
      if (probe.fails) throw probe.error()
    },
  })
  return { writes, clock, probe }
}

test('writes work until one fails with an outage error; a bad row or a bug does not count', async () => {
  const { writes, probe } = status()
  assert.equal(await writes.failing(), undefined)
  writes.failed(Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }))
  writes.failed(new Error('a bug'))
  assert.equal(await writes.failing(), undefined)
  writes.failed(full())
  const failure = await writes.failing()
  assert.equal(failure?.code, 'SQLITE_FULL')
  assert.equal(failure?.message, 'database or disk is full')
  assert.ok(failure && !Number.isNaN(Date.parse(failure.since)))
  assert.equal(probe.calls, 0, 'a fresh failure is its own answer: no probe')
})

test('a commit that began after the failure ends it; one that began before does not', async () => {
  const { writes, clock } = status()
  clock.now = 2_000
  writes.failed(full())
  writes.succeeded(1_999) // in flight while the database refused: says nothing about now
  assert.equal((await writes.failing())?.code, 'SQLITE_FULL')
  writes.succeeded(2_000)
  assert.equal(await writes.failing(), undefined)
})

test('an old failure is probed again before answering, one probe for concurrent polls', async () => {
  const { writes, clock, probe } = status()
  writes.failed(full())
  const since = (await writes.failing())?.since
  clock.now += 1_000
  const answers = await Promise.all([writes.failing(), writes.failing(), writes.failing()])
  assert.equal(probe.calls, 1)
  // Still failing: the probe's own error is the reason now; the run of failures began earlier.
  assert.deepEqual(
    answers.map((a) => [a?.code, a?.since]),
    [
      ['25006', since],
      ['25006', since],
      ['25006', since],
    ],
  )
  // The probe's failure is fresh: no second probe within the second.
  clock.now += 500
  await writes.failing()
  assert.equal(probe.calls, 1)
  // The database takes writes again: the next probe says so, with no traffic needed.
  probe.fails = false
  clock.now += 600
  assert.equal(await writes.failing(), undefined)
  assert.equal(probe.calls, 2)
  // Healthy: /ready costs no probe.
  await writes.failing()
  assert.equal(probe.calls, 2)
})

test('a probe that fails with any error keeps writes failing (it is a write that always works)', async () => {
  const { writes, clock, probe } = status()
  writes.failed(full())
  probe.error = () => new Error('database writer thread exited with code 1')
  clock.now += 5_000
  assert.equal((await writes.failing())?.code, 'Error')
})

function capture() {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      callback()
    },
  })
  return { lines, logger: pino({ level: 'info' }, stream) }
}

test('/ready: 503 with the reason while writes fail, one log line per change, ready again by itself', async (t) => {
  const { lines, logger } = capture()
  const app = Fastify({ loggerInstance: logger })
  t.after(() => app.close())
  const { writes, clock, probe } = status()
  let pingFails = false
  await app.register(healthRoutes, {
    writes,
    ping: async () => {
      if (pingFails) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    },
  })
  const ready = async () => {
    const res = await app.inject({ url: '/ready' })
    return [res.statusCode, res.json()] as const
  }
  assert.deepEqual(await ready(), [200, { status: 'ready' }])

  writes.failed(full())
  for (let i = 0; i < 3; i++) {
    const [code, body] = await ready()
    clock.now += 2_000
    assert.equal(code, 503)
    assert.equal(body.status, 'database writes failing')
    assert.ok(body.reason === 'SQLITE_FULL' || body.reason === '25006')
    assert.ok(body.since)
    assert.equal(JSON.stringify(body).includes('read-only transaction'), false, 'no driver message')
  }
  const changes = () => lines.filter((l) => /^(not ready|ready again)/.test(String(l.msg)))
  // SQLITE_FULL, then the probe's 25006: each reason once, with the driver's message in the log.
  assert.deepEqual(
    changes().map((l) => [l.level, l.msg, l.reason]),
    [
      [40, 'not ready: database writes failing', 'SQLITE_FULL'],
      [40, 'not ready: database writes failing', '25006'],
    ],
  )
  assert.equal(changes()[0]?.message, 'database or disk is full')

  probe.fails = false
  clock.now += 2_000
  assert.deepEqual(await ready(), [200, { status: 'ready' }])
  assert.equal(changes().at(-1)?.msg, 'ready again')

  pingFails = true
  assert.deepEqual(await ready(), [503, { status: 'database unavailable', reason: 'ECONNREFUSED' }])
  await ready()
  assert.equal(changes().length, 4, 'an unchanged answer is not logged again')
  pingFails = false
  await ready()
  assert.equal(changes().length, 5)
})
