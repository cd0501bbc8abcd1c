import t from 'tap'
import { QUEUE, jobIdFor } from '../../../src/queues.ts'
import { JobStatusStore } from '../../../src/job-status.ts'
import { destinationMatches } from '../../../workers/handlers/events.ts'
import { type Answer, buildTestApp, destination, edgeRedis, eventually, jobsCompleted, testConfig, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { envelope, eventQueue, inspectQueue, lightroomEnvelope, startTestWorkers } from '../harness.ts'

const SECRET = 'a shared secret for tests'
const SOURCES = [
  { name: 'lightroom', kind: 'adobe-io-events' as const, verify: 'none' as const },
  { name: 'pdf', kind: 'pdf-services' as const, auth: { type: 'none' as const } },
  { name: 'alm', kind: 'learning-manager' as const, auth: { type: 'none' as const } }
]

t.test('destination matching by source, status and type; no match block = every event', async t => {
  const done = lightroomEnvelope('e', 'j', 'succeeded')
  const running = lightroomEnvelope('e2', 'j', 'running')
  t.ok(destinationMatches({ name: 'all', url: 'http://x', secret: SECRET }, 'lightroom', running))
  t.ok(destinationMatches({ name: 'd', url: 'http://x', secret: SECRET, match: { source: ['lightroom'], status: ['succeeded'] } }, 'lightroom', done))
  t.notOk(destinationMatches({ name: 'd', url: 'http://x', secret: SECRET, match: { source: ['lightroom'], status: ['succeeded'] } }, 'lightroom', running))
  t.notOk(destinationMatches({ name: 'd', url: 'http://x', secret: SECRET, match: { source: ['pdf'] } }, 'lightroom', done))
  t.ok(destinationMatches({ name: 'd', url: 'http://x', secret: SECRET, match: { type: ['com.adobe.lightroom.job-status'] } }, 'lightroom', done))
  const noStatus = envelope('alm', 'learning-manager', { key: 'k', type: 'com.adobe.learning-manager.x', data: {} })
  t.notOk(destinationMatches({ name: 'd', url: 'http://x', secret: SECRET, match: { status: ['succeeded'] } }, 'alm', noStatus), 'a status filter needs a status')
  t.ok(destinationMatches({ name: 'd', url: 'http://x', secret: SECRET, match: { source: ['alm'] } }, 'alm', noStatus), 'the source name given is the one matched')
})

t.test('fan-out: status recorded, one forward per matching destination, nothing else', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const finished = await destination(t, { secret: SECRET })
  const everything = await destination(t, { secret: SECRET })
  const pdfOnly = await destination(t, { secret: SECRET })
  const config = testConfig({
    sources: SOURCES,
    destinations: [
      { name: 'finished', url: finished.url, secret: SECRET, match: { source: ['lightroom'], status: ['succeeded', 'failed'] } },
      { name: 'everything', url: everything.url, secret: SECRET },
      { name: 'pdf-only', url: pdfOnly.url, secret: SECRET, match: { source: ['pdf'] } }
    ]
  }, { QUEUE_PREFIX: prefix })
  await startTestWorkers(t, config)
  const queue = await eventQueue(t, config)
  await queue.add('lightroom', [lightroomEnvelope('a', 'job-a', 'running', '2026-01-01T00:00:01.000Z'), lightroomEnvelope('b', 'job-a', 'succeeded', '2026-01-01T00:00:02.000Z')])
  await Promise.all([everything.arrivals.reach(2), finished.arrivals.reach(1)])
  t.same(finished.ids(), ['lightroom/b'])
  t.same(everything.ids().sort(), ['lightroom/a', 'lightroom/b'])
  // a matched one destination: delivered by its events job; b matched two: one forward job each.
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  await eventually(async () => (await forward.getJobCounts('completed')).completed === 2)
  t.same((await forward.getJobs(['completed'])).map(j => j.data.envelope.id).sort(), ['lightroom/b', 'lightroom/b'])
  t.equal(pdfOnly.received.length, 0)
  const status = await new JobStatusStore(redis, prefix).get('job-a')
  t.equal(status?.status, 'succeeded')
  t.same(status?.history.map(h => h.eventId).sort(), ['lightroom/a', 'lightroom/b'])
  const outputs = inspectQueue(t, config, QUEUE.outputs, redis)
  t.equal(await outputs.count(), 0, 'no outputs job for an event without outputs')
})

