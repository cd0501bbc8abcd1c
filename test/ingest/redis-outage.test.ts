import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import t from 'tap'
import { QUEUE } from '../../src/queues.ts'
import { adobeSignedHeaders, buildTestApp, eventually, fixture, keyServer, privateRedis, testConfig, uniquePrefix } from '../helpers/index.ts'

const event = () => ({ ...fixture('adobe-io-events/lightroom-job-status.json'), event_id: randomUUID() })

t.test('Redis unreachable: 503 with Retry-After, never 2xx or 4xx; recovers without restart', async t => {
  const redisServer = await privateRedis(t)
  const keys = await keyServer(t)
  const prefix = uniquePrefix()
  const config = testConfig({ sources: [{ name: 'lr', kind: 'adobe-io-events', verify: 'signature' }] },
    { REDIS_URL: redisServer.url, QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: keys.url, ACK_TIMEOUT_MS: '500' })
  const app = await buildTestApp(t, config)
  const post = (body: string) => app.inject({ method: 'POST', url: '/webhooks/lr', payload: body, headers: adobeSignedHeaders(body) })

  const before = JSON.stringify(event())
  t.equal((await post(before)).statusCode, 200)
  t.equal((await app.inject('/readyz')).statusCode, 200)

  await redisServer.stop('SIGKILL')
  const during: number[] = []
  for (let i = 0; i < 5; i++) {
    const res = await post(JSON.stringify(event()))
    during.push(res.statusCode)
    if (res.statusCode === 503) {
      t.equal(res.json().error.code, 'AEG_QUEUE_UNAVAILABLE')
      t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After set')
    }
  }
  t.same(during, [503, 503, 503, 503, 503], 'every request during the outage is 503')
  t.equal((await app.inject('/readyz')).statusCode, 503, 'not ready while Redis is down')
  t.equal((await app.inject('/healthz')).statusCode, 200, 'process still up')

  await redisServer.start()
  const after = JSON.stringify(event())
  await eventually(async () => (await post(after)).statusCode === 200, 10_000, 100)
  t.equal((await app.inject('/readyz')).statusCode, 200, 'ready again')

  const check = new Redis(redisServer.url)
  const queue = new Queue(QUEUE.events, { connection: check, prefix })
  t.teardown(async () => { await queue.close(); check.disconnect() })
  const ids = (await queue.getJobs(['waiting'])).map(j => j.data.id)
  t.ok(ids.includes(`lr/${JSON.parse(after).event_id}`), 'event after recovery queued')
})

t.test('Redis down at boot: 503 until it comes up, then 200', async t => {
  const redisServer = await privateRedis(t)
  await redisServer.stop()
  const keys = await keyServer(t)
  const config = testConfig({ sources: [{ name: 'lr', kind: 'adobe-io-events', verify: 'signature' }] },
    { REDIS_URL: redisServer.url, QUEUE_PREFIX: uniquePrefix(), ADOBE_PUBLIC_KEY_BASE_URL: keys.url, ACK_TIMEOUT_MS: '300' })
  const app = await buildTestApp(t, config)
  const body = JSON.stringify(event())
  const post = () => app.inject({ method: 'POST', url: '/webhooks/lr', payload: body, headers: adobeSignedHeaders(body) })
  t.equal((await post()).statusCode, 503)
  await redisServer.start()
  await eventually(async () => (await post()).statusCode === 200, 10_000, 100)
  t.pass('accepted once Redis is up')
})
