import assert from 'node:assert/strict'
import { test } from 'node:test'
import { attribute, newestMapEntries, readLine, type Sample } from '../../bench/perf-attribution.js'

// `perf script -F tid,period,ip,sym,dso` as perf prints it: a header, frames leaf first, a blank line.
// Process 100 (its main thread, tid 100), answered 4 requests; 1,000,000 ns = 1,000 µs = 250 µs per request.
const SCRIPT = `
 100     1000000 
\t    7fb6800710d5 JS:^emit node:events:471:44 (/tmp/perf-100.map)
\t    7fb68029ef52 JS:*listener file:///srv/waybill/dist/src/tracking/fast-route.js:113:19 (/tmp/perf-100.map)
\t    7fb68022f1f6 JS:^parserOnIncoming node:_http_server:1026:26 (/tmp/perf-100.map)
\t          8deef3 node::(anonymous namespace)::Parser::on_headers_complete (/usr/bin/node)

 100     2000000 
\t    ffffffff8a2c4d10 pvm_irq_enable ([kernel.kallsyms])
\t    ffffffff8a0012e3 do_syscall_64 ([kernel.kallsyms])
\t           2724a __GI___writev (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t          9ddd6a node::LibuvStreamWrap::ReadStart()::{lambda(uv_stream_s*, long, uv_buf_t const*)#2}::_FUN (/usr/bin/node)

 100     1000000 
\t          11a0f00 v8::internal::Heap::Scavenge (/usr/bin/node)
\t          14ac8a7 uv_run (/usr/bin/node)

 100     1000000 
\t           2724a __GI___writev (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7fb680239df0 JS:*end node:_http_outgoing:1034:45 (/tmp/perf-100.map)
\t    7fb680239000 JS:*anonymous0 :245:27 (/tmp/perf-100.map)

 100     1000000 
\t    7fb6800ab7ae JS:*normalize /srv/waybill/node_modules/fast-json-stringify/node_modules/fast-uri/lib/utils.js:1:1 (/tmp/perf-100.map)
\t    7fb6800ab000 JS:*route /srv/waybill/node_modules/@fastify/cors/index.js:9:3 (/tmp/perf-100.map)
\t    7fb68029ef52 JS:*listener file:///srv/waybill/dist/src/tracking/fast-route.js:113:19 (/tmp/perf-100.map)

 101     2000000 
\t    ffffffff8a300000 vfs_fsync_range ([kernel.kallsyms])
\t    ffffffff8a300100 __x64_sys_fdatasync ([kernel.kallsyms])
\t         7f00000 unixSync (/srv/waybill/node_modules/better-sqlite3/build/Release/better_sqlite3.node)
\t         7f00100 sqlite3_step (/srv/waybill/node_modules/better-sqlite3/build/Release/better_sqlite3.node)

 101     1000000 
\t         7f00200 sqlite3VdbeExec (/srv/waybill/node_modules/better-sqlite3/build/Release/better_sqlite3.node)
\t         7f00100 sqlite3_step (/srv/waybill/node_modules/better-sqlite3/build/Release/better_sqlite3.node)

 102     1000000 
\t          c494db v8::internal::ScavengerCollector::JobTask::Run (/usr/bin/node)
`

function parse(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) readLine(samples, line)
  return samples
}

const options = { pid: 100, answered: 4, writerThread: true, nodeBinary: '/opt/node/bin/node', top: 3 }

test('reads each sample: tid, period and frames leaf first, symbols with parentheses whole', () => {
  const samples = parse(SCRIPT)
  assert.deepEqual(
    samples.map((s) => [s.tid, s.period, s.frames.length]),
    [
      [100, 1_000_000, 4],
      [100, 2_000_000, 4],
      [100, 1_000_000, 2],
      [100, 1_000_000, 3],
      [100, 1_000_000, 3],
      [101, 2_000_000, 4],
      [101, 1_000_000, 2],
      [102, 1_000_000, 1],
    ],
  )
  assert.deepEqual(samples[1]?.frames[3], {
    symbol: 'node::LibuvStreamWrap::ReadStart()::{lambda(uv_stream_s*, long, uv_buf_t const*)#2}::_FUN',
    dso: '/usr/bin/node',
  })
})

