import { randomBytes } from 'node:crypto'
import { Queue } from 'bullmq'
import t from 'tap'
import { QUEUE } from '../../../src/queues.ts'
import { fakeJournal } from '../../helpers/fake-journal.ts'
import { buildTestApp, eventually, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { destination } from '../../helpers/index.ts'
import { queuesDrained, startTestWorkers } from '../harness.ts'
import { SOURCE, journalConfig, lightroomEvent, statusWhen } from './support.ts'

const SECRET = 'whsec_' + randomBytes(24).toString('base64')

function queues (t: { teardown (fn: () => unknown): void }, prefix: string, connection: ReturnType<typeof testRedis>) {
  const all = Object.values(QUEUE).map(name => new Queue(name, { connection, prefix }))
  t.teardown(() => Promise.all(all.map(q => q.close())))
  return all
}

t.test('webhook-only, journal-only and both-ways events: each forwarded exactly once', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t)
  const dest = await destination(t, { secret: SECRET })
  const config = journalConfig(fake, prefix, 'oldest', { destinations: [{ name: 'downstream', url: dest.url, secret: SECRET }] })
  const app = await buildTestApp(t, config)
  const post = async (body: unknown) => (await app.inject({ method: 'POST', url: `/webhooks/${SOURCE}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })).statusCode

  t.equal(await post(lightroomEvent('webhook-only')), 200)
  const both = lightroomEvent('both-ways')
  t.equal(await post(both), 200)
  fake.publish(both)
  fake.publish(lightroomEvent('journal-only'))

  await startTestWorkers(t, config)
  const status = await statusWhen(config, redis, s => s.queued + s.duplicate === 2 && s.caughtUpAt !== null)
  t.equal(status.queued, 1, 'journal-only queued by the reader')
  t.equal(status.duplicate, 1, 'both-ways absorbed by dedup')
  const all = queues(t, prefix, redis)
  await eventually(async () => dest.received.length >= 3 && await queuesDrained(all), 20_000)
  t.same(dest.ids().sort(), ['both-ways', 'journal-only', 'webhook-only'].map(id => `${SOURCE}/${id}`), 'each id forwarded once')
  t.ok(dest.received.every(r => r.signed))
})

t.test('50 events published while no gateway runs: all forwarded once when workers start', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { pageSize: 10 })
  const dest = await destination(t, { secret: SECRET })
  const config = journalConfig(fake, prefix, 'oldest', { destinations: [{ name: 'downstream', url: dest.url, secret: SECRET }] })
  const expected = Array.from({ length: 50 }, (_, i) => `outage-${i}`)
  for (const id of expected) fake.publish(lightroomEvent(id))

  await startTestWorkers(t, config)
  await statusWhen(config, redis, s => s.queued === 50, 30_000)
  const all = queues(t, prefix, redis)
  await eventually(async () => dest.received.length >= 50 && await queuesDrained(all), 60_000)
  t.equal(dest.received.length, 50, 'exactly 50 POSTs')
  t.same(dest.ids().sort(), expected.map(id => `${SOURCE}/${id}`).sort(), 'every event once')
})
