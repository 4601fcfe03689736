import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AggregatorRegistry, Histogram, Registry } from 'prom-client'
import { createMetrics, RequestDurations } from '../../src/observability/metrics.js'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

// Requests as [method, route, status, seconds]: bounds exactly, between them, past the last one.
const REQUESTS: Array<[string, string, number, number]> = [
  ['GET', '/next-tracking-number', 200, 0.0004],
  ['GET', '/next-tracking-number', 200, 0.0005],
  ['GET', '/next-tracking-number', 200, 0.0007],
  ['GET', '/next-tracking-number', 400, 0.002],
  ['POST', '/tracking-numbers/batch', 200, 0.3],
  ['GET', '/next-tracking-number', 200, 2.5],
  ['GET', '/next-tracking-number', 200, 7],
  ['GET', 'unmatched', 404, 0],
  ['GET', '/next-tracking-number', 200, 0.0123],
  ['POST', '/tracking-numbers/batch', 200, 1e-7],
]

function pair() {
  const fast = new Registry()
  const plain = new Registry()
  const durations = new RequestDurations(BUCKETS, fast)
  const reference = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: BUCKETS,
    registers: [plain],
  })
  const observe = (requests: typeof REQUESTS) => {
    for (const [method, route, status, seconds] of requests) {
      durations.observeRequest(method, route, status, seconds)
      reference.observe({ method, route, status_code: status }, seconds)
    }
  }
  return { fast, plain, durations, reference, observe }
}

test('request durations export exactly what prom-client’s own observe() would', async () => {
  const { fast, plain, observe } = pair()
  observe(REQUESTS)
  observe(REQUESTS)
  assert.equal(await fast.metrics(), await plain.metrics())
  assert.deepEqual(await fast.getMetricsAsJSON(), await plain.getMetricsAsJSON())
  assert.match(
    await fast.metrics(),
    /http_request_duration_seconds_count\{method="GET",route="\/next-tracking-number",status_code="200"\} 12/,
  )
  // Summed across workers the same way (the cluster's /metrics).
  const aggregate = async (registry: Registry) => {
    const worker = await registry.getMetricsAsJSON()
    return AggregatorRegistry.aggregate([worker, worker]).metrics()
  }
  assert.equal(await aggregate(fast), await aggregate(plain))
})

test('request durations start again after a reset, a zero or a removal', async () => {
  const { fast, plain, durations, reference, observe } = pair()
  observe(REQUESTS)
  for (const histogram of [durations, reference]) histogram.reset()
  observe(REQUESTS.slice(0, 4))
  assert.equal(await fast.metrics(), await plain.metrics())
  for (const histogram of [durations, reference]) {
    histogram.zero({ method: 'GET', route: '/next-tracking-number', status_code: 200 })
  }
  observe(REQUESTS)
  assert.equal(await fast.metrics(), await plain.metrics())
  for (const histogram of [durations, reference]) {
    histogram.remove({ method: 'GET', route: '/next-tracking-number', status_code: 400 })
  }
  observe(REQUESTS)
  assert.equal(await fast.metrics(), await plain.metrics())
})

test('a request duration goes through prom-client’s observe() only for a series not seen before', () => {
  const { durations } = pair()
  const original = durations.observe.bind(durations)
  let calls = 0
  durations.observe = ((...args: Parameters<typeof original>) => {
    calls++
    return original(...args)
  }) as typeof durations.observe
  for (let i = 0; i < 100; i++) durations.observeRequest('GET', '/next-tracking-number', 200, i / 1000)
  assert.equal(calls, 1)
  durations.observeRequest('GET', '/next-tracking-number', 201, 0.001)
  durations.observeRequest('GET', '/next-tracking-number', 201, 0.001)
  assert.equal(calls, 2)
})

test('sms_notifications_total shows every outcome from the start, at 0, before the first SMS', async () => {
  const metrics = createMetrics()
  const samples = async () =>
    [...(await metrics.registry.metrics()).matchAll(/^sms_notifications_total\{outcome="(\w+)"\} (\d+)$/gm)]
      .map(([, outcome, value]) => `${outcome} ${value}`)
      .sort()
  assert.deepEqual(await samples(), ['failed 0', 'retry 0', 'sent 0'])
  metrics.smsOutcomes.inc({ outcome: 'sent' })
  assert.deepEqual(await samples(), ['failed 0', 'retry 0', 'sent 1'])
})
