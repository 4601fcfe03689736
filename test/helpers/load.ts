import { bearer, issueUrl, validIssue } from './build.js'

// Load for the outage tests (test/postgres/faults.test.ts, test/mysql/faults.test.ts).

/** One GET with a client token, timed. */
export async function get(port: number, path: string) {
  const started = performance.now()
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: await bearer('client') })
  const body = (await res.json()) as { code?: string; correlation_id?: string }
  return { status: res.status, headers: res.headers, body, ms: performance.now() - started }
}

/**
 * Requests that commit inside an explicit transaction: keyed GETs (idempotency row + record) and
 * batches of 600 (two of them exceed one INSERT). Collects every number answered.
 */
export async function transactionalLoad(port: number, stop: () => boolean): Promise<string[]> {
  const numbers: string[] = []
  const auth = await bearer('client')
  let n = 0
  const worker = async () => {
    while (!stop()) {
      const i = n++
      try {
        if (i % 2 === 0) {
          const res = await fetch(`http://127.0.0.1:${port}${issueUrl()}`, {
            headers: { ...auth, 'idempotency-key': `load-${i}-${Math.random()}` },
          })
          if (res.status === 200)
            numbers.push(((await res.json()) as { tracking_number: string }).tracking_number)
          else await res.arrayBuffer()
        } else {
          const res = await fetch(`http://127.0.0.1:${port}/tracking-numbers/batch`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify({ ...validIssue, count: 600 }),
          })
          if (res.status === 201)
            numbers.push(...((await res.json()) as { tracking_numbers: string[] }).tracking_numbers)
          else await res.arrayBuffer()
        }
      } catch {
        // connection refused or reset while the database is down: not an answered number
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  return numbers
}
