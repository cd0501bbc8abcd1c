import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import t from 'tap'
import { JobStatusStore } from '../../src/job-status.ts'
import { QUEUE, RETENTION } from '../../src/queues.ts'
import { eventually, testRedis, uniquePrefix } from '../helpers/index.ts'
import { Answers, deliver, destination, envelopeId, eventBody, signedHeaders, startStack } from './support.ts'

const EVENTS = 120
/** Forwards (1-based, in arrival order) the destination leaves unanswered; the worker sending each is killed. */
const HOLD_AT = [30, 75]
/** Delivery pace: the stream is still running when the workers die. */
const SENDERS = 4
const PER_SENDER_GAP_MS = 30

/**
 * A worker process SIGKILLed, twice, while signed events stream in through the
 * gateway. Each kill lands while a forward is on the wire (the destination
 * holds that POST unanswered): the worst place, between the POST and its
 * record. A new worker finishes the work. Every event must get its job status
 * and its forward; a forward may repeat only for a job caught that way, so at
 * most once per kill.
 */
t.test('worker SIGKILLed mid-stream: every side effect happens, forwards repeat at most once per kill', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { holdAt: HOLD_AT })
  const stack = await startStack(t, {
    prefix,
    destinationUrl: dest.url,
    // One job at a time per queue: a kill catches at most one forward between POST and record.
    env: { WORKER_CONCURRENCY: '1', WORKER_LOCK_DURATION_MS: '1000', WORKER_STALLED_INTERVAL_MS: '300', FORWARD_TIMEOUT_MS: '60000' }
  })

  const answers = new Answers()
  let next = 0
  const stream = Promise.all(Array.from({ length: SENDERS }, async () => {
    while (next < EVENTS) {
      const i = next++
      const body = eventBody(`crash-${i}`, `crash-job-${i}`)
      answers.add(`crash-${i}`, await deliver(stack.url, body, signedHeaders(body, 'rsa')))
      await sleep(PER_SENDER_GAP_MS)
    }
  }))

  let kills = 0
  const caught: string[] = []
  for (const [k] of HOLD_AT.entries()) {
    await dest.arrivals.reach(HOLD_AT[k]!, 60_000)
    const victim = stack.workers.at(-1)!
    const sentSoFar = next
    victim.child.kill('SIGKILL')
    await victim.exited
    kills++
    caught.push(dest.held[k]!)
    t.comment(`kill ${kills}: worker ${victim.child.pid} SIGKILLed with the forward of ${dest.held[k]} on the wire; ${sentSoFar}/${EVENTS} events sent`)
    // On a loaded machine the senders may be done before the workers reach the
    // held POST; what matters is that the kill fell while work was still going on.
    t.ok(sentSoFar < EVENTS || dest.posts.size < EVENTS, `work remained when the worker died (${sentSoFar} sent, ${dest.posts.size} forwarded)`)
    await stack.startWorker()
  }
  await stream

  t.equal(answers.count('200'), EVENTS, `every delivery acknowledged: ${answers}`)
  await eventually(() => dest.posts.size === EVENTS, 60_000)

  // Settled: no job left to run, so no further POST can come. Completed events
  // jobs are kept up to the retention count. Forwards are made inline by the
  // events jobs (one destination); a forward job exists only where a first
  // attempt failed, so any number of them may have completed.
  const kept = Math.min(EVENTS, RETENTION.removeOnComplete.count)
  const forwardQueue = new Queue(QUEUE.forward, { connection: redis, prefix })
  const eventsQueue = new Queue(QUEUE.events, { connection: redis, prefix })
  t.teardown(async () => { await forwardQueue.close(); await eventsQueue.close() })
  let counts = ''
  await eventually(async () => {
    const [f, e] = await Promise.all([forwardQueue.getJobCounts(), eventsQueue.getJobCounts()])
    counts = JSON.stringify({ forward: f, events: e })
    return e.completed === kept && f.active! + f.waiting! + f.delayed! + e.active! + e.waiting! + e.delayed! === 0
  }, 30_000).catch((err: Error) => { throw new Error(`${err.message}: ${counts}`) })
  const failed = (await forwardQueue.getJobCounts('failed')).failed! + (await eventsQueue.getJobCounts('failed')).failed!
  t.equal(failed, 0, 'no job failed')

  const store = new JobStatusStore(redis, prefix)
  const statuses = await Promise.all(Array.from({ length: EVENTS }, (_, i) => store.get(`crash-job-${i}`)))
  const recorded = statuses.filter(s => s?.status === 'succeeded' && s.history.length === 1).length
  t.equal(recorded, EVENTS, 'a job status, recorded once, for every event')

  const expected = Array.from({ length: EVENTS }, (_, i) => envelopeId(`crash-${i}`))
  t.same([...dest.posts.keys()].sort(), expected.sort(), 'every event forwarded')
  t.equal(dest.badSignatures, 0, 'every forward signed')
  const repeated = [...dest.posts].filter(([, n]) => n > 1).map(([id]) => id)
  t.ok(dest.repeats <= kills, `forward repeats (${dest.repeats}) ≤ kills (${kills})`)
  t.ok(repeated.every(id => caught.includes(id) && dest.posts.get(id) === 2), `only the forwards caught on the wire repeated, once each: ${repeated.join(', ')}`)

  t.comment(`worker crash: sent ${EVENTS}, acked ${answers.count('200')}, processed ${recorded} statuses / ${dest.posts.size} forwarded, ` +
    `forward POSTs ${dest.total}, duplicates ${dest.repeats}, kills ${kills}, 503s ${answers.count('503')}`)

  const codes = await Promise.all([stack.gateway.stop(), ...stack.workers.filter(w => w.child.exitCode === null && w.child.signalCode === null).map(w => w.stop())])
  t.ok(codes.every(c => c === 0), 'the gateway and the surviving worker exit 0 on SIGTERM')
})
