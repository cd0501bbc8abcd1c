import { Queue } from 'bullmq'
import t from 'tap'
import { JobStatusStore } from '../../src/job-status.ts'
import { QUEUE } from '../../src/queues.ts'
import { eventually, testRedis, uniquePrefix } from '../helpers/index.ts'
import { Answers, deliver, destination, envelopeId, eventBody, pool, signedHeaders, startStack } from './support.ts'

const EVENTS = 100
const DELIVERIES = 10
/** Events in flight at once, each with all its deliveries: 100 concurrent requests. */
const EVENTS_AT_ONCE = 10

/**
 * Adobe retries a delivery it did not see acknowledged in time, with the same
 * body and signature and `x-adobe-retry-count` 1, 2, …; under a network
 * hiccup the original and its retries can arrive together. Each of 100
 * events arrives 10 times at once at a gateway with two workers behind it:
 * every delivery is answered 200, and exactly one job, one status and one
 * forward per event result.
 */
t.test(`duplicate storm: ${EVENTS} events × ${DELIVERIES} concurrent deliveries → ${EVENTS} jobs, ${EVENTS} forwards`, async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t)
  const stack = await startStack(t, { prefix, destinationUrl: dest.url, workers: 2, env: { WORKER_CONCURRENCY: '8' } })

  const answers = new Answers()
  await pool(EVENTS, EVENTS_AT_ONCE, async (i) => {
    const eventId = `storm-${i}`
    const body = eventBody(eventId, `storm-job-${i}`)
    const headers = signedHeaders(body, 'rsa')
    await Promise.all(Array.from({ length: DELIVERIES }, async (_, retry) => {
      const status = await deliver(stack.url, body, retry === 0 ? headers : { ...headers, 'x-adobe-retry-count': String(retry) })
      answers.add(eventId, status)
    }))
  })
  t.equal(answers.count('200'), EVENTS * DELIVERIES, `every delivery answered 200: ${answers}`)

  const eventsQueue = new Queue(QUEUE.events, { connection: redis, prefix })
  const forwardQueue = new Queue(QUEUE.forward, { connection: redis, prefix })
  t.teardown(async () => { await eventsQueue.close(); await forwardQueue.close() })
  await eventually(async () => (await eventsQueue.getJobCounts('completed')).completed === EVENTS && dest.total >= EVENTS, 30_000)
  type Counts = Record<string, number>
  const total = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0)
  const settled = async (): Promise<{ e: Counts, f: Counts } | undefined> => {
    const [e, f] = await Promise.all([eventsQueue.getJobCounts(), forwardQueue.getJobCounts()])
    return total(e) === e.completed && total(f) === f.completed ? { e, f } : undefined
  }
  const { e, f } = (await eventually(settled, 10_000))!

  t.equal(e.completed, EVENTS, `exactly ${EVENTS} event jobs`)
  t.equal(total(f), 0, 'no forward job: one destination, so each events job delivered its event itself')
  t.equal(dest.total, EVENTS, `exactly ${EVENTS} forwards`)
  if (dest.total !== EVENTS) {
    // Why a POST repeated: the workers' warnings (a forward attempt failed, a job stalled) say.
    for (const w of stack.workers) for (const line of w.lines.filter(l => Number(l.level) >= 40)) t.comment(JSON.stringify(line))
  }
  t.same([...dest.posts.keys()].sort(), Array.from({ length: EVENTS }, (_, i) => envelopeId(`storm-${i}`)).sort(), 'one per event')
  const store = new JobStatusStore(redis, prefix)
  const statuses = await Promise.all(Array.from({ length: EVENTS }, (_, i) => store.get(`storm-job-${i}`)))
  const once = statuses.filter(s => s?.status === 'succeeded' && s.history.length === 1).length
  t.equal(once, EVENTS, 'one job status with one history entry per event')

  t.comment(`duplicate storm: sent ${answers.total} (${EVENTS} events × ${DELIVERIES}), acked ${answers.count('200')}, jobs ${e.completed}, ` +
    `processed ${once}, forwards ${dest.total}, duplicates ${dest.repeats}, 503s ${answers.count('503')}`)
  const codes = await Promise.all([stack.gateway.stop(), ...stack.workers.map(w => w.stop())])
  t.same(codes, [0, 0, 0], 'gateway and workers exit 0 on SIGTERM')
})
