import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Recorder } from '../../src/tracking/recorder.js'
import { createTrackingRepository, type WriteEntry } from '../../src/tracking/repository.js'
import { migratedDatabase, storedNumbers, testIssued } from '../helpers/build.js'

async function setup(t: Parameters<typeof migratedDatabase>[0], maxBatch = 1_000) {
  const db = await migratedDatabase(t)
  const repository = createTrackingRepository(db)
  const commits: number[] = []
  const recorder = new Recorder<WriteEntry>({
    write: (entries) => repository.writeBatch(entries),
    sizeOf: (entry) => entry.issued.sequences.length,
    maxBatch,
    onCommit: (rows) => commits.push(rows),
  })
  const count = () => storedNumbers(db)
  return { db, recorder, commits, count }
}

test('concurrent writes are grouped into few transactions, each answered after its commit', async (t) => {
  const { recorder, commits, count } = await setup(t)
  await Promise.all(Array.from({ length: 500 }, (_, i) => recorder.write({ issued: testIssued(i) })))
  assert.equal(await count(), 500)
  assert.ok(commits.length < 10, `500 writes took ${commits.length} transactions`)
  assert.equal(
    commits.reduce((a, b) => a + b, 0),
    500,
  )
})

test('a failed commit rejects every write in it and stores none of them', async (t) => {
  const { recorder, count } = await setup(t)
  await recorder.write({ issued: testIssued(7) })
  // Sequence 7 again violates the primary key: the whole transaction must roll back.
  const results = await Promise.allSettled([
    recorder.write({ issued: testIssued(1) }),
    recorder.write({ issued: testIssued(7) }),
    recorder.write({ issued: testIssued(2) }),
  ])
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected', 'rejected'],
  )
  assert.equal(await count(), 1, 'nothing of the failed transaction is stored')
  // The recorder keeps working after a failure.
  await recorder.write({ issued: testIssued(3) })
  assert.equal(await count(), 2)
})

test('a transaction holds at most maxBatch rows, and an entry is never split', async (t) => {
  const { recorder, commits, count } = await setup(t, 100)
  await Promise.all([
    ...Array.from({ length: 150 }, (_, i) => recorder.write({ issued: testIssued(i) })),
    recorder.write({ issued: testIssued(10_000, 250) }),
  ])
  assert.equal(await count(), 400)
  assert.ok(commits.includes(250), 'the 250-row entry was committed whole')
  assert.ok(commits.filter((rows) => rows !== 250).every((rows) => rows <= 100))
})

test('flush() waits for everything queued', async (t) => {
  const { recorder, count } = await setup(t)
  const writes = Array.from({ length: 50 }, (_, i) => recorder.write({ issued: testIssued(i) }))
  await recorder.flush()
  assert.equal(await count(), 50)
  await Promise.all(writes)
})

/**
 * A recorder of up to 10 rows per transaction that writes through `repository`, each transaction
 * first held by `hold`; `inFlight()` counts the transactions under way, `most()` the most at once.
 */
function heldRecorder(
  repository: ReturnType<typeof createTrackingRepository>,
  hold: () => Promise<void>,
  options: { concurrency: number; steady?: number },
) {
  let inFlight = 0
  let most = 0
  const recorder = new Recorder<WriteEntry>({
    write: async (entries) => {
      most = Math.max(most, ++inFlight)
      try {
        await hold()
        return await repository.writeBatch(entries)
      } finally {
        inFlight--
      }
    },
    sizeOf: (entry) => entry.issued.sequences.length,
    maxBatch: 10,
    ...options,
  })
  return { recorder, inFlight: () => inFlight, most: () => most }
}

test('with concurrency, several transactions are in flight at once and every write still lands', async (t) => {
  const db = await migratedDatabase(t)
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 5))
  const { recorder, most } = heldRecorder(createTrackingRepository(db), pause, { concurrency: 3 })
  await Promise.all(Array.from({ length: 200 }, (_, i) => recorder.write({ issued: testIssued(i) })))
  assert.equal(most(), 3, 'up to three commits overlapped, never more')
  const rows = await db.selectFrom('tracking_numbers').select('sequence').execute()
  assert.equal(rows.length, 200)
})