test('CPU µs per answered request by thread; the busiest other thread is the writer', () => {
  const { threads } = attribute(parse(SCRIPT), options)
  assert.deepEqual(threads, { 'main thread': 1500, 'writer thread': 750, 'other threads': 250 })
  const halved = attribute(parse(SCRIPT), { ...options, answered: 8 })
  assert.equal(halved.threads['main thread'], 750)
})

test('without a writer thread every thread but the main one is an other thread', () => {
  const { threads, writerStages } = attribute(parse(SCRIPT), { ...options, writerThread: false })
  assert.deepEqual(threads, { 'main thread': 1500, 'other threads': 1000 })
  assert.deepEqual(writerStages, {})
})

test("the main thread's stages: our file or a package nearest the leaf, else Node's module, else native", () => {
  const { stages } = attribute(parse(SCRIPT), options)
  assert.deepEqual(stages, {
    // A node:events frame is nearer the leaf, but Waybill's fast route is what it was working for.
    'kernel (no JS above)': 500,
    'src/tracking/fast-route': 250,
    'V8 GC': 250,
    'node:_http_outgoing': 250, // an unnamed generated function (no file) is skipped
    'fast-uri': 250, // the innermost package of a nested node_modules path
  })
})

test('leaf kinds per thread, and the top leaf symbols', () => {
  const { kinds, leaves } = attribute(parse(SCRIPT), options)
  assert.deepEqual(kinds['main thread'], {
    kernel: 500,
    JIT: 500,
    'node binary': 250,
    libc: 250,
    'other native': 0,
  })
  assert.equal(kinds['writer thread']?.kernel, 500)
  assert.equal(kinds['writer thread']?.['other native'], 250)
  assert.equal(leaves.length, 3)
  assert.deepEqual(leaves[0], ['pvm_irq_enable [kernel]', 500])
  assert.ok(leaves.some(([name]) => name === 'JS:^emit node:events:471:44'))
})

test("the writer thread's stages: fsync before the statement it commits", () => {
  const { writerStages } = attribute(parse(SCRIPT), options)
  assert.deepEqual(writerStages, { fsync: 500, 'SQLite statement execution': 250 })
})

test("the writer thread's top leaf symbols, none of another thread's", () => {
  const { writerLeaves } = attribute(parse(SCRIPT), options)
  assert.deepEqual(writerLeaves, [
    ['vfs_fsync_range [kernel]', 500],
    ['sqlite3VdbeExec (better_sqlite3.node)', 250],
  ])
  assert.deepEqual(attribute(parse(SCRIPT), { ...options, writerThread: false }).writerLeaves, [])
})

test('of perf map entries that overlap, the one written last names the address', () => {
  const map = [
    '1000 100 JS:^ node_modules/fast-uri/lib/utils.js:1:1', // start-up code, collected
    '2000 10 JS:*kept node:a:1:1',
    '1040 20 JS:*end node:_http_outgoing:1034:45', // written later where the first was
    '1100 10 JS:*after node:b:1:1',
    '',
  ].join('\n')
  assert.equal(
    newestMapEntries(map),
    [
      '2000 10 JS:*kept node:a:1:1',
      '1040 20 JS:*end node:_http_outgoing:1034:45',
      '1100 10 JS:*after node:b:1:1',
      '',
    ].join('\n'),
  )
  // No overlap: every entry stays, in the order written.
  const plain = '3000 10 JS:*x node:x:1:1\n1000 10 JS:*y node:y:1:1\n'
  assert.equal(newestMapEntries(plain), plain)
})
