import { Redis } from 'ioredis'
import t from 'tap'
import { eventually, privateRedis, uniquePrefix, usedMemory } from '../helpers/index.ts'
import { Answers, MiB, cpuSeconds, deliver, destination, envelopeId, eventBody, signedHeaders, startStack } from './support.ts'

const MAXMEMORY = 16 * 1024 * 1024
const PER_PHASE = 30
const CONCURRENCY = 2
/** How long Redis stays full, at least. */
const FULL_MS = 2000

/**
 * Redis at its `maxmemory` with `noeviction` (as the contract requires: an
 * evicting Redis would silently drop queued events) refuses every write. The
 * edge must answer 503 with Retry-After, not 500, and not crash; the worker
 * must survive, without spinning, holding a backlog it cannot move while
 * full; both must carry on once memory is freed, without a restart, and every
 * event acknowledged before is processed.
 */
t.test('Redis memory full (noeviction): 503 while full, no crash, recovers when memory frees', async t => {
  const redisServer = await privateRedis(t, ['--maxmemory', String(MAXMEMORY), '--maxmemory-policy', 'noeviction'])
  const redis = new Redis(redisServer.url)
  t.teardown(() => redis.quit())
  const prefix = uniquePrefix()
  // A slow destination: when Redis fills up, the worker has forwards on the wire and a backlog waiting.
  const dest = await destination(t, { delayMs: 100 })
  const stack = await startStack(t, {
    prefix,
    redisUrl: redisServer.url,
    destinationUrl: dest.url,
    env: { ACK_TIMEOUT_MS: '1000', JOB_BACKOFF_MS: '500', WORKER_CONCURRENCY: String(CONCURRENCY), WORKER_LOCK_DURATION_MS: '1000', WORKER_STALLED_INTERVAL_MS: '300' }
  })
  const worker = stack.workers[0]!

  const send = async (phase: string, answers: Answers, check?: (res: Response) => Promise<void>) => {
    for (let i = 0; i < PER_PHASE; i++) {
      const eventId = `oom-${phase}-${i}`
      const body = eventBody(eventId)
      if (check === undefined) {
        answers.add(eventId, await deliver(stack.url, body, signedHeaders(body, 'hmac')))
      } else {
        const res = await fetch(stack.url, { method: 'POST', headers: signedHeaders(body, 'hmac'), body })
        answers.add(eventId, String(res.status))
        await check(res)
      }
    }
  }

  const before = new Answers()
  await send('before', before)
  t.equal(before.count('200'), PER_PHASE, `accepted with room: ${before}`)
  await eventually(() => before.accepted.every(id => dest.posts.has(envelopeId(id))), 15_000)

  const backlog = new Answers()
  await send('backlog', backlog)
  t.equal(backlog.count('200'), PER_PHASE, `backlog accepted: ${backlog}`)
  const forwardedBeforeFull = backlog.accepted.filter(id => dest.posts.has(envelopeId(id))).length
  const filledAt = Date.now()
  const workerCpuAtFull = cpuSeconds(worker.child.pid!)
  const workerLinesAtFull = worker.lines.length

  // Fill with ever smaller appends until even a tiny write is refused: from here every write fails with OOM.
  // (One big SET would be refused outright: its own query buffer counts against maxmemory.)
  for (const size of [1 << 20, 1 << 16, 1 << 12, 256, 16]) {
    for (;;) {
      try {
        await redis.append('filler', 'x'.repeat(size))
      } catch (err) {
        if (/^OOM/.test((err as Error).message)) break
        throw err
      }
    }
  }
  const full = await usedMemory(redis)
  t.ok(full > MAXMEMORY - 4096, `Redis is at maxmemory: ${MiB(full)} MiB used of ${MiB(MAXMEMORY)} MiB`)
  await t.rejects(redis.set('probe', '1'), /OOM/, 'Redis refuses writes')

  const during = new Answers()
  const codes = new Set<string>()
  await send('full', during, async (res) => {
    const body = await res.json() as { error?: { code: string } }
    if (res.status === 503) {
      codes.add(`${body.error?.code} retry-after=${res.headers.get('retry-after')}`)
    }
  })
  t.same(during.others(['503']), [], `every request while full answered 503: ${during}`)
  t.same([...codes], ['AEG_QUEUE_UNAVAILABLE retry-after=5'], 'as a queue fault with Retry-After')
  t.equal((await fetch(`http://127.0.0.1:${stack.port}/healthz`)).status, 200, 'the gateway is up')
  t.ok(stack.gateway.child.exitCode === null && worker.child.exitCode === null, 'gateway and worker still running')
  await eventually(() => Date.now() - filledAt >= FULL_MS, FULL_MS + 1000)
  const fullMs = Date.now() - filledAt
  const workerCpuShare = (cpuSeconds(worker.child.pid!) - workerCpuAtFull) / (fullMs / 1000)
  const workerLinesWhileFull = worker.lines.length - workerLinesAtFull
  // Each forward attempt fails before its POST and is retried with backoff: a few lines per job and attempt, no loop.
  // (Its CPU share is printed below as a figure; a share of CPU time is a rate, not asserted.)
  t.ok(workerLinesWhileFull < 20 * PER_PHASE, `the worker does not loop on the refused writes: ${workerLinesWhileFull} log lines while full`)
  t.ok(backlog.accepted.some(id => !dest.posts.has(envelopeId(id))), 'the backlog was not done when Redis filled up')

  await redis.del('filler')
  const after = new Answers()
  await send('after', after)
  t.equal(after.count('200'), PER_PHASE, `accepted again once memory was freed: ${after}`)
  await eventually(() => after.accepted.every(id => dest.posts.has(envelopeId(id))), 15_000)
  t.pass('events accepted after recovery are processed by the same worker process')
  await eventually(() => backlog.accepted.every(id => dest.posts.has(envelopeId(id))), 15_000)
  t.pass(`the backlog held while full is processed (${forwardedBeforeFull} of ${PER_PHASE} were forwarded before Redis filled up)`)
  t.ok(dest.repeats <= CONCURRENCY, `forwards repeated (${dest.repeats}) only for those in flight when writes were refused (≤ ${CONCURRENCY})`)
  t.notOk(during.accepted.some(id => dest.posts.has(envelopeId(id))), 'no event answered 503 while full was processed')

  t.comment(`redis memory full: sent ${before.total + backlog.total + during.total + after.total}, acked ${before.count('200') + backlog.count('200') + after.count('200')}, ` +
    `processed ${dest.posts.size}, duplicates ${dest.repeats}, 503s ${during.count('503') + after.count('503')} (${during.count('503')} while full), ` +
    `used_memory while full ${MiB(full)} MiB of ${MiB(MAXMEMORY)} MiB for ${fullMs} ms, ` +
    `worker while full ${(workerCpuShare * 100).toFixed(0)} % CPU and ${workerLinesWhileFull} log lines`)
  const exit = await Promise.all([stack.gateway.stop(), worker.stop()])
  t.same(exit, [0, 0], 'gateway and worker exit 0 on SIGTERM')
  const lines = [...stack.gateway.lines, ...worker.lines]
  t.notOk(lines.some(l => l.level === 60), 'nothing logged as fatal')
  // The refused enqueue's error carries the MULTI's arguments (whole envelopes); the log must not.
  t.ok(lines.some(l => l.code === 'AEG_QUEUE_UNAVAILABLE' && JSON.stringify(l.err).includes('OOM')), 'the 503s are logged with their Redis cause')
  t.notOk(lines.some(l => JSON.stringify(l).includes('recipient_client_id')), 'no event payload in any log line')
})