test('past `steady` in flight, another transaction starts only once a full one is queued', async (t) => {
  const db = await migratedDatabase(t)
  const gates: Array<() => void> = []
  const gate = () => new Promise<void>((resolve) => gates.push(resolve))
  const held = heldRecorder(createTrackingRepository(db), gate, { concurrency: 4, steady: 2 })
  const { recorder, inFlight } = held
  const tick = () => new Promise((resolve) => setImmediate(resolve))
  const written: Promise<boolean>[] = []
  // One at a time: the first two start at once, the next nine wait (fewer than maxBatch rows).
  for (let i = 0; i < 11; i++) {
    written.push(recorder.write({ issued: testIssued(i) }))
    await tick()
  }
  assert.equal(inFlight(), 2, 'two in flight while less than a full transaction is queued')
  written.push(recorder.write({ issued: testIssued(11) }))
  await tick()
  assert.equal(inFlight(), 3, 'a full transaction queued starts a third')
  for (let i = 12; i < 32; i++) written.push(recorder.write({ issued: testIssued(i) }))
  await tick()
  assert.equal(inFlight(), 4, 'never more than `concurrency`')
  while (inFlight() > 0 || gates.length > 0) {
    for (const open of gates.splice(0)) open()
    await tick()
  }
  assert.deepEqual(await Promise.all(written), Array(32).fill(true))
  await recorder.flush()
  const rows = await db.selectFrom('tracking_numbers').select('sequence').execute()
  assert.equal(rows.length, 32)
})

test('the recorder tells of each commit (with when it began) and of each failed transaction once', async () => {
  const began: number[] = []
  const failures: unknown[] = []
  let fail = false
  const recorder = new Recorder<number>({
    write: async (entries) => {
      if (fail) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
      return entries.map(() => true)
    },
    sizeOf: () => 1,
    maxBatch: 100,
    onCommit: (_rows, _seconds, started) => began.push(started),
    onError: (error) => failures.push(error),
  })
  const before = performance.now()
  await Promise.all([recorder.write(1), recorder.write(2)])
  assert.equal(began.length, 1, 'one transaction')
  assert.ok((began[0] as number) >= before && (began[0] as number) <= performance.now())
  fail = true
  const results = await Promise.allSettled([recorder.write(3), recorder.write(4), recorder.write(5)])
  assert.ok(results.every((r) => r.status === 'rejected'))
  assert.equal(failures.length, 1, 'once per transaction, not per entry')
  assert.equal((failures[0] as { code: string }).code, 'SQLITE_FULL')
})

/**
 * A recorder of numbers (one row each; 1000 × n is an entry of n rows) whose every commit waits for
 * its gate; `batches` lists what each commit held, in the order they began.
 */
function gatheringRecorder(
  gatherMs: number,
  options: { maxBatch?: number; concurrency?: number; steady?: number; fail?: () => boolean } = {},
) {
  const batches: number[][] = []
  const gates: Array<() => void> = []
  const { fail, ...limits } = options
  const recorder = new Recorder<number>({
    write: async (entries) => {
      batches.push(entries)
      await new Promise<void>((resolve) => gates.push(resolve))
      if (fail?.()) throw new Error('the database is gone')
      return entries.map(() => true)
    },
    // An entry of n rows is the number n (each test writes small ones, or one large on purpose).
    sizeOf: (entry) => (entry >= 1_000 ? entry / 1_000 : 1),
    maxBatch: 100,
    concurrency: 1,
    gatherMs,
    ...limits,
  })
  const tick = () => new Promise((resolve) => setImmediate(resolve))
  // Opens the commit in flight and lets its callers be answered.
  const commitNow = async () => {
    for (const open of gates.splice(0)) open()
    for (let i = 0; i < 3; i++) await tick()
  }
  return { recorder, batches, tick, commitNow }
}

