import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import Fastify from 'fastify'
import { pino } from 'pino'
import { RequestLog, requestLogger } from '../../src/observability/logger.js'

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
