import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { startGateway, type RunningGateway } from '../src/gateway.ts'
import { ADMIN, adobeSignedHeaders, basic, captureLog, eventually, keyServer, lightroomBody, sample, testConfig, testRedis, uniquePrefix } from './helpers/index.ts'

const sources = [{ name: 'adobe', kind: 'adobe-io-events' as const, verify: 'signature' as const }]
const portOf = (app: RunningGateway['app']) => (app.server.address() as AddressInfo).port

async function start (t: Test, env: Record<string, string>) {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const log = captureLog('info')
  const config = testConfig({ sources }, { HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0', QUEUE_PREFIX: prefix, ...env })
  const running = await startGateway(config, log.logger)
  t.teardown(() => running.close())
  const publicUrl = `http://127.0.0.1:${portOf(running.app)}`
  await eventually(async () => (await fetch(`${publicUrl}/readyz`)).status === 200)
  return { running, log, publicUrl, adminUrl: running.admin && `http://127.0.0.1:${portOf(running.admin)}` }
}

t.test('without admin credentials the admin port stays closed, with a warning, and the public port serves', async t => {
  const { running, log, publicUrl } = await start(t, {})
  t.equal(running.admin, undefined, 'no admin app')
  t.ok(log.lines.some(l => l.level === 40 && l.adminPort !== undefined), 'a warning names the admin port that is not opened')
  t.equal((await fetch(`${publicUrl}/healthz`)).status, 200)
})

t.test('/metrics over the admin port: 401 without credentials, 200 text with them, counters moving with traffic', async t => {
  const keys = await keyServer(t)
  const { adminUrl, publicUrl } = await start(t, { ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password, ADOBE_PUBLIC_KEY_BASE_URL: keys.url })
  t.ok(adminUrl, 'admin port open')

  const anonymous = await fetch(`${adminUrl}/metrics`)
  t.equal(anonymous.status, 401)
  t.match(anonymous.headers.get('www-authenticate'), /^Basic /)
  t.equal((await fetch(`${adminUrl}/healthz`)).status, 200, 'probes need no credentials')

  const scrape = async () => {
    const res = await fetch(`${adminUrl}/metrics`, { headers: { authorization: basic() } })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/plain/)
    return await res.text()
  }
  const before = await scrape()
  const accepted = () => sample(before, 'aeg_webhook_requests_total', { source: 'adobe', code: '200' }) ?? 0
  t.equal(accepted(), 0)

  for (let i = 0; i < 5; i++) {
    const body = lightroomBody(`evt-${i}`)
    const res = await fetch(`${publicUrl}/webhooks/adobe`, { method: 'POST', headers: adobeSignedHeaders(body), body })
    t.equal(res.status, 200)
  }
  const forged = lightroomBody('evt-forged')
  t.equal((await fetch(`${publicUrl}/webhooks/adobe`, { method: 'POST', headers: adobeSignedHeaders('{}'), body: forged })).status, 401)

  const after = await scrape()
  t.equal(sample(after, 'aeg_webhook_requests_total', { source: 'adobe', code: '200' }), 5)
  t.equal(sample(after, 'aeg_webhook_requests_total', { source: 'adobe', code: '401' }), 1)
  t.equal(sample(after, 'aeg_verification_failures_total', { source: 'adobe', reason: 'AEG_SIGNATURE_INVALID' }), 1)
  t.equal(sample(after, 'aeg_enqueue_duration_seconds_count', { outcome: 'ok' }), 5)
  t.equal(sample(after, 'aeg_queue_jobs', { queue: 'events', state: 'waiting' }), 5)
})
