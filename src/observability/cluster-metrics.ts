// WEB_CONCURRENCY > 1: the workers share one port, so a scrape of /metrics reaches whichever worker
// takes the connection. Each would answer its own counts (Prometheus would see counters jump up
// and down between scrapes), and no worker can be scraped on its own. Instead the worker that takes
// the scrape asks the primary, which gathers every worker's registry over IPC (prom-client's
// AggregatorRegistry: counters and histograms summed, gauges by each metric's own aggregator).
import cluster from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'

const REQUEST = 'waybill:metrics-request'
const REPLY = 'waybill:metrics-reply'
// prom-client gives up on a silent worker after 5 s; the asking worker waits a little longer.
const REPLY_TIMEOUT_MS = 6_000

type Request = { type: typeof REQUEST; id: number }
type Reply = { type: typeof REPLY; id: number; text?: string; error?: string }

/** In the primary: answers each worker's request with the whole group's metrics. */
export function serveGroupMetrics(): void {
  const aggregator = new AggregatorRegistry() // listens for the workers' answers
  cluster.on('message', (worker, message: Partial<Request>) => {
    if (message?.type !== REQUEST || typeof message.id !== 'number') return
    const { id } = message
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: REPLY, id, text } satisfies Reply),
      (error: Error) => worker.send({ type: REPLY, id, error: error.message } satisfies Reply),
    )
  })
}

/**
 * In a worker: its registry is the one the primary gathers, and the returned function fetches the
 * whole group's metrics, as Prometheus text, through the primary.
 */
export function groupMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry])
  new AggregatorRegistry() // answers the primary's requests for this worker's registry
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>()
  let nextId = 0
  process.on('message', (message: Partial<Reply>) => {
    if (message?.type !== REPLY || typeof message.id !== 'number') return
    const request = waiting.get(message.id)
    if (!request) return
    waiting.delete(message.id)
    if (message.error !== undefined || message.text === undefined) {
      request.reject(new Error(`the primary could not gather the workers' metrics: ${message.error}`))
    } else {
      request.resolve(message.text)
    }
  })
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => {
        waiting.delete(id)
        reject(new Error('the primary did not answer with the workers’ metrics in time'))
      }, REPLY_TIMEOUT_MS)
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer)
          resolve(text)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      process.send?.({ type: REQUEST, id } satisfies Request)
    })
}
