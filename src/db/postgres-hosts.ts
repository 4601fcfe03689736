import pg from 'pg'

// node-postgres connects to one host (brianc/node-postgres#1470). A highly available PostgreSQL
// (pg_auto_failover, Patroni) is reached through libpq's multi-host URL, so Waybill resolves it
// itself: each new pool connection goes to the current primary, found anew after a failover.

export type SessionAttrs = 'any' | 'read-write' | 'primary'
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full' | 'no-verify'

export interface HostPort {
  host: string
  port: number
}

export interface PostgresUrl {
  hosts: HostPort[]
  targetSessionAttrs: SessionAttrs
  sslMode: SslMode | undefined
  /** Everything but host, port and ssl, for pg.Client. */
  base: pg.ClientConfig
}

const SESSION_ATTRS = new Set<string>(['any', 'read-write', 'primary'])
const SSL_MODES = new Set<string>([
  'disable',
  'allow',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
  'no-verify',
])

/**
 * libpq's URL, one host or several (`postgres://h1:p1,h2:p2/db?target_session_attrs=read-write`),
 * as `pg_autoctl show uri` prints it. Throws an Error naming the problem.
 */
export function parsePostgresUrl(url: string): PostgresUrl {
  const match = /^(postgres(?:ql)?:\/\/)(?:([^@/]*)@)?([^/?]*)(.*)$/.exec(url)
  if (!match) throw new Error('expected postgres://[user[:password]@]host[:port][,host[:port]…]/database')
  const [, , userInfo, hostList = '', rest = ''] = match
  // The rest (path and query) parsed by URL, on a placeholder host.
  const parsed = new URL(`postgres://placeholder${rest}`)
  const params = parsed.searchParams
  const defaultPort = Number(params.get('port') ?? 5432)
  const hosts = hostList
    .split(',')
    .filter((entry) => entry !== '')
    .map((entry): HostPort => {
      const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
      const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : entry.split(':')
      const number = port === undefined || port === '' ? defaultPort : Number(port)
      if (!host || !Number.isInteger(number) || number < 1 || number > 65_535) {
        throw new Error(`bad host "${entry}" (expected host or host:port)`)
      }
      return { host: decodeURIComponent(host), port: number }
    })
  if (hosts.length === 0) hosts.push({ host: params.get('host') ?? 'localhost', port: defaultPort })
  const attrs = params.get('target_session_attrs') ?? 'any'
  if (!SESSION_ATTRS.has(attrs)) {
    throw new Error(`target_session_attrs must be one of any, read-write, primary (got "${attrs}")`)
  }
  const sslMode = params.get('sslmode') ?? undefined
  if (sslMode !== undefined && !SSL_MODES.has(sslMode)) {
    throw new Error(`sslmode must be one of ${[...SSL_MODES].join(', ')} (got "${sslMode}")`)
  }
  const [user, password] = (userInfo ?? '').split(':').map((part) => decodeURIComponent(part))
  const database = decodeURIComponent(parsed.pathname.slice(1))
  const base: pg.ClientConfig = {
    ...(user ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(database ? { database } : {}),
    ...(params.get('application_name') ? { application_name: params.get('application_name') as string } : {}),
    // e.g. `-c search_path=…`: the tests give each its own schema this way.
    ...(params.get('options') ? { options: params.get('options') as string } : {}),
  }
  return { hosts, targetSessionAttrs: attrs as SessionAttrs, sslMode: sslMode as SslMode | undefined, base }
}

/**
 * The ssl settings to try in order, as libpq does: `prefer` (pg_autoctl's default) tries TLS
 * without verifying the certificate (pg_autoctl's are self-signed), then plain. pg itself treats
 * prefer as verify-full, which fails on both a server without TLS and a self-signed one.
 */
export function sslAttempts(mode: SslMode | undefined): Array<pg.ClientConfig['ssl']> {
  switch (mode) {
    case undefined:
    case 'disable':
      return [false]
    case 'allow':
      return [false, { rejectUnauthorized: false }]
    case 'prefer':
      return [{ rejectUnauthorized: false }, false]
    case 'require':
    case 'no-verify':
      return [{ rejectUnauthorized: false }]
    case 'verify-ca':
      return [{ checkServerIdentity: () => undefined }]
    case 'verify-full':
      return [{}]
  }
}

/** Which server, and which history of it, a connection writes to. */
export interface ServerIdentity {
  /** system_identifier: a standby cloned from a primary shares it, so the timeline tells them apart. */
  system: string
  /** The timeline of the WAL being written (null on a standby), read from the current WAL file's name. */
  timeline: number | null
  inRecovery: boolean
}

export function sameServer(a: ServerIdentity, b: ServerIdentity): boolean {
  return a.system === b.system && a.timeline === b.timeline
}

// The timeline from the WAL file being written: pg_control_checkpoint() still shows the old one
// until the first checkpoint after a promotion.
const IDENTITY_SQL = `select pg_is_in_recovery() as in_recovery,
  (select system_identifier::text from pg_control_system()) as system,
  case when pg_is_in_recovery() then null
    else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end as timeline`

export async function identify(client: pg.Client): Promise<ServerIdentity> {
  const { rows } = await client.query(IDENTITY_SQL)
  const row = rows[0] as { in_recovery: boolean; system: string; timeline: number | null }
  return { system: row.system, timeline: row.timeline, inRecovery: row.in_recovery }
}

export class NotPrimaryError extends Error {
  override name = 'NotPrimaryError'
  // 25006 (read_only_sql_transaction): what writing to this server would have answered.
  readonly code = '25006'
}

/**
 * Remembers where the primary was last found, so that a new connection tries it first; tells
 * listeners when a connection lands on another server or timeline than the previous one.
 */
export class HostLocator {
  private known: { target: HostPort; ssl: pg.ClientConfig['ssl'] } | undefined
  private current: ServerIdentity | undefined
  private readonly listeners: Array<(next: ServerIdentity, previous: ServerIdentity | undefined) => void> = []

  constructor(
    readonly url: PostgresUrl,
    private readonly connectTimeoutMs: number,
  ) {}

  get wantsPrimary(): boolean {
    return this.url.targetSessionAttrs !== 'any'
  }

  identity(): ServerIdentity | undefined {
    return this.current
  }

  /** Called with the first identity, and again whenever it changes. */
  onServer(listener: (next: ServerIdentity, previous: ServerIdentity | undefined) => void): void {
    this.listeners.push(listener)
  }

  /** Where to connect: the last primary found, else the first host (in order) that qualifies. */
  async locate(): Promise<{ target: HostPort; ssl: pg.ClientConfig['ssl'] }> {
    if (this.known) return this.known
    const problems: unknown[] = []
    for (const target of this.url.hosts) {
      for (const ssl of sslAttempts(this.url.sslMode)) {
        const probe = new pg.Client({
          ...this.url.base,
          ...target,
          ssl,
          connectionTimeoutMillis: this.connectTimeoutMs,
          query_timeout: this.connectTimeoutMs,
        })
        probe.on('error', () => {})
        try {
          await probe.connect()
          const identity = await identify(probe)
          if (identity.inRecovery && this.wantsPrimary) {
            problems.push(new NotPrimaryError(`${target.host}:${target.port} is a standby`))
            break
          }
          this.known = { target, ssl }
          return this.known
        } catch (error) {
          problems.push(error)
        } finally {
          probe.end().catch(() => {})
        }
      }
    }
    if (problems.length === 1) throw problems[0]
    throw new AggregateError(problems, 'no PostgreSQL host qualifies as target_session_attrs asks')
  }

  /** The connection found no primary where it was known to be: the next one looks again. */
  forget(target: HostPort): void {
    if (this.known?.target === target) this.known = undefined
  }

  /** A new connection's server: listeners hear of a change. */
  connected(identity: ServerIdentity): void {
    const previous = this.current
    if (identity.inRecovery) return
    if (previous && sameServer(previous, identity)) return
    this.current = identity
    for (const listener of this.listeners) listener(identity, previous)
  }
}
