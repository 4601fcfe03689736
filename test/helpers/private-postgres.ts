import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { freePort } from './ports.js'

const BIN = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()

/** Runs a PostgreSQL tool as the postgres user (the server refuses to run as root). */
export function asPostgres(tool: string, args: string[]): void {
  const command = [join(BIN, tool), ...args]
  const asRoot = process.getuid?.() === 0
  execFileSync(
    asRoot ? 'runuser' : (command[0] as string),
    asRoot ? ['-u', 'postgres', '--', ...command] : command.slice(1),
    {
      stdio: 'pipe',
    },
  )
}

export interface PrivatePostgres {
  url: string
  stop(mode?: 'fast' | 'immediate'): void
  start(): void
}

/**
 * A PostgreSQL server of the test's own (own data folder and port, made with initdb and pg_ctl),
 * so stopping it to simulate an outage disturbs nothing else. Removed after the test.
 */
export async function startPrivatePostgres(t: TestContext): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-pg-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }))
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }))
    chownSync(dir, uid, gid)
  }
  const data = join(dir, 'data')
  const port = await freePort()
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']),
    stop: (mode = 'fast') => asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']),
  }
  server.start()
  t.after(() => {
    try {
      server.stop('immediate')
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return server
}
