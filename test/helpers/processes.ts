import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { Agent, request } from 'node:http'
import { createInterface } from 'node:readline'
import { bearer, issueUrl, TEST_SECRET_KEY } from './build.js'
import { program } from './programs.js'
import { ROOT } from './root.js'

export interface ServerProcess {
  port: number
  child: ChildProcess
  /** Everything the process wrote to stderr, and stdout lines that are not JSON logs. */
  output: string[]
  /** The JSON log lines it wrote to stdout. */
  logs: Record<string, unknown>[]
  stop(): Promise<number | null>
  kill9(): Promise<void>
}

/**
 * Runs the service (`src/server.ts`, or its build: programs.ts) in its own process; resolves when it
 * logs that it is ready. `nodeArgs` go to node before the program (V8 flags, `--import`).
 */
// A start takes 2-5 s alone, but CI runs two test files at once on two cores, and the other may
// be starting a pg_auto_failover formation or four servers: 20 s was seen to run out. A first
// start on MySQL/MariaDB also runs the migrations' DDL, each statement its own fsync'd commit
// (~3 s here), and a second process waits for the first's migration lock.
const START_TIMEOUT_MS = 60_000

export async function startServer(
  env: Record<string, string>,
  timeoutMs = START_TIMEOUT_MS,
  nodeArgs: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, ...program('server')], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      SECRET_KEY: TEST_SECRET_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const logs: Record<string, unknown>[] = []
  child.stderr?.on('data', (chunk) => output.push(String(chunk)))
  const exited = once(child, 'exit').then(([code]) => code as number | null)

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL') // never leave a process behind that keeps the test alive
      reject(new Error(`server not ready in ${timeoutMs} ms:\n${output.join('')}`))
    }, timeoutMs)
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const log = JSON.parse(line)
        logs.push(log)
        if (log.msg === 'waybill is ready') {
          clearTimeout(timer)
          resolve(log.port)
        }
      } catch {
        output.push(line)
      }
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(Object.assign(new Error(`server exited with ${code}:\n${output.join('')}`), { code }))
    })
  })

  return {
    port,
    child,
    output,
    logs,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      return exited
    },
    async kill9() {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** Runs `src/server.ts` expecting it to refuse to start; resolves with its exit code and stderr. */
export async function startRefused(
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  try {
    const server = await startServer(env)
    await server.stop()
    return { code: 0, stderr: '' }
  } catch (error) {
    return { code: (error as { code: number | null }).code ?? null, stderr: String((error as Error).message) }
  }
}

/** Waits until `condition()` holds, polling, for at most `timeoutMs`; then returns (the caller asserts). */
export async function waitFor(condition: () => boolean, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition() && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
}

export interface IssueOutcome {
  numbers: string[]
  failures: number
}

/**
 * Issues `total` numbers over `connections` keep-alive connections and collects every number
 * that was answered with 200. Errors (refused connection, killed server) count as failures.
 */
export async function issueMany(
  port: number,
  total: number,
  connections = 32,
  shouldStop: () => boolean = () => false,
  onAnswered: (count: number) => void = () => {},
): Promise<IssueOutcome> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const numbers: string[] = []
  let failures = 0
  let next = 0
  const path = issueUrl()
  const headers = await bearer('client')
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () => {
          if (res.statusCode === 200) onAnswered(numbers.push(JSON.parse(body).tracking_number))
          else failures++
          resolve()
        })
        res.on('error', () => {
          failures++
          resolve()
        })
      })
      req.on('error', () => {
        failures++
        resolve()
      })
      req.end()
    })
  const worker = async () => {
    while (next < total && !shouldStop()) {
      next++
      await one()
    }
  }
  await Promise.all(Array.from({ length: connections }, worker))
  agent.destroy()
  return { numbers, failures }
}
