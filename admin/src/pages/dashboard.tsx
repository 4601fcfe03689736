import { useEffect } from 'preact/hooks'
import { TRANSITIONS } from '../../../src/orders/service.js'
import type { StatsService } from '../../../src/stats/service.js'
import { get } from '../api.js'
import { href } from '../router.js'
import { ErrorAlert, formatNumber, Loading, PageTitle, useResource } from '../ui.js'

type Stats = Awaited<ReturnType<StatsService['summary']>>
type PerMinute = Stats['tracking']['per_minute']

const REFRESH_MS = 10_000
const STATUSES = Object.keys(TRANSITIONS) as Array<keyof typeof TRANSITIONS>
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

export function Dashboard() {
  const stats = useResource(() => get<Stats>('/api/stats/'), 'stats')
  const { reload } = stats
  // Live while the tab is visible; a hidden tab does not poll.
  useEffect(() => {
    const timer = window.setInterval(() => document.visibilityState === 'visible' && reload(), REFRESH_MS)
    return () => window.clearInterval(timer)
  }, [reload])
  const data = stats.data
  return (
    <>
      <PageTitle title="Dashboard">Dashboard</PageTitle>
      <ErrorAlert error={stats.error} />
      <Loading resource={stats} />
      {data && (
        <div class="dashboard">
          <section class="card" aria-labelledby="issued-heading">
            <h2 id="issued-heading">Tracking numbers</h2>
            <div class="figures">
              <Figure label="Issued today (UTC)" value={data.tracking.issued_today} />
              <Figure label="Issued in total" value={data.tracking.issued_total} />
            </div>
            <RateChart minutes={data.tracking.per_minute} />
          </section>
          <section class="card" aria-labelledby="orders-heading">
            <h2 id="orders-heading">Orders by status</h2>
            <StatusBars counts={data.orders.by_status} />
          </section>
          <section class="card" aria-labelledby="outbox-heading">
            <h2 id="outbox-heading">SMS notifications</h2>
            <div class="figures">
              <Figure label="Waiting to be sent" value={data.outbox.pending} />
              <Figure label="Failed" value={data.outbox.failed} warn={data.outbox.failed > 0} />
              <Figure label="Sent" value={data.outbox.sent} />
            </div>
          </section>
        </div>
      )}
    </>
  )
}

function Figure({ label, value, warn }: { label: string; value: number; warn?: boolean }) {
  return (
    <div class={warn ? 'figure warn' : 'figure'}>
      <span class="figure-value">{formatNumber(value)}</span>
      <span class="figure-label">{label}</span>
    </div>
  )
}

const WIDTH = 600
const HEIGHT = 140

/** Numbers issued per minute, oldest first, as SVG bars (no chart library). */
function RateChart({ minutes }: { minutes: PerMinute }) {
  const peak = Math.max(1, ...minutes.map((m) => m.count))
  const total = minutes.reduce((sum, m) => sum + m.count, 0)
  const slot = WIDTH / Math.max(1, minutes.length)
  const first = minutes[0]
  const last = minutes[minutes.length - 1]
  const summary =
    `Numbers issued per minute over the last ${minutes.length} minutes: ${formatNumber(total)} in all, ` +
    `at most ${formatNumber(peak === 1 && total === 0 ? 0 : peak)} in one minute.`
  return (
    <figure class="chart">
      <figcaption>Issue rate, last {minutes.length} minutes</figcaption>
      {/* Stretched to the card's width: bars scale well, and the labels are HTML below. */}
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={summary}
        class="chart-svg"
      >
        <line
          x1="0"
          y1={HEIGHT - 0.5}
          x2={WIDTH}
          y2={HEIGHT - 0.5}
          class="chart-axis"
          vector-effect="non-scaling-stroke"
        />
        {minutes.map((m, i) => {
          const height = m.count === 0 ? 0 : Math.max(2, (m.count / peak) * (HEIGHT - 8))
          return (
            <rect
              key={m.minute}
              x={i * slot + 1}
              y={HEIGHT - height}
              width={Math.max(1, slot - 2)}
              height={height}
              class="chart-bar"
            >
              <title>{`${time.format(new Date(m.minute))}: ${formatNumber(m.count)}`}</title>
            </rect>
          )
        })}
      </svg>
      <div class="chart-scale" aria-hidden="true">
        <span>{first ? time.format(new Date(first.minute)) : ''}</span>
        <span>peak {formatNumber(total === 0 ? 0 : peak)}/min</span>
        <span>{last ? time.format(new Date(last.minute)) : ''}</span>
      </div>
    </figure>
  )
}

function StatusBars({ counts }: { counts: Stats['orders']['by_status'] }) {
  const values = STATUSES.map((status) => ({ status, count: Number(counts[status] ?? 0) }))
  const most = Math.max(1, ...values.map((v) => v.count))
  return (
    <ul class="status-bars">
      {values.map(({ status, count }) => (
        <li key={status}>
          <a href={href(`/orders?status=${status}`)}>
            <span class="status-name">{status}</span>
            <span class="status-track" aria-hidden="true">
              <span
                class={`status-fill status-${status.toLowerCase()}`}
                style={{ width: `${(count / most) * 100}%` }}
              />
            </span>
            <span class="status-count">{formatNumber(count)}</span>
          </a>
        </li>
      ))}
    </ul>
  )
}
