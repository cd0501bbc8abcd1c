import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { GatewayError } from '../../src/errors.ts'
import type { Envelope } from '../../src/ingest/envelope.ts'
import { EventQueue } from '../../src/ingest/event-queue.ts'
import { jobIdFor } from '../../src/queues.ts'
import { createEdgeRedis } from '../../src/redis.ts'
import { Redis } from 'ioredis'
import { eventually, privateRedis, REDIS_URL, testRedis, uniquePrefix, minimalEnvelope } from '../helpers/index.ts'

// The edge coalesces the deliveries of one event-loop turn into one MULTI.
// These tests start many deliveries in the same turn and check that each one
// is answered on its own events only.

const envelope = (key: string): Envelope => minimalEnvelope('bench', key)

async function setup (t: Test) {
  const prefix = uniquePrefix()
  const check = testRedis(t, prefix)
  const connection = createEdgeRedis(REDIS_URL)
  const queue = new EventQueue({ connection, prefix, dedupWindowMs: 60_000, ackTimeoutMs: 2000, attempts: 3, backoffMs: 100 })
  t.teardown(async () => {
    await queue.close()
    await connection.quit()
  })
  await new Promise(resolve => connection.once('ready', resolve))
  const jobExists = async (e: Envelope) => await check.exists(`${prefix}:events:${jobIdFor(e.id)}`) === 1
  return { prefix, check, queue, jobExists }
}

t.test('deliveries started in one turn are each acked with all their events queued', async t => {
  const { prefix, check, queue, jobExists } = await setup(t)
  const singles = Array.from({ length: 30 }, () => [envelope(randomUUID())])
  const batch = Array.from({ length: 20 }, () => envelope(randomUUID()))
  const duplicate = envelope(randomUUID())
  const deliveries = [...singles, batch, [duplicate], [duplicate]]

  const outcomes = await Promise.all(deliveries.map(async events => {
    await queue.add('bench', events)
    // Resolved: every event of this delivery must already be in Redis.
    return (await Promise.all(events.map(jobExists))).every(Boolean)
  }))
  t.same(outcomes, deliveries.map(() => true), 'each delivery resolved only with its events queued')
  t.equal(await check.llen(`${prefix}:events:wait`), 30 + 20 + 1, 'one job per event id; the duplicate in the same turn is deduplicated')
})

t.test('more events than one transaction carries still all land', async t => {
  const { prefix, check, queue } = await setup(t)
  const batches = Array.from({ length: 15 }, () => Array.from({ length: 20 }, () => envelope(randomUUID())))
  await Promise.all(batches.map(b => queue.add('bench', b)))
  t.equal(await check.llen(`${prefix}:events:wait`), 300)
})

t.test('a command that fails in the shared transaction fails only its own delivery', async t => {
  const { check, prefix, queue, jobExists } = await setup(t)
  const poisoned = envelope(randomUUID())
  // A dedup key of the wrong type makes BullMQ's insert script fail for this one event.
  await check.rpush(`${prefix}:events:de:${jobIdFor(poisoned.id)}`, 'not a dedup entry')
  const before = envelope(randomUUID())
  const after = envelope(randomUUID())

  const [a, b, c] = await Promise.allSettled([queue.add('bench', [before]), queue.add('bench', [envelope(randomUUID()), poisoned]), queue.add('bench', [after])])
  t.equal(a.status, 'fulfilled', 'the delivery before it is acked')
  t.equal(c.status, 'fulfilled', 'the delivery after it is acked')
  t.equal(b.status, 'rejected', 'the delivery holding the failing event is not acked')
  const err = (b as PromiseRejectedResult).reason as GatewayError
  t.ok(err instanceof GatewayError)
  t.equal(err.statusCode, 503)
  t.equal(err.code, 'AEG_QUEUE_UNAVAILABLE')
  t.ok(await jobExists(before))
  t.ok(await jobExists(after))
  t.notOk(await jobExists(poisoned))
})

t.test('a stalled Redis: every delivery answered 503 in time, the backlog bounded, new deliveries not stuck behind answered ones', async t => {
  const server = await privateRedis(t)
  const prefix = uniquePrefix()
  const connection = createEdgeRedis(server.url)
  const admin = new Redis(server.url)
  const queue = new EventQueue({ connection, prefix, dedupWindowMs: 60_000, ackTimeoutMs: 300, attempts: 3, backoffMs: 100 })
  t.teardown(async () => {
    await queue.close()
    connection.disconnect()
    admin.disconnect()
  })
  await new Promise(resolve => connection.once('ready', resolve))
  await queue.add('bench', [envelope('warm-up')])

  await admin.call('CLIENT', 'PAUSE', '1500', 'ALL')
  // Were the ack budget not enforced, these would all succeed once the pause ends.
  const outcomes = await Promise.all(Array.from({ length: 4000 }, (_, i) =>
    queue.add('bench', [envelope(`stalled-${i}`)]).then(() => ({ ok: true, cause: '' }), (err: Error) => ({ ok: false, cause: (err.cause as Error | undefined)?.message ?? '' }))))
  t.equal(outcomes.filter(o => o.ok).length, 0, 'nothing acknowledged while Redis does not answer')
  const refusedByCap = outcomes.filter(o => o.cause.startsWith('enqueue backlog is full')).length
  // The backlog holds at most 2000 waiting jobs (plus one transaction in flight): the rest is refused without waiting.
  t.ok(refusedByCap >= 4000 - 2000 - 200, `past the backlog cap deliveries are refused (${refusedByCap} of 4000)`)

  // Once Redis answers again, a new delivery goes through within its 300 ms
  // budget: the groups of deliveries already answered are dropped, not written
  // first (were they written first, it would time out behind them).
  await eventually(() => queue.add('bench', [envelope(`after-${randomUUID()}`)]).then(() => true, () => false), 10_000, 50)
  const keys = await admin.keys(`${prefix}:events:*`)
  const jobs = keys.filter(k => /:events:[A-Za-z0-9_-]{32}$/.test(k)).length
  t.ok(jobs <= 1 + 2 * 200 + 10, `at most the in-flight transaction of answered deliveries landed (${jobs} jobs)`)
})
