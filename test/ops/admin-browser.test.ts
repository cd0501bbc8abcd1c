import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { chromium, type BrowserContext } from 'playwright-core'
import t from 'tap'
import { QUEUE } from '../../src/queues.ts'
import { startGateway } from '../../src/gateway.ts'
import {
  ADMIN, adobeSignedHeaders, captureLog, eventually, keyServer, lightroomBody, REDIS_URL, roleEnv, ROOT, testConfig, testRedis, uniquePrefix
} from '../helpers/index.ts'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = join(ROOT, 'docs', 'bull-board.png')
// Debian's Chromium, headless, quiet: no background or update traffic.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Only the gateway on 127.0.0.1 may be reached (Bull Board's page links a web font from the internet). */
async function localOnly (context: BrowserContext, blocked: string[]) {
  await context.route('**/*', async route => {
    const url = new URL(route.request().url())
    if (url.hostname === '127.0.0.1') return await route.continue()
    blocked.push(url.origin)
    return await route.abort()
  })
}

t.test('Bull Board in a real browser: basic auth, every queue with its job counts, screenshot', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium); the browser test cannot run` }, async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const keys = await keyServer(t)
  const config = testConfig({ sources: [{ name: 'adobe', kind: 'adobe-io-events', verify: 'signature' }] }, {
    ...roleEnv({ prefix, keysUrl: keys.url }),
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password
  })
  const running = await startGateway(config, captureLog('warn').logger)
  t.teardown(() => running.close())
  const publicUrl = `http://127.0.0.1:${(running.app.server.address() as AddressInfo).port}`
  const adminUrl = `http://127.0.0.1:${(running.admin!.server.address() as AddressInfo).port}`
  await eventually(async () => (await fetch(`${publicUrl}/readyz`)).status === 200)

  // Something to look at: three accepted events waiting (no workers here) and one dead-letter forward.
  for (let i = 0; i < 3; i++) {
    const body = lightroomBody(`evt-board-${i}`)
    const res = await fetch(`${publicUrl}/webhooks/adobe`, { method: 'POST', headers: adobeSignedHeaders(body), body })
    t.equal(res.status, 200)
  }
  const forward = new Queue(QUEUE.forward, { connection: redis, prefix })
  t.teardown(() => forward.close())
  await forward.add('orders-service', { destination: 'orders-service' }, { jobId: 'dead-letter-1', attempts: 1 })
  const failing = new Worker(QUEUE.forward, async () => { throw new Error('destination answered 410') },
    { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix })
  await eventually(async () => (await forward.getJobState('dead-letter-1')) === 'failed')
  await failing.close()
  await failing.disconnect()

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  t.teardown(() => browser.close())
  const blocked: string[] = []

  // Without credentials the board is refused.
  const anonymous = await browser.newContext()
  await localOnly(anonymous, blocked)
  // Chromium turns the 401 challenge it cannot answer into ERR_INVALID_AUTH_CREDENTIALS.
  const refused = await (await anonymous.newPage()).goto(`${adminUrl}/admin/queues`)
    .then(r => `status ${r?.status()}`, (err: Error) => /ERR_INVALID_AUTH_CREDENTIALS/.test(err.message) ? 'auth refused' : err.message)
  t.ok(['status 401', 'auth refused'].includes(refused), `no credentials, no board (${refused})`)
  await anonymous.close()

  const context = await browser.newContext({ httpCredentials: { username: ADMIN.user, password: ADMIN.password }, viewport: { width: 1280, height: 760 } })
  await localOnly(context, blocked)
  const page = await context.newPage()
  const res = await page.goto(`${adminUrl}/admin/queues`)
  t.equal(res?.status(), 200, 'logged in with basic auth')

  // The overview lists every queue the gateway uses, each with its job count.
  const main = page.locator('main')
  for (const name of [QUEUE.events, QUEUE.forward, QUEUE.outputs]) {
    await main.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 })
  }
  await main.getByText('3 Jobs').first().waitFor({ timeout: 15_000 })
  const text = await main.innerText()
  t.match(text, /events[\s\S]*3 Jobs/, 'the events queue shows its 3 waiting jobs')
  t.match(text, /forward[\s\S]*1 Job/, 'the forward queue shows its failed job')
  t.match(text, /outputs[\s\S]*0 Jobs/, 'the outputs queue is listed, empty')

  await mkdir(join(ROOT, 'docs'), { recursive: true })
  await page.screenshot({ path: SCREENSHOT })
  t.ok(existsSync(SCREENSHOT), `screenshot saved to ${SCREENSHOT}`)

  // The failed job is one click away, with its reason, and can be retried.
  await page.goto(`${adminUrl}/admin/queues/queue/${QUEUE.forward}?status=failed`)
  await page.getByText('destination answered 410').first().waitFor({ timeout: 15_000 })
  t.ok(await page.getByRole('button', { name: /retry/i }).first().isVisible(), 'a retry button is offered')
  await context.close()
  if (blocked.length > 0) t.comment(`blocked off-machine requests: ${[...new Set(blocked)].join(', ')}`)
})