for (const inline of ['on', 'off']) {
  t.test(`a redelivered events job repeats no step (FORWARD_INLINE=${inline})`, async t => {
    const prefix = uniquePrefix()
    const redis = testRedis(t, prefix)
    const dest = await destination(t, { secret: SECRET })
    const config = testConfig({ sources: SOURCES, destinations: [{ name: 'd', url: dest.url, secret: SECRET }] }, { QUEUE_PREFIX: prefix, FORWARD_INLINE: inline })
    await startTestWorkers(t, config)
    const event = lightroomEnvelope('r', 'job-r', 'succeeded')
    await (await eventQueue(t, config)).add('lightroom', [event])
    const events = inspectQueue(t, config, QUEUE.events, redis)
    const forward = inspectQueue(t, config, QUEUE.forward, redis)
    if (inline === 'on') await jobsCompleted(events, [jobIdFor(event.id)])
    else await jobsCompleted(forward, [jobIdFor(event.id, 'd')])
    // The same envelope arrives again past the edge's dedup (e.g. after the window).
    await events.add('lightroom', event, { jobId: 'again' })
    await eventually(async () => await events.getJobState('again') === 'completed')
    if (inline === 'off') {
      // And once more after the forward job itself was removed by retention.
      await forward.remove(jobIdFor(event.id, 'd'))
      await events.add('lightroom', event, { jobId: 'again-2' })
      await eventually(async () => await events.getJobState('again-2') === 'completed')
      await eventually(async () => await forward.getJobState(jobIdFor(event.id, 'd')) === 'completed')
    }
    t.equal(dest.received.length, 1, 'forwarded once')
    const forwardJobs = await forward.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')
    t.equal(Object.values(forwardJobs).reduce((a, b) => a + b, 0), inline === 'on' ? 0 : 1, inline === 'on' ? 'no forward job' : 'one forward job')
    t.equal((await new JobStatusStore(redis, prefix).get('job-r'))?.history.length, 1, 'one history entry')
  })
}

t.test('inline, first attempt fails (500): a forward job takes over after the backoff with the attempts left', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { secret: SECRET, respond: n => n <= 2 ? [500, 'not now'] : 204 })
  const config = testConfig({ sources: SOURCES, destinations: [{ name: 'd', url: dest.url, secret: SECRET }] }, { QUEUE_PREFIX: prefix, JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '10' })
  await startTestWorkers(t, config)
  const event = lightroomEnvelope('i500', 'job-i500', 'succeeded')
  await (await eventQueue(t, config)).add('lightroom', [event])
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  await jobsCompleted(forward, [jobIdFor(event.id, 'd')])
  const job = (await forward.getJob(jobIdFor(event.id, 'd')))!
  t.equal(dest.received.length, 3, 'the inline attempt and two forward job attempts: JOB_ATTEMPTS in all')
  t.same(dest.ids(), [event.id, event.id, event.id], 'the same webhook-id every time')
  t.equal(job.opts.attempts, 2, 'the forward job has the attempts left')
  t.equal(job.opts.delay, 10, 'and starts after the first backoff')
  t.equal(job.attemptsMade, 2)
})

t.test('inline, refused for good (400): one POST; the forward job fails with the reason; a retry from Bull Board posts again', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { secret: SECRET, respond: n => n === 1 ? [400, 'unknown order'] : 204 })
  const config = testConfig({ sources: SOURCES, destinations: [{ name: 'd', url: dest.url, secret: SECRET }] }, { QUEUE_PREFIX: prefix, JOB_BACKOFF_MS: '10' })
  await startTestWorkers(t, config)
  const event = lightroomEnvelope('i400', 'job-i400', 'succeeded')
  await (await eventQueue(t, config)).add('lightroom', [event])
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  const id = jobIdFor(event.id, 'd')
  await eventually(async () => await forward.getJobState(id) === 'failed')
  const job = (await forward.getJob(id))!
  t.match(job.failedReason, /answered 400: unknown order/)
  t.equal(job.attemptsMade, 1)
  t.equal(dest.received.length, 1, 'not posted again by the forward job')
  await job.retry('failed')
  await jobsCompleted(forward, [id])
  t.equal(dest.received.length, 2, 'the retry posted')
})

t.test('inline, the destination is down: nothing is lost while its forward job retries; other events are not held up', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  let up = false
  const dest = await destination(t, { secret: SECRET, respond: () => up ? 204 : [503, 'down'] })
  const config = testConfig({ sources: SOURCES, destinations: [{ name: 'd', url: dest.url, secret: SECRET }] }, { QUEUE_PREFIX: prefix, JOB_BACKOFF_MS: '50', JOB_ATTEMPTS: '20' })
  await startTestWorkers(t, config)
  const queue = await eventQueue(t, config)
  const ids = Array.from({ length: 5 }, (_, i) => `down-${i}`)
  await queue.add('lightroom', ids.map(id => lightroomEnvelope(id, `job-${id}`, 'succeeded')))
  const events = inspectQueue(t, config, QUEUE.events, redis)
  await jobsCompleted(events, ids.map(id => jobIdFor(`lightroom/${id}`)))
  t.equal(await new JobStatusStore(redis, prefix).get('job-down-4').then(s => s?.status), 'succeeded', 'statuses recorded while the destination is down')
  up = true
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  await jobsCompleted(forward, ids.map(id => jobIdFor(`lightroom/${id}`, 'd')))
  t.same([...new Set(dest.ids())].sort(), ids.map(id => `lightroom/${id}`).sort(), 'every event delivered once the destination is back')
})

