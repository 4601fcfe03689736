import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type Readable, Writable } from 'node:stream'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import { AppError, registerErrorHandling } from '../../src/http/errors.js'
import { RequestLog, requestLogger } from '../../src/observability/logger.js'
import { testDatabaseUrl } from '../helpers/build.js'
import { startServer, waitFor } from '../helpers/processes.js'

function capture(level: string) {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      callback()
    },
  })
  return { lines, logger: pino({ level }, stream) }
}

test('a request logger writes its bindings on every line, and only lines at enabled levels', () => {
  const { lines, logger } = capture('info')
  const log = requestLogger(logger, { request_id: 'r-1' }, {})
  log.debug('hidden')
  log.trace({ a: 1 }, 'hidden too')
  assert.equal(lines.length, 0)
  assert.equal(log.level, 'info')
  log.info({ a: 1 }, 'shown')
  log.child({ part: 'x' }).warn('from a child')
  log.error(new Error('boom'))
  assert.deepEqual(
    lines.map((l) => [l.request_id, l.msg]),
    [
      ['r-1', 'shown'],
      ['r-1', 'from a child'],
      ['r-1', 'boom'],
    ],
  )
  assert.equal(lines[0]?.a, 1)
  assert.equal(lines[1]?.part, 'x')
  // Its own level, for this request only.
  log.level = 'debug'
  log.debug('now shown')
  assert.equal(lines.at(-1)?.msg, 'now shown')
  assert.equal(logger.level, 'info')
  // A route's own level is honoured.
  const traced = requestLogger(logger, { request_id: 'r-2' }, { level: 'trace' })
  traced.trace('traced')
  assert.deepEqual([lines.at(-1)?.request_id, lines.at(-1)?.msg], ['r-2', 'traced'])
})

test('in Fastify, request lines carry the request id, and a successful request writes none at info', async (t) => {
  const { lines, logger } = capture('info')
  const app = Fastify({
    loggerInstance: logger,
    childLoggerFactory: requestLogger,
    logController: new RequestLog({ requestIdLogLabel: 'request_id' }),
    genReqId: (request) => String(request.headers['x-request-id']),
  })
  t.after(() => app.close())
  app.get('/ok', async () => ({ ok: true }))
  app.get('/bad', async (request, reply) => {
    request.log.info({ step: 'handler' }, 'about to refuse')
    return reply.code(400).send({ ok: false })
  })
  await app.inject({ url: '/ok', headers: { 'x-request-id': 'ok-1' } })
  assert.equal(lines.filter((l) => l.request_id === 'ok-1').length, 0)
  await app.inject({ url: '/bad', headers: { 'x-request-id': 'bad-1' } })
  const bad = lines.filter((l) => l.request_id === 'bad-1')
  assert.deepEqual(
    bad.map((l) => l.msg),
    ['about to refuse', 'request completed'],
  )
  assert.equal(bad[1]?.status, 400)
})

test('an outage logs its first refusal in full, then a count per interval; 503s complete at debug', async (t) => {
  const { lines, logger } = capture('info')
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    childLoggerFactory: requestLogger,
    logController: new RequestLog({ requestIdLogLabel: 'request_id' }),
    genReqId: (request) => String(request.headers['x-request-id']),
  })
  t.after(() => app.close())
  registerErrorHandling(app, { refusals: { intervalMs: 100, quietMs: 300 } })
  let outage = true
  app.get('/issue', async () => {
    if (!outage) return { ok: true }
    const cause = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
    throw new AppError('unavailable', 'The database is unavailable; try again shortly', {}, { cause })
  })
  app.get('/bug', async () => {
    throw new Error('a bug')
  })
  await app.ready()
  const issue = (id: string) => app.inject({ url: '/issue', headers: { 'x-request-id': id } })

  const started = performance.now()
  const first = await Promise.all(Array.from({ length: 300 }, (_, i) => issue(`a-${i}`)))
  assert.ok(first.every((res) => res.statusCode === 503))
  await sleep(150)
  const second = await Promise.all(Array.from({ length: 200 }, (_, i) => issue(`b-${i}`)))
  assert.ok(second.every((res) => res.statusCode === 503))
  await sleep(150)
  const intervals = Math.ceil((performance.now() - started) / 100)

  const errors = lines.filter((l) => l.level === 50)
  assert.equal(errors.length, 1, 'one line in full')
  assert.equal(errors[0]?.request_id, 'a-0')
  assert.match(
    String((errors[0]?.err as { stack?: string } | undefined)?.stack),
    /database or disk is full\n\s+at /,
  )
  const summaries = lines.filter((l) => l.level === 40)
  assert.ok(
    summaries.length >= 2 && summaries.length <= intervals,
    `${summaries.length} summary lines in ${intervals} intervals`,
  )
  for (const line of summaries) {
    assert.equal(line.code, 'unavailable')
    assert.equal(line.err, undefined, 'no stack after the first')
    assert.deepEqual(line.causes, { SQLITE_FULL: line.refused })
    assert.match(String(line.msg), /^\d+ more requests refused: The database is unavailable/)
  }
  assert.equal(
    summaries.reduce((sum, l) => sum + (l.refused as number), 0),
    499,
    'every refusal after the first is counted',
  )
  assert.equal(summaries.at(-1)?.last_request_id, 'b-199')
  assert.equal(lines.filter((l) => l.msg === 'request completed').length, 0, '503s complete at debug')
  assert.equal(lines.length, 1 + summaries.length, 'nothing else is logged for 500 refusals')

  // Other server errors still log in full, each one.
  await app.inject({ url: '/bug', headers: { 'x-request-id': 'bug-1' } })
  assert.deepEqual(
    lines.filter((l) => l.request_id === 'bug-1').map((l) => [l.level, l.msg]),
    [
      [50, 'Internal server error'],
      [40, 'request completed'],
    ],
  )

  // After a quiet spell the outage is over: the next refusal is logged in full again.
  await sleep(500)
  await issue('c-0')
  assert.equal(lines.filter((l) => l.level === 50 && l.code === 'unavailable').length, 2)
  assert.equal(lines.at(-1)?.request_id, 'c-0')
  outage = false
  // Counts not yet written are written at close.
  await issue('c-1')
  outage = true
  await issue('c-2')
  await app.close()
  assert.deepEqual([lines.at(-1)?.refused, lines.at(-1)?.last_request_id], [1, 'c-2'])
})

test('SIGTERM with the log reader gone (stdout a closed pipe): the service still stops, on time', async (t) => {
  const server = await startServer({ DATABASE_URL: await testDatabaseUrl(t), SHUTDOWN_TIMEOUT_MS: '2000' })
  t.after(() => server.kill9())
  // Listened for before the signal: a quick shutdown may be over before the line below is read.
  const exited = once(server.child, 'exit').then(([code]) => code as number | null)
  const started = Date.now()
  server.child.kill('SIGTERM')
  // As `waybill | head -5` when the fifth line is this one: the reader reads it and leaves, and
  // the lines after it are written only by the flush at exit.
  await waitFor(() => server.logs.some((log) => String(log.msg).startsWith('shutting down')), 5_000)
  ;(server.child.stdout as Readable).destroy()
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([
    exited,
    new Promise<string>((resolve) => {
      timer = setTimeout(resolve, 8_000, 'still running')
    }),
  ])
  clearTimeout(timer)
  assert.notEqual(code, 'still running', `no exit ${Date.now() - started} ms after SIGTERM`)
})
