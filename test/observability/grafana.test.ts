import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { build, issueUrl } from '../helpers/build.js'
import { ROOT } from '../helpers/root.js'

const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'waybill.json')

interface Panel {
  title: string
  targets?: Array<{ expr: string }>
  panels?: Panel[]
}

// PromQL's operators and modifiers written as words (functions are known by the bracket after them).
const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
])

/** The metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges, Grafana's $__rate_interval among them
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '') // label lists
    .replace(/\boffset\s+\S+/g, '') // offset modifiers
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, '') // numbers
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .filter((match) => !/^\s*\(/.test(bare.slice((match.index ?? 0) + match[0].length))) // a function
    .map((match) => match[0])
    .filter((name) => !PROMQL_WORDS.has(name))
}

/** Every series name a scrape can hold: samples, and what each `# TYPE` line declares. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line)
    if (type?.[1] && type[2]) {
      names.add(type[1])
      if (type[2] === 'histogram' || type[2] === 'summary') {
        for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${type[1]}${suffix}`)
      }
    } else if (line && !line.startsWith('#')) {
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)
      if (sample?.[1]) names.add(sample[1])
    }
  }
  return names
}

function expressions(panels: Panel[]): Array<{ panel: string; expr: string }> {
  return panels.flatMap((panel) => [
    ...(panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
    ...expressions(panel.panels ?? []),
  ])
}

test('the parser finds the metric names of an expression, and nothing else', () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{status_code=~"5.."}[$__rate_interval])))',
    ),
    ['http_request_duration_seconds_bucket'],
  )
  assert.deepEqual(
    metricNames(
      'sum(rate(a_total[5m])) / max by (state) (b_gauge offset 5m) * 1e3 or on() vector(0) > bool 2',
    ),
    ['a_total', 'b_gauge'],
  )
})

test('every metric the Grafana dashboard queries is one /metrics exposes', async (t) => {
  const app = await build(t)
  // A request first, so the labelled histogram has series as it would in production.
  assert.equal((await app.inject(issueUrl())).statusCode, 200)
  const scrape = await app.inject({ url: '/metrics' })
  assert.equal(scrape.statusCode, 200)
  const exposed = exposedNames(scrape.body)

  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] }
  const queries = expressions(dashboard.panels)
  assert.ok(queries.length >= 10, `the dashboard has its queries (${queries.length})`)
  const queried = new Set(queries.flatMap(({ expr }) => metricNames(expr)))
  // What the issue asks the dashboard to show, each by the metric that carries it.
  for (const needed of [
    'tracking_numbers_issued_total',
    'http_request_duration_seconds_bucket',
    'tracking_commit_batch_size_bucket',
    'tracking_commit_duration_seconds_bucket',
    'tracking_blocks_reserved_total',
    'sms_outbox_notifications',
    'http_request_duration_seconds_count',
  ]) {
    assert.ok(queried.has(needed), `the dashboard charts ${needed}`)
  }
  const missing = queries.flatMap(({ panel, expr }) =>
    metricNames(expr)
      .filter((name) => !exposed.has(name))
      .map((name) => `${panel}: ${name}`),
  )
  assert.deepEqual(missing, [], 'queried but not exposed')
})
