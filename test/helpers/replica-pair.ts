import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import pg from 'pg'
import { freePort } from './ports.js'
import { asPostgres } from './private-postgres.js'

export interface Node {
  port: number
  url: string
  start(): void
  stop(mode?: 'fast' | 'immediate'): void
  promote(): void
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>
}

/**
 * A primary and a streaming standby of the test's own (initdb, pg_basebackup -R, pg_ctl), both on
 * loopback, so the test can stop, promote and lose them at will. Removed after the test.
 * Replication is asynchronous until the test sets synchronous_standby_names on the primary.
 */
export async function startReplicaPair(t: TestContext): Promise<{ primary: Node; standby: Node }> {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-pair-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }))
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }))
    chownSync(dir, uid, gid)
  }
  const node = async (name: string): Promise<Node> => {
    const data = join(dir, name)
    const port = await freePort()
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c cluster_name=${name}`
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    return {
      port,
      url,
      start: () =>
        asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, `${name}.log`), '-w', 'start']),
      stop: (mode = 'fast') => asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']),
      promote: () => asPostgres('pg_ctl', ['-D', data, '-w', 'promote']),
      async query(text, values) {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        try {
          return await client.query(text, values)
        } finally {
          await client.end()
        }
      },
    }
  }
  const primary = await node('primary')
  const standby = await node('standby')
  const stopAll = () => {
    for (const n of [primary, standby]) {
      try {
        n.stop('immediate')
      } catch {
        // not running
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.after(stopAll)
  asPostgres('initdb', ['-D', join(dir, 'primary'), '-U', 'postgres', '--auth=trust', '--no-sync'])
  primary.start()
  asPostgres('pg_basebackup', [
    '-h',
    '127.0.0.1',
    '-p',
    String(primary.port),
    '-U',
    'postgres',
    '-D',
    join(dir, 'standby'),
    '-R',
    '-X',
    'stream',
  ])
  standby.start()
  return { primary, standby }
}
