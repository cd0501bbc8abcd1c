import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { JobStatusStore } from '../../src/job-status.ts'
import { eventually, privateRedis, uniquePrefix } from '../helpers/index.ts'
import { Answers, deliver, destination, envelopeId, eventBody, signedHeaders, startStack } from './support.ts'

const SENDERS = 4
const PER_SENDER_GAP_MS = 15
const ACKED_BEFORE_CRASH = 80
const OUTAGE_503S = 20
/** Long enough for the clients' reconnect backoff to grow past its first steps. */
const MIN_OUTAGE_MS = 1500
const ACKED_AFTER_RESTART = 80

/**
 * Redis as production runs it (AOF, fsync every second, noeviction),
 * SIGKILLed while signed events stream in, then restarted on its data
 * directory. The destination is slower than the intake, so at the kill many
 * acknowledged events exist only in Redis. Every event answered 200 must be
 * processed after the restart; every request during the outage is answered
 * 503; the gateway and worker processes reconnect by themselves.
 *
 * What this proves and what it cannot: a SIGKILL leaves the OS up, so AOF
 * writes already handed to the kernel survive even if not yet fsynced. A host
 * crash (power loss) can lose up to the last second with `everysec`.
 */
t.test('Redis (AOF everysec) SIGKILLed and restarted mid-stream: every 200 is processed; the outage answers 503; no restarts', async t => {
  const redisServer = await privateRedis(t, ['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'])
  const prefix = uniquePrefix()
  const dest = await destination(t, { delayMs: 50 })
  const stack = await startStack(t, {
    prefix,
    redisUrl: redisServer.url,
    destinationUrl: dest.url,
    env: { WORKER_CONCURRENCY: '2', WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '500', ACK_TIMEOUT_MS: '1000' }
  })
  const [worker] = stack.workers
  const pids = [stack.gateway.child.pid, worker!.child.pid]

  const answers = new Answers()
  const phases = { before: new Answers(), outage: new Answers(), after: new Answers() }
  let phase: keyof typeof phases = 'before'
  // Set by the test body while the senders run (the linter cannot see across the awaits).
  const sending = { stop: false }
  let n = 0
  let firstAckAfterRestart: number | undefined
  const senders = Promise.all(Array.from({ length: SENDERS }, async () => {
    while (!sending.stop) {
      const eventId = `redis-crash-${n++}`
      const body = eventBody(eventId)
      const at = phase
      const status = await deliver(stack.url, body, signedHeaders(body, 'hmac'))
      answers.add(eventId, status)
      // A request sent before the kill may be answered during it: counted where it was sent.
      phases[at].add(eventId, status)
      if (at === 'after' && status === '200') firstAckAfterRestart ??= Date.now()
      await sleep(PER_SENDER_GAP_MS)
    }
  }))

  await eventually(() => answers.count('200') >= ACKED_BEFORE_CRASH, 30_000)
  await redisServer.stop('SIGKILL')
  phase = 'outage'
  const ackedAtKill = [...answers.accepted]
  const unprocessedAtKill = ackedAtKill.filter(id => !dest.posts.has(envelopeId(id)))
  const killedAt = Date.now()

  await eventually(() => phases.outage.count('503') >= OUTAGE_503S && Date.now() - killedAt >= MIN_OUTAGE_MS, 30_000)
  const readyDuring = (await fetch(`http://127.0.0.1:${stack.port}/readyz`)).status
  // From here requests count as 'after': Redis may already answer while
  // start() is still probing it, so a 200 then is no outage answer.
  phase = 'after'
  await redisServer.start()
  const restartedAt = Date.now()
  const outageMs = restartedAt - killedAt
  await eventually(() => phases.after.count('200') >= ACKED_AFTER_RESTART, 30_000)
  sending.stop = true
  await senders

  // A figure for the log, not an assertion: the clients' reconnect backoff is capped at 2 s.
  const recoveryMs = Math.max(0, firstAckAfterRestart! - restartedAt)
  t.equal(readyDuring, 503, '/readyz answered 503 during the outage')
  t.ok(unprocessedAtKill.length > 0, `${unprocessedAtKill.length} acknowledged events were only in Redis when it died`)
  t.ok(phases.outage.count('503') >= OUTAGE_503S, `requests during the outage answered 503: ${phases.outage}`)
  t.same(phases.outage.others(['503']), [], 'nothing but 503 during the outage (never 2xx, never 4xx, no dropped connection)')
  t.same(answers.others(['200', '503']), [], `only 200 and 503 overall: ${answers}`)

  // Every acknowledged event is processed: forwarded and its job status recorded.
  await eventually(() => answers.accepted.every(id => dest.posts.has(envelopeId(id))), 60_000)
    .catch(() => t.fail(`not forwarded: ${answers.accepted.filter(id => !dest.posts.has(envelopeId(id))).slice(0, 10).join(', ')}…`))
  t.pass(`all ${answers.accepted.length} acknowledged events forwarded`)
  const check = new Redis(redisServer.url)
  t.teardown(() => check.quit())
  const store = new JobStatusStore(check, prefix)
  const statuses = await Promise.all(answers.accepted.map(id => store.get(`job-${id}`)))
  const recorded = statuses.filter(s => s?.status === 'succeeded').length
  t.equal(recorded, answers.accepted.length, 'a job status for every acknowledged event')

  t.same([stack.gateway.child.pid, worker!.child.pid], pids, 'the same gateway and worker processes')
  t.ok(stack.gateway.child.exitCode === null && worker!.child.exitCode === null, 'neither exited: both reconnected by themselves')
  const aof = /aof_enabled:(\d)/.exec(await check.info('persistence'))?.[1]
  t.equal(aof, '1', 'the restarted Redis runs with AOF on')

  t.comment(`redis crash: sent ${answers.total}, acked ${answers.count('200')} (${unprocessedAtKill.length} of ${ackedAtKill.length} acked before the kill still unprocessed at it), ` +
    `processed ${recorded}, forward POSTs ${dest.total}, duplicates ${dest.repeats}, 503s ${answers.count('503')} (${phases.outage.count('503')} during a ${outageMs} ms outage, first 200 ${recoveryMs} ms after the restart), answers ${answers}`)

  const codes = await Promise.all([stack.gateway.stop(), worker!.stop()])
  t.same(codes, [0, 0], 'gateway and worker exit 0 on SIGTERM')
})