const slowOrFailing: [string, Answer][] = [['failed (503)', [503, 'busy']], ['answered slowly (1.2 s)', { status: 204, delayMs: 1200 }]]
for (const [how, answer] of slowOrFailing) {
  t.test(`a destination whose inline attempt ${how}: its next events go straight to forward jobs for a while`, async t => {
    const prefix = uniquePrefix()
    const redis = testRedis(t, prefix)
    const dest = await destination(t, { secret: SECRET, respond: n => n === 1 ? answer : 204 })
    const config = testConfig({ sources: SOURCES, destinations: [{ name: 'd', url: dest.url, secret: SECRET }] }, { QUEUE_PREFIX: prefix, JOB_BACKOFF_MS: '10', JOB_ATTEMPTS: '4' })
    await startTestWorkers(t, config)
    const queue = await eventQueue(t, config)
    const events = inspectQueue(t, config, QUEUE.events, redis)
    const first = lightroomEnvelope('detour-1', 'job-detour-1', 'succeeded')
    await queue.add('lightroom', [first])
    await jobsCompleted(events, [jobIdFor(first.id)])
    t.match((await events.getJob(jobIdFor(first.id)))!.returnvalue, { inline: Array.isArray(answer) ? 'handed over' : 'delivered' })

    const next = lightroomEnvelope('detour-2', 'job-detour-2', 'succeeded')
    await queue.add('lightroom', [next])
    await jobsCompleted(events, [jobIdFor(next.id)])
    t.notOk('inline' in (await events.getJob(jobIdFor(next.id)))!.returnvalue, 'no inline attempt for the next event')
    const forward = inspectQueue(t, config, QUEUE.forward, redis)
    await jobsCompleted(forward, [jobIdFor(next.id, 'd')])
    t.equal((await forward.getJob(jobIdFor(next.id, 'd')))!.opts.attempts, 4, 'a forward job of its own, with every attempt')
    await eventually(() => new Set(dest.ids()).size === 2)
    t.same([...new Set(dest.ids())].sort(), [first.id, next.id].sort(), 'both delivered')
  })
}

t.test('out of order: succeeded then running leaves the job succeeded; GET /jobs/:jobId', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const config = testConfig({ sources: SOURCES }, { QUEUE_PREFIX: prefix })
  await startTestWorkers(t, config)
  const queue = await eventQueue(t, config)
  const store = new JobStatusStore(redis, prefix)
  await queue.add('lightroom', [lightroomEnvelope('s', 'job-o', 'succeeded', '2026-01-01T00:00:05.000Z')])
  await eventually(async () => (await store.get('job-o'))?.history.length === 1)
  await queue.add('lightroom', [lightroomEnvelope('r', 'job-o', 'running', '2026-01-01T00:00:01.000Z')])
  await eventually(async () => (await store.get('job-o'))?.history.length === 2)

  // The edge connection fails fast (503) until it is up.
  const app = await buildTestApp(t, config, { redis: await edgeRedis(t, config) })
  const res = await app.inject({ method: 'GET', url: '/jobs/job-o' })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.jobId, 'job-o')
  t.equal(body.status, 'succeeded')
  t.equal(body.source, 'lightroom')
  t.ok(!Number.isNaN(Date.parse(body.updatedAt)))
  t.same(body.outputs, [])
  t.same(body.history, [
    { status: 'succeeded', eventId: 'lightroom/s', source: 'lightroom', time: '2026-01-01T00:00:05.000Z' },
    { status: 'running', eventId: 'lightroom/r', source: 'lightroom', time: '2026-01-01T00:00:01.000Z' }
  ])
  const missing = await app.inject({ method: 'GET', url: '/jobs/no-such-job' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'AEG_JOB_NOT_FOUND')
})

t.test('Learning Manager events are forwarded but never stored as job statuses', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { secret: SECRET })
  const config = testConfig({ sources: SOURCES, destinations: [{ name: 'd', url: dest.url, secret: SECRET, match: { source: ['alm'] } }] }, { QUEUE_PREFIX: prefix })
  await startTestWorkers(t, config)
  const event = envelope('alm', 'learning-manager', { key: 'lm-1', type: 'com.adobe.learning-manager.COURSE_ENROLLMENT', jobId: 'not-a-job', data: { eventId: 'lm-1' } })
  await (await eventQueue(t, config)).add('alm', [event])
  await dest.arrivals.reach(1)
  t.equal(await new JobStatusStore(redis, prefix).get('not-a-job'), undefined)
})