test('after a commit, the next waits (gatherMs) for as many rows as it held, and starts once they are queued', async () => {
  const { recorder, batches, tick, commitNow } = gatheringRecorder(60_000)
  const first = [1, 2, 3].map((n) => recorder.write(n))
  await tick()
  assert.deepEqual(batches, [[1, 2, 3]])
  const second = [recorder.write(4)]
  await commitNow()
  assert.deepEqual(await Promise.all(first), [true, true, true])
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(batches.length, 1, 'one row queued, three committed last: the next commit waits')
  second.push(recorder.write(5))
  await tick()
  assert.equal(batches.length, 1, 'two queued: still waiting')
  second.push(recorder.write(6))
  await tick()
  assert.deepEqual(batches[1], [4, 5, 6], 'three queued: it starts at once, a minute before its time is up')
  await commitNow()
  assert.deepEqual(await Promise.all(second), [true, true, true])
})

test('the wait ends after gatherMs with what is queued, and none starts for a write after an idle commit', async () => {
  const { recorder, batches, tick, commitNow } = gatheringRecorder(30)
  const first = [1, 2, 3].map((n) => recorder.write(n))
  await tick()
  const late = recorder.write(4)
  await commitNow()
  await Promise.all(first)
  const waiting = performance.now()
  while (batches.length === 1) await new Promise((resolve) => setTimeout(resolve, 2))
  const waited = performance.now() - waiting
  assert.deepEqual(batches[1], [4])
  assert.ok(waited >= 25 && waited < 1_000, `started after ${waited.toFixed(1)} ms, not about 30`)
  await commitNow()
  assert.equal(await late, true)
  // Nothing queued when that commit ended: a write now goes at once, as without gatherMs.
  const alone = recorder.write(5)
  await tick()
  assert.deepEqual(batches[2], [5])
  await commitNow()
  assert.equal(await alone, true)
})

test('flush() ends a wait at once: closing never waits for more writes', async () => {
  const { recorder, batches, tick, commitNow } = gatheringRecorder(60_000)
  const first = [1, 2, 3].map((n) => recorder.write(n))
  await tick()
  const late = recorder.write(4)
  await commitNow()
  await Promise.all(first)
  const flushed = recorder.flush()
  await tick()
  assert.deepEqual(batches[1], [4], 'the waiting commit started')
  await commitNow()
  await flushed
  assert.equal(await late, true)
})

test('a wait after an entry larger than maxBatch is for a full commit at most, and ends with the commit that takes it', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
  const before = timers()
  const { recorder, batches, tick, commitNow } = gatheringRecorder(60_000, {
    maxBatch: 5,
    concurrency: 5,
    steady: 1,
  })
  const large = recorder.write(8_000) // 8 rows: a commit of its own, never split
  await tick()
  const queued = [recorder.write(1)]
  await commitNow()
  assert.equal(await large, true)
  assert.equal(batches.length, 1, 'one row queued after a commit of 8: the next waits')
  for (let n = 2; n <= 5; n++) queued.push(recorder.write(n))
  await tick()
  assert.deepEqual(
    batches[1],
    [1, 2, 3, 4, 5],
    'a full commit (maxBatch rows) starts: 8 are never waited for',
  )
  await commitNow()
  assert.deepEqual(await Promise.all(queued), [true, true, true, true, true])
  await recorder.flush()
  assert.equal(timers(), before, 'no wait is left pending once everything is committed')
})

test('after a failed commit nothing waits: what is queued is tried at once', async () => {
  let failing = true
  const { recorder, batches, tick, commitNow } = gatheringRecorder(60_000, { fail: () => failing })
  const first = Promise.allSettled([1, 2, 3].map((n) => recorder.write(n)))
  await tick()
  const late = recorder.write(4)
  await commitNow()
  assert.ok((await first).every((r) => r.status === 'rejected'))
  failing = false
  await tick()
  assert.deepEqual(batches[1], [4], 'started at once, not after the wait')
  await commitNow()
  assert.equal(await late, true)
})
