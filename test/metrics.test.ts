import { Worker } from 'bullmq'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { buildAdminApp, type AdminDeps } from '../src/admin.ts'
import { GatewayMetrics } from '../src/metrics.ts'
import { QUEUE } from '../src/queues.ts'
import { ADMIN, adobeSignedHeaders, basic, buildTestApp, eventually, keyServer, lightroomBody, REDIS_URL, sample, testConfig, testRedis, uniquePrefix } from './helpers/index.ts'

/** The public app and the admin app sharing one metrics registry, as startGateway wires them. */
async function gatewayPair (t: Test, env: Record<string, string> = {}, adminDeps: AdminDeps = {}) {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const keys = await keyServer(t)
  const config = testConfig({ sources: [{ name: 'adobe', kind: 'adobe-io-events', verify: 'signature' }] }, {
    QUEUE_PREFIX: prefix,
    ADOBE_PUBLIC_KEY_BASE_URL: keys.url,
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    ...env
  })
  const metrics = new GatewayMetrics()
  const app = await buildTestApp(t, config, { metrics })
  const admin = await buildAdminApp(config, { logger: pino({ level: 'silent' }), metrics, ...adminDeps })
  t.teardown(() => admin.close())
  await admin.ready()
  await eventually(async () => (await app.inject('/readyz')).statusCode === 200 && (await admin.inject('/readyz')).statusCode === 200)
  const scrape = async () => {
    const res = await admin.inject({ url: '/metrics', headers: { authorization: basic() } })
    if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
    return res.body
  }
  return { app, admin, config, prefix, redis, keys, scrape }
}

async function post (app: FastifyInstance, body: string, headers: Record<string, string>, source = 'adobe') {
  return await app.inject({ method: 'POST', url: `/webhooks/${source}`, headers, payload: body })
}

t.test('requests by source and code, verification failures by reason, enqueue latency, queue depth', async t => {
  const { app, scrape } = await gatewayPair(t)

  const before = await scrape()
  t.equal(sample(before, 'aeg_webhook_requests_total', { source: 'adobe', code: '200' }), undefined, 'nothing counted yet')

  for (let i = 0; i < 3; i++) {
    const body = lightroomBody(`evt-ok-${i}`)
    t.equal((await post(app, body, adobeSignedHeaders(body))).statusCode, 200)
  }
  const tampered = lightroomBody('evt-bad')
  t.equal((await post(app, tampered, adobeSignedHeaders(lightroomBody('other')))).statusCode, 401)
  t.equal((await post(app, tampered, { 'content-type': 'application/json' })).statusCode, 401)
  t.equal((await post(app, tampered, adobeSignedHeaders(tampered), 'nope')).statusCode, 404)

  const text = await scrape()
  t.equal(sample(text, 'aeg_webhook_requests_total', { source: 'adobe', code: '200' }), 3)
  t.equal(sample(text, 'aeg_webhook_requests_total', { source: 'adobe', code: '401' }), 2)
  t.equal(sample(text, 'aeg_webhook_requests_total', { source: '(unknown)', code: '404' }), 1, 'unknown sources share one label value')
  t.equal(sample(text, 'aeg_verification_failures_total', { source: 'adobe', reason: 'AEG_SIGNATURE_INVALID' }), 1)
  t.equal(sample(text, 'aeg_verification_failures_total', { source: 'adobe', reason: 'AEG_SIGNATURE_MISSING' }), 1)
  t.equal(sample(text, 'aeg_enqueue_duration_seconds_count', { outcome: 'ok' }), 3)
  t.ok(sample(text, 'aeg_enqueue_duration_seconds_sum', { outcome: 'ok' })! > 0, 'latency observed')
  t.equal(sample(text, 'aeg_enqueue_duration_seconds_bucket', { outcome: 'ok', le: '+Inf' }), 3)
  t.equal(sample(text, 'aeg_queue_jobs', { queue: QUEUE.events, state: 'waiting' }), 3, 'queue depth read from Redis')
  t.equal(sample(text, 'aeg_queue_jobs', { queue: QUEUE.forward, state: 'waiting' }), 0)
  t.equal(sample(text, 'aeg_queue_jobs', { queue: QUEUE.events, state: 'failed' }), 0)
  t.equal(sample(text, 'aeg_queue_up'), 1)
  t.ok(sample(text, 'aeg_process_resident_memory_bytes')! > 0, 'process metrics included')
})

t.test('a public key that cannot be fetched counts as a verification failure (503)', async t => {
  const { app, keys, scrape } = await gatewayPair(t)
  keys.state.mode = '500'
  const body = lightroomBody('evt-1')
  const res = await post(app, body, adobeSignedHeaders(body))
  t.equal(res.statusCode, 503)
  const text = await scrape()
  t.equal(sample(text, 'aeg_verification_failures_total', { source: 'adobe', reason: 'AEG_KEY_UNAVAILABLE' }), 1)
  t.equal(sample(text, 'aeg_webhook_requests_total', { source: 'adobe', code: '503' }), 1)
})

t.test('job outcomes and durations from the workers, read from the queue event streams', async t => {
  // The streams are read from their start (production reads only new events):
  // this test's queues are new, so every job of the test is seen, whenever the readers attach.
  const { app, prefix, scrape } = await gatewayPair(t, { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '1' }, { jobEventsFrom: '0' })
  const worker = new Worker(QUEUE.events, async (job) => {
    if ((job.data as { id: string }).id.endsWith('evt-poison')) throw new Error('cannot process')
    await new Promise(resolve => setTimeout(resolve, 20))
    return 'done'
  }, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix })
  t.teardown(async () => {
    await worker.close()
    await worker.disconnect()
  })

  for (const id of ['evt-a', 'evt-b', 'evt-poison']) {
    const body = lightroomBody(id)
    t.equal((await post(app, body, adobeSignedHeaders(body))).statusCode, 200)
  }

  const text = await eventually(async (): Promise<string | false> => {
    const text = await scrape()
    return sample(text, 'aeg_jobs_total', { queue: QUEUE.events, outcome: 'failed' }) === 1 &&
      sample(text, 'aeg_jobs_total', { queue: QUEUE.events, outcome: 'completed' }) === 2 && text
  }) as string
  t.equal(sample(text, 'aeg_jobs_total', { queue: QUEUE.events, outcome: 'retried' }), 1, 'first attempt of the poison event was retried')
  t.equal(sample(text, 'aeg_job_duration_seconds_count', { queue: QUEUE.events, outcome: 'completed' }), 2)
  t.equal(sample(text, 'aeg_queue_jobs', { queue: QUEUE.events, state: 'failed' }), 1, 'dead letter depth')
})
