import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import t from 'tap'
import { adminAccess, buildAdminApp } from '../src/admin.ts'
import { ConfigError } from '../src/config.ts'
import { QUEUE } from '../src/queues.ts'
import { ADMIN, basic, eventually, jobsCompleted, REDIS_URL, testConfig, testRedis, uniquePrefix } from './helpers/index.ts'

const sources = [{ name: 'adobe', kind: 'adobe-io-events' as const, verify: 'signature' as const }]
const withAdmin = (prefix: string, env: Record<string, string> = {}) =>
  testConfig({ sources }, { QUEUE_PREFIX: prefix, ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password, ...env })

async function adminApp (t: { teardown (fn: () => unknown): void }, config: ReturnType<typeof testConfig>) {
  const app = await buildAdminApp(config, { logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test('adminAccess: credentials open it, none keep it closed, ADMIN_AUTH=off opens it without auth', async t => {
  const prefix = uniquePrefix()
  t.same(adminAccess(withAdmin(prefix)), { open: true, auth: { username: ADMIN.user, password: ADMIN.password } })
  const closed = adminAccess(testConfig({ sources }))
  t.equal(closed.open, false)
  t.match(closed, { reason: /ADMIN_USER and ADMIN_PASSWORD are not set/ })
  t.same(adminAccess(testConfig({ sources }, { ADMIN_AUTH: 'off' })), { open: true, auth: undefined })
  await t.rejects(buildAdminApp(testConfig({ sources })), ConfigError, 'refuses to build without credentials')
})

t.test('probes are open; /metrics and Bull Board need the credentials', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const app = await adminApp(t, withAdmin(prefix))

  t.equal((await app.inject('/healthz')).statusCode, 200)
  // Ready once the admin's Redis connection is up.
  await eventually(async () => (await app.inject('/readyz')).statusCode === 200)

  for (const url of ['/metrics', '/admin/queues', '/admin/queues/api/queues']) {
    const anonymous = await app.inject(url)
    t.equal(anonymous.statusCode, 401, `${url} without credentials`)
    t.match(anonymous.headers['www-authenticate'], /^Basic realm="aeg-admin"/, 'browsers are asked for credentials')
    const wrong = await app.inject({ url, headers: { authorization: basic(ADMIN.user, 'not-the-password') } })
    t.equal(wrong.statusCode, 401, `${url} with a wrong password`)
    const wrongUser = await app.inject({ url, headers: { authorization: basic('root', ADMIN.password) } })
    t.equal(wrongUser.statusCode, 401, `${url} with a wrong user`)
  }

  const metrics = await app.inject({ url: '/metrics', headers: { authorization: basic() } })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(metrics.body, /^# HELP aeg_webhook_requests_total /m)
  t.match(metrics.body, /^aeg_queue_up 1$/m)

  const board = await app.inject({ url: '/admin/queues', headers: { authorization: basic() } })
  t.equal(board.statusCode, 200)
  t.match(board.headers['content-type'], /text\/html/)

  const api = await app.inject({ url: '/admin/queues/api/queues', headers: { authorization: basic() } })
  t.equal(api.statusCode, 200)
  const names = (api.json() as { queues: { name: string }[] }).queues.map(q => q.name).sort()
  t.same(names, [QUEUE.events, QUEUE.forward, QUEUE.outputs].sort(), 'every queue is on the board')
})

t.test('ADMIN_AUTH=off serves /metrics and the board without credentials', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const app = await adminApp(t, testConfig({ sources }, { QUEUE_PREFIX: prefix, ADMIN_AUTH: 'off' }))
  t.equal((await app.inject('/metrics')).statusCode, 200)
  t.equal((await app.inject('/admin/queues/api/queues')).statusCode, 200)
})

t.test('a failed (dead letter) job is retried from Bull Board', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const app = await adminApp(t, withAdmin(prefix))

  const queue = new Queue(QUEUE.forward, { connection: redis, prefix })
  t.teardown(() => queue.close())
  await queue.add('forward', { n: 1 }, { jobId: 'job-1', attempts: 1 })

  let fail = true
  const worker = new Worker(QUEUE.forward, async () => {
    if (fail) throw new Error('destination down')
    return 'sent'
  }, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix })
  t.teardown(async () => {
    await worker.close()
    await worker.disconnect()
  })
  await eventually(async () => (await queue.getJobState('job-1')) === 'failed')

  const listed = await app.inject({ url: '/admin/queues/api/queues?activeQueue=forward&status=failed', headers: { authorization: basic() } })
  const forward = (listed.json() as { queues: { name: string, counts: Record<string, number> }[] }).queues.find(q => q.name === QUEUE.forward)
  t.equal(forward?.counts.failed, 1, 'the board counts the failed job')

  fail = false
  const retried = await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/forward/job-1/retry', headers: { authorization: basic() } })
  t.equal(retried.statusCode, 204, retried.body)
  await jobsCompleted(queue, ['job-1'])
  t.pass('the retried job completed')
})
