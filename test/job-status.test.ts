import t from 'tap'
import { jobIdFor } from '../src/queues.ts'
import { JobStatusStore } from '../src/job-status.ts'
import { testRedis, uniquePrefix } from './helpers/index.ts'

const entry = (status: string, eventId: string, time: string) => ({ status, eventId, source: 'lr', time })

t.test('a late running never overwrites a terminal status', async t => {
  const prefix = uniquePrefix()
  const store = new JobStatusStore(testRedis(t, prefix), prefix)
  t.equal(await store.record('job-1', entry('succeeded', 'lr/e2', '2026-01-01T00:00:02.000Z')), 'changed')
  t.equal(await store.record('job-1', entry('running', 'lr/e1', '2026-01-01T00:00:01.000Z')), 'history-only')
  // Even a running stamped later than the terminal status does not reopen the job.
  t.equal(await store.record('job-1', entry('running', 'lr/e3', '2026-01-01T00:00:09.000Z')), 'history-only')
  const doc = await store.get('job-1')
  t.equal(doc?.status, 'succeeded')
  t.same(doc?.history.map(h => h.eventId), ['lr/e2', 'lr/e1', 'lr/e3'])
})

t.test('non-terminal statuses follow event time; unknown never replaces a known status', async t => {
  const prefix = uniquePrefix()
  const store = new JobStatusStore(testRedis(t, prefix), prefix)
  await store.record('j', entry('running', 'a', '2026-01-01T00:00:05.000Z'))
  t.equal(await store.record('j', entry('pending', 'b', '2026-01-01T00:00:01.000Z')), 'history-only')
  t.equal(await store.record('j', entry('unknown', 'c', '2026-01-01T00:00:09.000Z')), 'history-only')
  t.equal((await store.get('j'))?.status, 'running')
  t.equal(await store.record('j', entry('failed', 'd', '2026-01-01T00:00:00.000Z')), 'changed', 'terminal beats non-terminal whatever its time')
  t.equal((await store.get('j'))?.status, 'failed')
})

t.test('the same event twice is one history entry', async t => {
  const prefix = uniquePrefix()
  const store = new JobStatusStore(testRedis(t, prefix), prefix)
  t.equal(await store.record('j', entry('running', 'a', '2026-01-01T00:00:05.000Z')), 'changed')
  t.equal(await store.record('j', entry('running', 'a', '2026-01-01T00:00:05.000Z')), 'duplicate')
  t.equal((await store.get('j'))?.history.length, 1)
})

t.test('history is bounded and every key expires', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const store = new JobStatusStore(redis, prefix, { maxHistory: 3, ttlSeconds: 1000 })
  for (let i = 0; i < 5; i++) await store.record('j', entry('running', `e${i}`, `2026-01-01T00:00:0${i}.000Z`))
  await store.recordOutput('j', { url: 'https://x/y', file: '/tmp/f', bytes: 1, at: '2026-01-01T00:00:00.000Z' })
  const doc = await store.get('j')
  t.same(doc?.history.map(h => h.eventId), ['e2', 'e3', 'e4'])
  t.equal(await store.record('j', entry('running', 'e0', '2026-01-01T00:00:09.000Z')), 'duplicate', 'an event trimmed from the history is still known')
  t.same((await store.get('j'))?.history.map(h => h.eventId), ['e2', 'e3', 'e4'])
  // The status hash, the history and the outputs.
  const keys = await redis.keys(`${prefix}:job:${jobIdFor('j')}*`)
  t.equal(keys.length, 3)
  for (const key of keys) {
    const ttl = await redis.ttl(key)
    t.ok(ttl > 0 && ttl <= 1000, `${key} expires (ttl ${ttl})`)
  }
})

t.test('job ids that look like key suffixes stay separate jobs', async t => {
  const prefix = uniquePrefix()
  const store = new JobStatusStore(testRedis(t, prefix), prefix)
  await store.record('X', entry('running', 'a', '2026-01-01T00:00:00.000Z'))
  await store.record('X:history', entry('succeeded', 'b', '2026-01-01T00:00:01.000Z'))
  t.equal((await store.get('X'))?.status, 'running')
  t.equal((await store.get('X:history'))?.status, 'succeeded')
  t.equal((await store.get('X'))?.history.length, 1)
})

t.test('outputs are recorded only on a known job, one entry per url', async t => {
  const prefix = uniquePrefix()
  const store = new JobStatusStore(testRedis(t, prefix), prefix)
  t.equal(await store.recordOutput('nobody', { url: 'https://x/y', at: 'now' }), false)
  t.equal(await store.get('nobody'), undefined)
  await store.record('j', entry('succeeded', 'a', '2026-01-01T00:00:05.000Z'))
  await store.recordOutput('j', { url: 'https://x/y', error: 'answered 503', at: '1' })
  await store.recordOutput('j', { url: 'https://x/y', file: '/f', bytes: 3, at: '2' })
  t.same((await store.get('j'))?.outputs, [{ url: 'https://x/y', file: '/f', bytes: 3, at: '2' }])
})

t.test('concurrent writers on two connections: the terminal status survives any interleaving', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const other = redis.duplicate()
  t.teardown(() => other.quit())
  const stores = [new JobStatusStore(redis, prefix), new JobStatusStore(other, prefix)]
  const writes = []
  for (let i = 0; i < 50; i++) {
    const status = i === 17 ? 'succeeded' : 'running'
    writes.push(stores[i % 2]!.record('j', entry(status, `e${i}`, `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`)))
  }
  await Promise.all(writes)
  const doc = await stores[0]!.get('j')
  t.equal(doc?.status, 'succeeded')
  t.equal(doc?.history.length, 50)
})
