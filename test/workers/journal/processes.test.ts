import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Queue } from 'bullmq'
import t from 'tap'
import { QUEUE, jobIdFor } from '../../../src/queues.ts'
import { JournalPositions, journalKeys } from '../../../src/journal-state.ts'
import { fakeJournal, type FakeJournal } from '../../helpers/fake-journal.ts'
import { REDIS_URL, eventually, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { destination, spawnRole, tempDir, wipe, type RoleProcess } from '../../helpers/index.ts'
import { queuesDrained } from '../harness.ts'
import { LEASE_TTL_MS } from '../../../workers/journal/index.ts'
import { DEFAULT_TIMING } from '../../../workers/journal/reader.ts'
import { SOURCE, journalFileConfig, lightroomEvent } from './support.ts'

import type { Test } from 'tap'

const SECRET = 'whsec_' + randomBytes(24).toString('base64')

/** `npm run worker` processes reading the fake journal and forwarding to `dest`. */
async function workerFleet (t: Test, fake: FakeJournal, destUrl: string) {
  const prefix = uniquePrefix()
  const path = join(await tempDir(t), 'gateway.config.json')
  await writeFile(path, JSON.stringify(journalFileConfig(fake, 'oldest', { destinations: [{ name: 'downstream', url: destUrl, secret: SECRET }] })))
  const env = { REDIS_URL, QUEUE_PREFIX: prefix, GATEWAY_CONFIG: path, DEDUP_WINDOW_SECONDS: '604800', JOB_BACKOFF_MS: '100' }
  const redis = testRedis(t, prefix)
  t.teardown(() => wipe(prefix))
  const all = Object.values(QUEUE).map(name => new Queue(name, { connection: redis, prefix }))
  t.teardown(() => Promise.all(all.map(q => q.close())))
  const start = async (extraEnv: Record<string, string> = {}) => {
    const worker = spawnRole(t, 'src/bin/worker.ts', { ...env, ...extraEnv })
    await worker.waitForLog(l => l.msg === 'workers started', 60_000)
    return worker
  }
  /** The process holding the source's lease, by the pid in its token. */
  const holder = async (workers: RoleProcess[]) => {
    const token = await redis.get(journalKeys(prefix, SOURCE).lease)
    return workers.find(w => token !== null && token.startsWith(`${w.child.pid}:`))
  }
  /**
   * A SIGKILLed holder's lease lapses by its TTL, and a waiting process takes
   * it at its next try. Checks that both together stay within the 15 s bound,
   * then lets the lease lapse now rather than waiting it out in real time.
   */
  const lapseLease = async (t: Test) => {
    const key = journalKeys(prefix, SOURCE).lease
    const ttl = await redis.pttl(key)
    const longestTry = DEFAULT_TIMING.acquireMs * 1.25
    t.ok(ttl > 0 && ttl <= LEASE_TTL_MS && LEASE_TTL_MS + longestTry <= 15_000,
      `the dead holder's lease lapses by itself (${ttl} ms left of ${LEASE_TTL_MS}) and the next try comes within ${longestTry} ms: a hand-over within 15 s`)
    await redis.pexpire(key, 1)
  }
  const status = () => new JournalPositions(redis, prefix).status(SOURCE)
  return { prefix, env, redis, start, holder, lapseLease, status, drained: () => queuesDrained(all) }
}

t.test('SIGKILL of the reading worker mid-page: a new process resumes at the stored position; nothing lost, nothing forwarded twice', async t => {
  const fake = await fakeJournal(t, { pageSize: 5 })
  const dest = await destination(t, { secret: SECRET })
  const fleet = await workerFleet(t, fake, dest.url)
  const expected = Array.from({ length: 10 }, (_, i) => `kill-${i}`)
  const positions = expected.map(id => fake.publish(lightroomEvent(id)))
  // The second page is held: the process dies while it is being read.
  const held = fake.holdNext(r => r.query.get('since') === positions[4])
  const first = await fleet.start()
  await held.arrived
  await eventually(async () => dest.received.length >= 5 && await fleet.drained(), 30_000)
  const seen = fake.requests.length
  first.child.kill('SIGKILL')
  await first.exited
  await fleet.lapseLease(t)
  held.release()

  await fleet.start()
  await eventually(async () => dest.received.length >= 10 && await fleet.drained(), 60_000)
  t.equal(fake.requests[seen]!.query.get('since'), positions[4], 'the new process starts with since=<last stored position>')
  t.equal(dest.received.length, 10, 'exactly 10 POSTs')
  t.same(dest.ids().sort(), expected.map(id => `${SOURCE}/${id}`).sort(), 'every event once')
})

t.test('SIGKILL after a page is queued and before its position is stored: the page is read again, dedup absorbs it, each event forwarded once', async t => {
  const fake = await fakeJournal(t, { pageSize: 5 })
  const dest = await destination(t, { secret: SECRET })
  const fleet = await workerFleet(t, fake, dest.url)
  const expected = Array.from({ length: 5 }, (_, i) => `window-${i}`)
  for (const id of expected) fake.publish(lightroomEvent(id))
  // A job the dying process moved to active in its last moments is recovered as stalled, soon.
  const stalls = { WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' }
  const crashing = spawnRole(t, 'src/bin/worker.ts', { ...fleet.env, ...stalls, NODE_OPTIONS: `--import=${pathToFileURL(join(import.meta.dirname, 'crash-before-commit.ts')).href}` })
  t.equal(await crashing.exited, null, 'killed at its first position write')
  t.equal(crashing.child.signalCode, 'SIGKILL')
  const before = await fleet.status()
  t.equal(before.position, null, 'no position stored')
  t.equal(await fleet.redis.exists(`${fleet.prefix}:${QUEUE.events}:${jobIdFor(`${SOURCE}/${expected[0]}`)}`), 1, 'but the page\'s events were queued')
  await fleet.lapseLease(t)
  const seen = fake.requests.length

  await fleet.start(stalls)
  await eventually(async () => dest.received.length >= 5 && await fleet.drained(), 60_000)
  t.equal(fake.requests[seen]!.query.toString(), '', 'the new process reads the same page again (oldest, nothing stored)')
  const after = await fleet.status()
  t.equal(after.duplicate, 5, 'the re-read page: all duplicates')
  t.equal(dest.received.length, 5, 'exactly 5 POSTs')
  t.same(dest.ids().sort(), expected.map(id => `${SOURCE}/${id}`).sort(), 'every event once')
})

for (const count of [2, 3]) {
  t.test(`${count} worker processes: one reader at a time; killing the reader's process hands over`, async t => {
    const fake = await fakeJournal(t, { pageSize: 2 })
    const dest = await destination(t, { secret: SECRET })
    const fleet = await workerFleet(t, fake, dest.url)
    for (let i = 0; i < 6; i++) fake.publish(lightroomEvent(`p${count}-${i}`))
    const workers = await Promise.all(Array.from({ length: count }, () => fleet.start()))
    await eventually(async () => dest.received.length >= 6 && await fleet.drained(), 60_000)

    const reader = await fleet.holder(workers)
    t.ok(reader, 'one of the processes holds the lease')
    reader!.child.kill('SIGKILL')
    await reader!.exited
    await fleet.lapseLease(t)
    const survivors = workers.filter(w => w !== reader)

    for (let i = 6; i < 8; i++) fake.publish(lightroomEvent(`p${count}-${i}`))
    await eventually(async () => dest.received.length >= 8 && await fleet.drained(), 60_000)
    const next = await fleet.holder(survivors)
    t.ok(next, 'a surviving process took the lease over')
    t.equal(fake.maxConcurrent, 1, `the journal never saw two requests at once (${fake.requests.length} requests)`)
    t.equal((await fleet.status()).duplicate, 0, 'no page read twice by two readers')
    t.equal(dest.received.length, 8, 'exactly 8 POSTs')
    t.equal(new Set(dest.ids()).size, 8, 'no event forwarded twice')
  })
}
