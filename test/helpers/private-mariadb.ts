import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { mysqlAdmin } from './build.js'
import { freePort } from './ports.js'

export interface PrivateMariadb {
  /** mysql://root@127.0.0.1:PORT/waybill, a database made at the first start. */
  url: string
  /** Stops the server: SIGTERM (a clean shutdown) or SIGKILL, and waits for it to exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>
  /** Starts it again (on the same port and data) and waits until it answers. */
  start(): Promise<void>
  /** SIGSTOP: the server hangs, connections stay open and nothing answers; SIGCONT resumes it. */
  pause(): void
  resume(): void
}

/**
 * A MariaDB server of the test's own (own data folder, port and socket, made with
 * mariadb-install-db), so stopping it to simulate an outage disturbs nothing else. `options` are
 * extra server options, e.g. `--innodb-flush-log-at-trx-commit=2`. Removed after the test.
 */
export async function startPrivateMariadb(t: TestContext, options: string[] = []): Promise<PrivateMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-mariadb-'))
  const data = join(dir, 'data')
  // Its own temporary folder: a starting mariadbd deletes every #sql* file in its tmpdir, which by
  // default is /tmp, where the shared test server keeps the temporary tables of the queries it is
  // running (seen: "Error on delete of '/tmp/#sql-temptable-….MAI'" in another test's migration).
  const temporary = join(dir, 'tmp')
  mkdirSync(temporary)
  const port = await freePort()
  execFileSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--tmpdir=${temporary}`,
      '--auth-root-authentication-method=normal',
      '--user=root',
      '--skip-test-db',
    ],
    { stdio: 'pipe' },
  )
  let child: ChildProcess | undefined
  const serverUrl = `mysql://root@127.0.0.1:${port}/`
  const ping = () =>
    mysqlAdmin('select 1', serverUrl).then(
      () => true,
      () => false,
    )
  const server: PrivateMariadb = {
    url: `${serverUrl}waybill`,
    async start() {
      child = spawn(
        'mariadbd',
        [
          '--no-defaults',
          `--datadir=${data}`,
          `--tmpdir=${temporary}`,
          `--port=${port}`,
          `--socket=${join(dir, 'socket')}`,
          `--pid-file=${join(dir, 'pid')}`,
          '--bind-address=127.0.0.1',
          '--user=root',
          '--skip-log-bin',
          '--innodb-buffer-pool-size=32M',
          ...options,
        ],
        { stdio: 'ignore' },
      )
      for (let i = 0; i < 300; i++) {
        if (await ping()) return
        if (child.exitCode !== null) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`the private mariadbd on port ${port} did not start`)
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async stop(signal = 'SIGTERM') {
      const running = child
      if (!running || running.exitCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGCONT')
      running.kill(signal)
      await exited
    },
  }
  await server.start()
  await mysqlAdmin('create database waybill character set utf8mb4 collate utf8mb4_bin', serverUrl)
  t.after(async () => {
    await server.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  return server
}
