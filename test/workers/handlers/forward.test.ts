import t from 'tap'
import { QUEUE, jobIdFor } from '../../../src/queues.ts'
import { forwardedKey, standardWebhookSignature } from '../../../workers/delivery.ts'
import { destination, eventually, httpServer, jobsCompleted, Latch, testConfig, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { eventQueue, inspectQueue, lightroomEnvelope, startTestWorkers } from '../harness.ts'

const SOURCES = [{ name: 'lightroom', kind: 'adobe-io-events' as const, verify: 'none' as const }]
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

/** One destination; inline forwarding off, so every delivery is a forward job (the inline path: events.test.ts). */
function configFor (prefix: string, url: string, secret: string, env: Record<string, string> = {}, timeoutMs?: number) {
  return testConfig({
    sources: SOURCES,
    destinations: [{ name: 'orders', url, secret, ...(timeoutMs !== undefined && { timeoutMs }) }]
  }, { QUEUE_PREFIX: prefix, JOB_BACKOFF_MS: '10', JOB_ATTEMPTS: '5', FORWARD_INLINE: 'off', ...env })
}

/**
 * Workers against a destination URL and one Lightroom event on the events
 * queue; `settles(state)` waits for its forward job to end in that state.
 */
async function forwardOne (t: Parameters<typeof testRedis>[0], url: string, n: number, env: Record<string, string> = {}, timeoutMs?: number) {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const config = configFor(prefix, url, WHSEC, env, timeoutMs)
  await startTestWorkers(t, config)
  const event = lightroomEnvelope(`e-${n}`, `job-${n}`, 'succeeded')
  await (await eventQueue(t, config)).add('lightroom', [event])
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  const jobId = jobIdFor(event.id, 'orders')
  const settles = async (state: 'completed' | 'failed') => {
    await eventually(async () => await forward.getJobState(jobId) === state)
    return (await forward.getJob(jobId))!
  }
  return { prefix, redis, event, forward, jobId, settles }
}

t.test('Standard Webhooks signature: whsec_ secrets are base64 key bytes, others UTF-8', async t => {
  // Test vector of the Standard Webhooks reference libraries.
  t.equal(standardWebhookSignature(WHSEC, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  t.not(standardWebhookSignature('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
})

for (const secret of [WHSEC, 'a plain shared secret']) {
  t.test(`posts the envelope signed (${secret.startsWith('whsec_') ? 'whsec_' : 'plain'} secret)`, async t => {
    const prefix = uniquePrefix()
    const redis = testRedis(t, prefix)
    const dest = await destination(t, { secret })
    const config = configFor(prefix, `${dest.url}/hooks`, secret)
    await startTestWorkers(t, config)
    const event = lightroomEnvelope('e-1', 'job-1', 'succeeded')
    await (await eventQueue(t, config)).add('lightroom', [event])
    await dest.arrivals.reach(1)
    const [got] = dest.received
    t.equal(got!.headers['webhook-id'], 'lightroom/e-1')
    t.equal(got!.headers['content-type'], 'application/cloudevents+json')
    t.ok(got!.signed, 'signature verifies with the destination secret')
    t.same(JSON.parse(got!.body), event)
    // The delivery's key holds the destination's 2xx status once done.
    await eventually(async () => /^2\d\d$/.test(await redis.get(forwardedKey(prefix, event.id, 'orders')) ?? ''))
  })
}

t.test('500, 500, 200: delivered on the third attempt, same id every time', async t => {
  const dest = await destination(t, { secret: WHSEC, respond: n => n < 3 ? [500, 'try later'] : 200 })
  const { event, settles } = await forwardOne(t, dest.url, 2)
  const job = await settles('completed')
  t.equal(dest.received.length, 3)
  t.same(dest.ids(), [event.id, event.id, event.id])
  t.ok(dest.received.every(r => r.signed))
  t.equal(job.attemptsMade, 3)
})

t.test('400: exactly one attempt, job failed with the status and body in its reason', async t => {
  const dest = await destination(t, { secret: WHSEC, respond: () => [400, 'unknown order   reference'] })
  const { prefix, redis, event, settles } = await forwardOne(t, dest.url, 3)
  const job = await settles('failed')
  t.equal(job?.attemptsMade, 1)
  t.match(job?.failedReason, /answered 400: unknown order reference/)
  t.equal(dest.received.length, 1)
  t.match(await redis.get(forwardedKey(prefix, event.id, 'orders')), 'sending:1', 'not recorded as delivered (only marked as sent once)')
})

t.test('429 and a timeout are retried', async t => {
  const dest = await destination(t, { secret: WHSEC, respond: n => n === 1 ? 429 : n === 2 ? 'hang' : 200 })
  const { settles } = await forwardOne(t, dest.url, 4, {}, 300)
  const job = await settles('completed')
  t.equal(dest.received.length, 3)
  t.equal(job?.attemptsMade, 3)
})

t.test('connection refused is retried, then dead-lettered once the attempts are used', async t => {
  // Port of a server that was closed: nothing listens there.
  const gone = await destination(t, { secret: WHSEC })
  await new Promise<void>(resolve => gone.server.close(() => resolve()))
  const { settles } = await forwardOne(t, gone.url, 5, { JOB_ATTEMPTS: '2' })
  const job = await settles('failed')
  t.equal(job?.attemptsMade, 2, 'every attempt was used')
  t.match(job?.failedReason, /connection failed: ECONNREFUSED/)
})

t.test('a redelivered forward job after a recorded delivery does not POST again', async t => {
  const dest = await destination(t, { secret: WHSEC })
  const { event, forward, jobId, settles } = await forwardOne(t, dest.url, 6)
  await settles('completed')
  // Retention removed the completed job; the same forward is queued again.
  await forward.remove(jobId)
  await forward.add('orders', { envelope: event, destination: 'orders' }, { jobId })
  await jobsCompleted(forward, [jobId])
  t.same((await forward.getJob(jobId))?.returnvalue, { delivered: 'earlier' })
  t.equal(dest.received.length, 1)
})

t.test('close() waits for the forward in flight', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  let release: () => void = () => {}
  const released = new Promise<void>(resolve => { release = resolve })
  const arrived = new Latch()
  const dest = await httpServer(t, (_req, res) => {
    arrived.arrive()
    void released.then(() => res.writeHead(200).end())
  })
  const config = configFor(prefix, dest.url, WHSEC)
  const workers = await startTestWorkers(t, config)
  const event = lightroomEnvelope('e-7', 'job-7', 'succeeded')
  await (await eventQueue(t, config)).add('lightroom', [event])
  await arrived.reach(1)
  const closed = workers.close()
  setTimeout(release, 200)
  await closed
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  t.equal(await forward.getJobState(jobIdFor(event.id, 'orders')), 'completed', 'the in-flight job finished before close resolved')
})

t.test('forwards reuse one kept-alive connection; close() ends it', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { secret: WHSEC })
  const sockets: import('node:net').Socket[] = []
  dest.server.on('connection', socket => sockets.push(socket))
  const config = configFor(prefix, dest.url, WHSEC)
  const workers = await startTestWorkers(t, config)
  const queue = await eventQueue(t, config)
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  for (const key of ['e-8', 'e-9', 'e-10']) {
    const event = lightroomEnvelope(key, `job-${key}`, 'succeeded')
    await queue.add('lightroom', [event])
    await jobsCompleted(forward, [jobIdFor(event.id, 'orders')])
  }
  t.equal(dest.received.length, 3)
  t.equal(sockets.length, 1, 'one connection carried the three forwards')
  await workers.close()
  await eventually(() => sockets[0]!.destroyed)
  t.pass('the pooled connection was closed with the workers')
})

t.test('a 4xx whose body never ends still fails the job once, with what arrived', async t => {
  const dest = await httpServer(t, (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.write('no such hook')
  })
  const { settles } = await forwardOne(t, dest.url, 11, {}, 300)
  const job = await settles('failed')
  t.equal(job?.attemptsMade, 1)
  t.match(job?.failedReason, /answered 404: no such hook/)
})
