import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from './ports.js'

const PG_BIN = '/usr/lib/postgresql/15/bin'
const run = promisify(execFile)

export interface FormationNode {
  name: string
  port: number
  /** The keeper (`pg_autoctl … --run`), leader of a process group holding its postgres. */
  child: ChildProcess
}

export interface Formation {
  /** As `pg_autoctl show uri --formation default` prints it (every node, target_session_attrs=read-write). */
  uri: string
  nodes: FormationNode[]
  /** Runs pg_autoctl as the formation's user, in its environment. */
  autoctl(args: string[]): Promise<string>
  /** The node that is primary now, as the monitor says. */
  primary(): Promise<FormationNode>
  /** Until the monitor reports one primary and one secondary, both settled. */
  settled(timeoutMs: number): Promise<void>
  /** `pg_autoctl perform switchover`: a planned promotion of the standby; returns when done. */
  switchover(): Promise<void>
  /** Kills a node's keeper and postgres (its process group) with SIGKILL. */
  kill9(node: FormationNode): void
  stop(): Promise<void>
}

/**
 * A pg_auto_failover formation on loopback: a monitor and two nodes (`--auth trust --no-ssl`) in a
 * temporary folder, as the postgres user when running as root, with its own XDG folders. Tuned to
 * fail over in seconds, not the default ~20-30 s. stop() ends everything it started, by process
 * group id (SIGTERM, then SIGKILL), and removes the folder.
 */
export async function startFormation(options: { database?: string } = {}): Promise<Formation> {
  const dir = mkdtempSync(join(tmpdir(), 'waybill-formation-'))
  const asRoot = process.getuid?.() === 0
  const env = {
    PATH: `${PG_BIN}:/usr/bin:/bin`,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    HOME: dir,
  }
  for (const sub of ['config', 'data', 'run']) mkdirSync(join(dir, sub), { mode: 0o700 })
  if (asRoot) {
    const { stdout: uid } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    for (const path of [dir, join(dir, 'config'), join(dir, 'data'), join(dir, 'run')]) {
      chownSync(path, Number(uid), Number(gid))
    }
  }
  const command = (args: string[]): [string, string[]] => {
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`)
    return asRoot
      ? ['runuser', ['-u', 'postgres', '--', 'env', ...envArgs, 'pg_autoctl', ...args]]
      : ['env', [...envArgs, 'pg_autoctl', ...args]]
  }
  const children: ChildProcess[] = []
  const service = (name: string, args: string[]): ChildProcess => {
    const [file, argv] = command(args)
    // detached: a process group of its own, so that the keeper and its postgres die together.
    const child = spawn(file, argv, { detached: true, stdio: 'ignore' })
    children.push(child)
    child.unref()
    Object.assign(child, { formationName: name })
    return child
  }
  const autoctl = async (args: string[]) => (await run(...command(args), { timeout: 30_000 })).stdout
  const monitorData = join(dir, 'monitor')
  const monitorPort = await freePort()
  const stop = async () => {
    for (const child of children) signal(child, 'SIGTERM')
    const deadline = Date.now() + 10_000
    while (children.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    for (const child of children) signal(child, 'SIGKILL')
    // The postgres servers started by a keeper stay in its group; wait until they are gone too.
    await new Promise((r) => setTimeout(r, 300))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    service('monitor', [
      'create',
      'monitor',
      '--pgdata',
      monitorData,
      '--pgport',
      String(monitorPort),
      '--hostname',
      '127.0.0.1',
      '--auth',
      'trust',
      '--no-ssl',
      '--pgctl',
      join(PG_BIN, 'pg_ctl'),
      '--run',
    ])
    const monitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`
    await until(async () => {
      await query(
        `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`,
        'select 1 from pgautofailover.node limit 0',
      )
    }, 60_000)
    // Fail over in a few seconds: health checks every half second, a node unhealthy after 2 s.
    const admin = `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`
    for (const setting of [
      'pgautofailover.health_check_period = 500',
      'pgautofailover.health_check_timeout = 500',
      'pgautofailover.health_check_max_retries = 1',
      'pgautofailover.health_check_retry_delay = 200',
      'pgautofailover.node_considered_unhealthy_timeout = 2000',
      'pgautofailover.primary_demote_timeout = 5000',
    ]) {
      await query(admin, `alter system set ${setting}`)
    }
    await query(admin, 'select pg_reload_conf()')
    const nodes: FormationNode[] = []
    for (const name of ['node1', 'node2']) {
      const port = await freePort()
      const child = service(name, [
        'create',
        'postgres',
        '--pgdata',
        join(dir, name),
        '--pgport',
        String(port),
        '--listen',
        '127.0.0.1',
        '--hostname',
        '127.0.0.1',
        '--name',
        name,
        '--auth',
        'trust',
        '--no-ssl',
        '--monitor',
        monitorUrl,
        '--dbname',
        options.database ?? 'waybill',
        '--pgctl',
        join(PG_BIN, 'pg_ctl'),
        '--run',
      ])
      nodes.push({ name, port, child })
      // The second node registers once the first is primary (pg_auto_failover's order).
      if (name === 'node1') {
        await until(async () => {
          const state = await query(
            admin,
            `select reportedstate from pgautofailover.node where nodename = 'node1'`,
          )
          if (!['single', 'wait_primary', 'primary'].includes(String(state[0]?.reportedstate)))
            throw new Error('not yet')
        }, 60_000)
      }
    }
    const formation: Formation = {
      uri: '',
      nodes,
      autoctl,
      async primary() {
        const rows = await query(
          admin,
          `select nodename from pgautofailover.node
            where reportedstate in ('primary', 'wait_primary', 'single') and goalstate = reportedstate`,
        )
        const node = nodes.find((n) => n.name === rows[0]?.nodename)
        if (!node) throw new Error('no primary')
        return node
      },
      async settled(timeoutMs) {
        await until(async () => {
          const rows = await query(
            admin,
            'select reportedstate, goalstate from pgautofailover.node order by nodeid',
          )
          const states = rows.map((r) => `${r.reportedstate}/${r.goalstate}`).sort()
          if (states.join() !== 'primary/primary,secondary/secondary') throw new Error(states.join())
        }, timeoutMs)
      },
      async switchover() {
        await run(...command(['perform', 'switchover', '--pgdata', monitorData, '--formation', 'default']), {
          timeout: 90_000,
        })
      },
      kill9(node) {
        signal(node.child, 'SIGKILL')
      },
      stop,
    }
    await formation.settled(120_000)
    formation.uri = (await autoctl(['show', 'uri', '--pgdata', monitorData, '--formation', 'default'])).trim()
    return formation
  } catch (error) {
    await stop()
    throw error
  }
}

function alive(child: ChildProcess): boolean {
  try {
    process.kill(-(child.pid as number), 0)
    return true
  } catch {
    return false
  }
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), name)
  } catch {
    // already gone
  }
}

async function query(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.query(text)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

async function until(check: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`formation not ready in ${timeoutMs} ms: ${String(error)}`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}
