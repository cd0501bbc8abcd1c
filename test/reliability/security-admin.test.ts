import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import t from 'tap'
import { buildAdminApp } from '../../src/admin.ts'
import { buildTestApp, testConfig, testRedis, uniquePrefix } from '../helpers/index.ts'
import { SECRETS, basicAuth } from './hostile-support.ts'

const USER = 'ops'

/** Every (method, path) the admin app serves, read from Fastify's route tree, with parameters filled in. */
function adminRoutes (app: FastifyInstance): { method: string, url: string }[] {
  const stack: string[] = []
  const routes: { method: string, url: string }[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    stack.push(m[2]!)
    const path = stack.join('').replace(/\*$/, '/static/app.js')
      .replace(/:queueName/g, 'events').replace(/:jobId/g, 'job-1').replace(/:queueStatus/g, 'failed').replace(/:schedulerId/g, 'sched-1')
    for (const method of m[3]!.split(',').map(s => s.trim())) routes.push({ method, url: path })
  }
  return routes
}

t.test('admin port: every route but the probes refuses anonymous, wrong and malformed credentials', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const config = testConfig({ sources: [{ name: 'a', kind: 'adobe-io-events', verify: 'none' }] },
    { QUEUE_PREFIX: prefix, ADMIN_USER: USER, ADMIN_PASSWORD: SECRETS.adminPassword })
  const app = await buildAdminApp(config, { logger: pino({ level: 'silent' }), watchJobs: false })
  t.teardown(() => app.close())
  await app.ready()

  const routes = adminRoutes(app)
  const open = new Set(['/healthz', '/readyz'])
  const guarded = routes.filter(r => !open.has(r.url))
  t.ok(guarded.some(r => r.url === '/admin/queues/api/queues' && r.method === 'GET'), 'Bull Board API routes are among those checked')
  t.ok(guarded.some(r => r.url === '/admin/queues/api/queues/events/obliterate' && r.method === 'PUT'), 'destructive Bull Board routes too')
  t.ok(guarded.length >= 40, `${guarded.length} guarded method/route pairs found`)

  const wrong: Record<string, string | undefined> = {
    none: undefined,
    'wrong password': basicAuth(USER, `${SECRETS.adminPassword}x`),
    'wrong user': basicAuth('admin', SECRETS.adminPassword),
    'password only': basicAuth('', SECRETS.adminPassword),
    'no colon': `Basic ${Buffer.from(`${USER}${SECRETS.adminPassword}`).toString('base64')}`,
    'user only': basicAuth(USER, ''),
    'prefix of the password': basicAuth(USER, SECRETS.adminPassword.slice(0, -1)),
    'bearer scheme': `Bearer ${SECRETS.adminPassword}`,
    'not base64': 'Basic !!!not-base64!!!',
    'empty basic': 'Basic ',
    'raw credentials': `${USER}:${SECRETS.adminPassword}`
  }
  let refusals = 0
  const failures: string[] = []
  for (const { method, url } of guarded) {
    for (const [name, authorization] of Object.entries(wrong)) {
      const res = await app.inject({ method: method as 'GET', url, headers: authorization === undefined ? {} : { authorization }, payload: method === 'GET' || method === 'HEAD' ? undefined : {} })
      if (res.statusCode !== 401 || res.headers['www-authenticate'] === undefined) failures.push(`${method} ${url} with ${name}: ${res.statusCode}`)
      else refusals++
    }
  }
  t.same(failures, [], 'every guarded route answers 401 with a challenge')
  t.comment(`${guarded.length} admin method/route pairs × ${Object.keys(wrong).length} credential variants: ${refusals} refusals, ${failures.length} let through`)

  // Path spellings that might slip past a prefix check.
  for (const url of ['/metrics/', '/METRICS', '//metrics', '/admin/queues/../../metrics', '/admin/queues/%2e%2e/api/queues', '/admin//queues/api/queues',
    '/admin/queues/api/queues?x=1', '/admin/queues/api/queues#x', '/healthz/../metrics', '/%61dmin/queues/api/queues']) {
    const res = await app.inject({ url })
    t.ok(res.statusCode === 401 || res.statusCode === 404, `${url}: ${res.statusCode} (never served without credentials)`)
  }
  for (const method of ['OPTIONS', 'TRACE', 'POST', 'DELETE'] as const) {
    const res = await app.inject({ method, url: '/admin/queues/api/queues' })
    t.not(res.statusCode, 200, `${method} /admin/queues/api/queues without credentials: ${res.statusCode}`)
  }

  // The right credentials open them (so the refusals above are about the credentials).
  for (const url of ['/metrics', '/admin/queues/api/queues', '/admin/queues']) {
    const res = await app.inject({ url, headers: { authorization: basicAuth(USER, SECRETS.adminPassword) } })
    t.equal(res.statusCode, 200, `${url} with the right credentials`)
  }
  for (const url of open) t.equal((await app.inject({ url })).statusCode === 200 || (await app.inject({ url })).statusCode === 503, true, `${url} open for probes`)
})

t.test('the public port serves no admin route', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const config = testConfig({ sources: [{ name: 'a', kind: 'adobe-io-events', verify: 'none' }] }, { QUEUE_PREFIX: prefix })
  const app = await buildTestApp(t, config)
  for (const url of ['/metrics', '/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/app.js']) {
    const res = await app.inject({ url, headers: { authorization: basicAuth(USER, SECRETS.adminPassword) } })
    t.equal(res.statusCode, 404, `${url} not on the public port`)
  }
})
