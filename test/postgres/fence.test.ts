import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrateToLatest } from '../../src/db/migrate.js'
import { createTrackingRepository, FENCE_GAP } from '../../src/tracking/repository.js'
import { openDatabase } from '../helpers/build.js'
import { startReplicaPair } from '../helpers/replica-pair.js'

// The database's own fence, on a private primary and standby: whoever reserves first on the
// promoted standby's new timeline moves the counter ahead by FENCE_GAP, once.

test('a reservation on a new timeline jumps by FENCE_GAP, and only the first one', async (t) => {
  const { primary, standby } = await startReplicaPair(t)
  const onPrimary = openDatabase(t, primary.url)
  await migrateToLatest(onPrimary)
  const first = await createTrackingRepository(onPrimary).reserveBlock(10)
  assert.equal(first.jumped, undefined, 'the first reservation has no timeline to compare with')
  const again = await createTrackingRepository(onPrimary).reserveBlock(10)
  assert.deepEqual(again, { start: first.end, end: first.end + 10 }, 'same timeline: no jump')
  // The standby has replayed both reservations, timeline included, before the failover.
  const deadline = Date.now() + 15_000
  let replayed: { next_value: string; timeline: string | null } | undefined
  while (Date.now() < deadline) {
    // (Until the standby has replayed the migrations, there is no table to read.)
    const read = await standby
      .query(`select next_value, timeline from counters where name = 'tracking'`)
      .catch(() => undefined)
    replayed = read?.rows[0]
    if (Number(replayed?.next_value) === again.end) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.equal(Number(replayed?.next_value), again.end)
  assert.equal(Number(replayed?.timeline), 1)

  primary.stop('immediate')
  standby.promote()
  // Four reservations at once, on four connections: the first to lock the row jumps, the others
  // see the timeline it stored (the old row is read under its lock, not from the statement's snapshot).
  const promoted = [openDatabase(t, standby.url), openDatabase(t, standby.url)].map((db) =>
    createTrackingRepository(db),
  )
  const blocks = await Promise.all(
    [0, 1, 2, 3].map((i) => (promoted[i % 2] as (typeof promoted)[0]).reserveBlock(10)),
  )
  blocks.sort((a, b) => a.start - b.start)
  assert.deepEqual(
    blocks,
    [0, 1, 2, 3].map((i) => ({
      start: again.end + FENCE_GAP + 10 * i,
      end: again.end + FENCE_GAP + 10 * (i + 1),
      ...(i === 0 ? { jumped: { previousTimeline: 1, timeline: 2 } } : {}),
    })),
    'one jump by FENCE_GAP, then consecutive blocks',
  )
  const last = (blocks[3] as (typeof blocks)[0]).end
  const next = await (promoted[0] as (typeof promoted)[0]).reserveBlock(10)
  assert.deepEqual(next, { start: last, end: last + 10 }, 'the new timeline is stored: no second jump')
  const { rows } = await standby.query(`select next_value, timeline from counters where name = 'tracking'`)
  assert.deepEqual(rows[0], { next_value: String(next.end), timeline: '2' })
})
