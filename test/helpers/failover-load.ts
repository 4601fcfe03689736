import { Agent, request } from 'node:http'
import { bearer, issueUrl, validIssue } from './build.js'

export interface LoadResult {
  /** Every number answered 200/201, with when (ms since the epoch). */
  answered: Array<{ number: string; at: number }>
  refused: number
  /** When a request was last refused (or failed), ms since the epoch. */
  refusedAt: number[]
}

/**
 * Issues numbers against each port until `stop()`: single numbers, batches of 5 and requests with
 * an Idempotency-Key, `workers` at a time per port. Collects every number answered.
 */
export async function failoverLoad(ports: number[], stop: () => boolean, workers = 4): Promise<LoadResult> {
  const result: LoadResult = { answered: [], refused: 0, refusedAt: [] }
  const auth = await bearer('client')
  const agent = new Agent({ keepAlive: true, maxSockets: ports.length * workers })
  let n = 0
  const send = (port: number, i: number) =>
    new Promise<void>((resolve) => {
      const kind = i % 3
      const batch = kind === 1
      const headers: Record<string, string> = { ...auth }
      if (kind === 2) headers['idempotency-key'] = `drill-${process.pid}-${i}`
      if (batch) headers['content-type'] = 'application/json'
      const req = request(
        {
          host: '127.0.0.1',
          port,
          agent,
          method: batch ? 'POST' : 'GET',
          path: batch ? '/tracking-numbers/batch' : issueUrl(),
          headers,
          timeout: 30_000,
        },
        (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk) => {
            body += chunk
          })
          res.on('end', () => {
            const at = Date.now()
            if (res.statusCode === 200 || res.statusCode === 201) {
              const parsed = JSON.parse(body) as { tracking_number?: string; tracking_numbers?: string[] }
              for (const number of parsed.tracking_numbers ?? [parsed.tracking_number as string])
                result.answered.push({ number, at })
            } else {
              result.refused++
              result.refusedAt.push(at)
            }
            resolve()
          })
        },
      )
      req.on('error', () => {
        result.refused++
        result.refusedAt.push(Date.now())
        resolve()
      })
      if (batch) req.end(JSON.stringify({ ...validIssue, count: 5 }))
      else req.end()
    })
  const worker = async (port: number) => {
    while (!stop()) await send(port, n++)
  }
  await Promise.all(ports.flatMap((port) => Array.from({ length: workers }, () => worker(port))))
  agent.destroy()
  return result
}
