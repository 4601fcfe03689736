// Summarises a V8 .cpuprofile (node --cpu-prof) by self time: per function and per module (file, or
// package under node_modules), each as µs per request when given the number of requests served.
//
//   node scripts/profile-summary.mjs PROFILE.cpuprofile [requests] [top=40] [last-seconds]
//
// last-seconds: only the samples of the profile's last that many seconds (the measured load, not
// the start-up's module loading and compiling).
import { readFileSync } from 'node:fs'

const [path, requestsArg, topArg] = process.argv.slice(2)
if (!path) {
  console.error('usage: node scripts/profile-summary.mjs PROFILE.cpuprofile [requests] [top]')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(path, 'utf8'))
const requests = Number(requestsArg) || 0
const top = Number(topArg) || 40
const lastSeconds = Number(process.argv[5]) || 0
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map()
// timeDeltas[i] is the time before sample i: attribute each to its sample's node.
const from = lastSeconds ? profile.endTime - lastSeconds * 1e6 : Number.NEGATIVE_INFINITY
for (let i = 0, at = profile.startTime; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0
  if (at < from) continue
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)

function moduleOf(url) {
  if (!url) return '(native / V8)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return url
  const dist = url.indexOf('/dist/')
  return dist >= 0 ? url.slice(dist + 6) : url
}

const functions = new Map()
const modules = new Map()
for (const [id, us] of self) {
  const { callFrame } = byId.get(id)
  const name = `${callFrame.functionName || '(anonymous)'} ${moduleOf(callFrame.url)}:${callFrame.lineNumber + 1}`
  functions.set(name, (functions.get(name) ?? 0) + us)
  const mod = callFrame.url ? moduleOf(callFrame.url) : callFrame.functionName || '(native)'
  modules.set(mod, (modules.get(mod) ?? 0) + us)
}
// A request's stages: each sample goes to the innermost frame on its stack that names one (a
// randomUUID called by the service is the service's; a socket write is Node's whatever called it).
const STAGES = [
  ['auth hook + token cache', /\/src\/auth\/|\/jose\//],
  ['rate limit', /\/src\/rate-limit/],
  ['query parsing', /\/src\/http\/edges/],
  [
    'validation (ajv and formats)',
    /\/ajv|\/src\/validation|\/src\/formats|\/src\/countries|^validate\d*$|^anonymous\d*$/,
  ],
  [
    'issue: service, supply, codec, UUID',
    /\/src\/tracking\/(service|supply|allocator|codec|check-character|key)/,
  ],
  [
    'recorder + hand-off to the writer',
    /\/src\/tracking\/(recorder|writer|packing|repository|index)|node:internal\/worker|^postMessage$/,
  ],
  ['writer thread: SQLite/kysely', /\/kysely\/|\/better-sqlite3\/|\/src\/db\/|writer-thread/],
  ['metrics', /\/prom-client\/|\/src\/observability\/metrics/],
  ['logging (request loggers)', /\/pino|\/sonic-boom|\/src\/observability\/logger/],
  ['reply serialization', /fast-json-stringify/],
  ['headers, request id (onSend hooks)', /\/src\/security|\/src\/app\.js/],
  ['tracking routes (handler)', /\/src\/tracking\/routes/],
  [
    'Fastify lifecycle and router',
    /\/fastify\/|\/find-my-way\/|\/avvio\/|\/light-my-request|\/toad-cache|\/fast-querystring/,
  ],
  [
    'Node HTTP, streams, sockets',
    /^node:(_http|net|internal\/streams|internal\/stream_base|stream)|^(writev|writeUtf8String|writeBuffer|writeLatin1String|close|read)$/,
  ],
  ['pg driver', /\/pg\/|\/pg-protocol\/|\/pg-pool\//],
]
const parents = new Map()
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
function stageOf(id) {
  for (let at = id; at !== undefined; at = parents.get(at)) {
    const { url, functionName } = byId.get(at).callFrame
    for (const [stage, pattern] of STAGES) if (pattern.test(url || functionName)) return stage
  }
  const leaf = byId.get(id).callFrame.functionName
  return leaf.startsWith('(') ? leaf : '(other: Node internals, microtasks)'
}
const stages = new Map()
for (const [id, us] of self) stages.set(stageOf(id), (stages.get(stageOf(id)) ?? 0) + us)

const line = (name, us) => {
  const share = ((us / total) * 100).toFixed(1).padStart(5)
  const per = requests ? `${(us / requests).toFixed(2).padStart(8)} µs/req` : ''
  return `${share} %  ${per}  ${name}`
}
console.log(`${(total / 1e6).toFixed(2)} s sampled${requests ? `, ${requests} requests` : ''}`)
console.log('\nBy stage (innermost frame naming one)')
for (const [name, us] of [...stages].sort((a, b) => b[1] - a[1])) console.log(line(name, us))
console.log('\nBy module (self time)')
for (const [name, us] of [...modules].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(name, us))
console.log('\nBy function (self time)')
for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(name, us))
