/**
 * `npm run demo`: the whole product working on one machine, in one command.
 * Starts (127.0.0.1, free ports) the simulator's key server, a destination that
 * checks every forward's signature, a fake Adobe journal and IMS, the gateway
 * and one worker; sends one signed event of every seed kind, publishes events
 * to the journal only, and prints what was acknowledged, forwarded and
 * recorded. `npm run demo -- --help` for the flags.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { BULL_BOARD_PATH } from '../src/admin.ts'
import { configWarnings, loadConfig, secretHeaders, type GatewayConfig } from '../src/config.ts'
import { startGateway } from '../src/gateway.ts'
import { JournalPositions, type JournalStatus } from '../src/journal-state.ts'
import { loggerOptions } from '../src/logger.ts'
import { createWorkerRedis } from '../src/redis.ts'
import { startWorkers } from '../workers/start.ts'
import { FAKE_CLIENT, startFakeJournal } from '../test/helpers/fake-journal.ts'
import { destinationServer, type Received } from '../test/helpers/peers.ts'
import { wipe } from '../test/helpers/redis.ts'
import { authHeaders, deliveryHeaders, sampleBodies, serveKeys, simulatorKeys, type Credentials, type SampleKind, type SampleStatus } from './simulator.ts'

const USAGE = `usage: npm run demo [-- --once]

Starts on 127.0.0.1 (free ports): a key server with the simulator's signing keys,
a destination that verifies each forward's Standard Webhooks signature, a fake
Adobe journal + IMS, the gateway and one worker, against REDIS_URL
(default redis://127.0.0.1:6379) under a queue prefix of its own. Sends one
signed event of every seed kind, publishes events to the journal only, and
prints a report. Then keeps running (open Bull Board) until Ctrl-C; on exit it
closes everything and deletes its Redis keys.

  --once          exit right after the report (also DEMO_ONCE=1)
  --timeout SEC   how long to wait for the forwards before saying what is missing (default 60)
  -h, --help      this text

LOG_LEVEL (default warn) sets the gateway's and worker's log level (stderr).
`

const { values } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '60' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
const runOnce = values.once || process.env.DEMO_ONCE === '1'
const timeoutMs = Number(values.timeout) * 1000
if (!(timeoutMs > 0)) {
  process.stderr.write(`demo: --timeout must be a positive number of seconds\n\n${USAGE}`)
  process.exit(2)
}

/** Source names of the demo's config. */
const SOURCE = { adobe: 'adobe', pdf: 'pdf', alm: 'alm' } as const
const CLIENT_ID = 'demo-client-id'

/** One POST the demo sends, and the unique id of each event in it (found again in the forwarded envelope). */
interface Delivery {
  label: string
  kind: SampleKind
  source: string
  body: unknown
  markers: string[]
  status?: number
  answer?: string
}

/** One event expected at the destination. */
interface Expected {
  label: string
  marker: string
  delivery?: Delivery
  forward?: Received
  envelope?: { id: string, jobid?: string, jobstatus?: string }
  recorded?: string
}

const cleanups: (() => Promise<unknown>)[] = []
const work = mkdtempSync(join(tmpdir(), 'aeg-demo-'))
cleanups.push(async () => rmSync(work, { recursive: true, force: true }))
const prefix = `{aeg-demo-${randomBytes(5).toString('hex')}}`
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

let stopping: Promise<void> | undefined
/** Closes everything in reverse order of start and deletes the prefix; idempotent. */
function shutdown (code: number): Promise<void> {
  stopping ??= (async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (err) {
        process.stderr.write(`demo: cleanup failed: ${(err as Error).message}\n`)
        code = code || 1
      }
    }
    process.exitCode = code
  })()
  return stopping
}

async function main (): Promise<number> {
  // From the start, so Ctrl-C at any point still closes what runs and deletes the keys:
  // while starting up, the demo stops at the next step (nothing is left half-started).
  let interrupted = false
  let reported = false
  let wake = () => {}
  const onSignal = () => {
    interrupted = true
    wake()
    if (reported) void shutdown(Number(process.exitCode ?? 0))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const stopIfInterrupted = async () => {
    if (!interrupted) return false
    await shutdown(130)
    return true
  }
  // Without Redis the worker would wait for it forever: say so at once instead.
  const unreachable = await redisProblem(redisUrl)
  if (unreachable !== undefined) {
    process.stderr.write(`demo: Redis at ${redactUrl(redisUrl)} is not reachable (${unreachable}); start one (e.g. docker run --rm -p 6379:6379 redis:7.4.2-alpine) or set REDIS_URL\n`)
    await shutdown(1)
    return 1
  }

  // 1. The gateway's peers.
  const keys = simulatorKeys(join(work, 'keys'))
  const keyServer = await serveKeys(keys, 0)
  cleanups.push(() => keyServer.close())
  const forwardSecret = `whsec_${randomBytes(24).toString('base64')}`
  const expected = new Map<string, Expected>()
  let onArrival = () => {}
  const destination = await destinationServer({
    secret: forwardSecret,
    onRequest: (req) => { match(expected, req); onArrival() }
  })
  cleanups.push(() => destination.close())
  const journal = await startFakeJournal()
  cleanups.push(() => journal.close())

  // 2. The gateway and one worker, configured like a user would (a config file and the environment).
  const pdfToken = randomBytes(18).toString('base64url')
  const almSecret = randomBytes(24).toString('base64url')
  const adminPassword = randomBytes(15).toString('base64url')
  const configFile = join(work, 'gateway.config.json')
  writeFileSync(configFile, JSON.stringify({
    sources: [
      {
        name: SOURCE.adobe,
        kind: 'adobe-io-events',
        clientId: CLIENT_ID,
        verify: 'signature',
        journal: { url: journal.url, imsOrgId: FAKE_CLIENT.imsOrgId, start: 'oldest' }
      },
      { name: SOURCE.pdf, kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: '${DEMO_PDF_TOKEN}' } },
      { name: SOURCE.alm, kind: 'learning-manager', auth: { type: 'hmac', header: 'x-alm-signature', secrets: ['${DEMO_ALM_SECRET}'] } }
    ],
    destinations: [{ name: 'demo-destination', url: `${destination.url}/adobe-jobs`, secret: '${DEMO_FORWARD_SECRET}' }],
    oauth: { tokenUrl: journal.tokenUrl, clientId: FAKE_CLIENT.clientId, clientSecret: '${DEMO_OAUTH_SECRET}', scopes: ['openid'] }
  }, null, 2), { mode: 0o600 })
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    GATEWAY_CONFIG: configFile,
    ADOBE_PUBLIC_KEY_BASE_URL: keyServer.url,
    ADMIN_USER: 'demo',
    ADMIN_PASSWORD: adminPassword,
    // The journal's retention: an event read from it a week late is still recognised as a duplicate.
    DEDUP_WINDOW_SECONDS: '604800',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    DEMO_PDF_TOKEN: pdfToken,
    DEMO_ALM_SECRET: almSecret,
    DEMO_FORWARD_SECRET: forwardSecret,
    DEMO_OAUTH_SECRET: FAKE_CLIENT.clientSecret
  }, work)
  const log = pino(loggerOptions(config.logLevel, secretHeaders(config)), pino.destination(2))
  for (const warning of configWarnings(config)) log.warn(warning, warning.msg)
  // Registered before starting, so a half-started run still deletes its keys.
  cleanups.push(() => wipe(prefix, redisUrl))
  const gateway = await startGateway(config, log.child({ part: 'gateway' }))
  cleanups.push(() => gateway.close())
  const workers = await startWorkers(config, log.child({ part: 'worker' }))
  cleanups.push(() => workers.close())
  const port = (gateway.app.server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}`
  const adminPort = (gateway.admin?.server.address() as AddressInfo | undefined)?.port

  if (await stopIfInterrupted()) return 130

  // 3. One signed event of every seed kind through the webhook port.
  const adobeSigned: Credentials = { type: 'adobe-signature', keys }
  const deliveries: Delivery[] = [
    delivery('Lightroom job status', 'lightroom', 'succeeded', 1),
    delivery('Photoshop job status', 'photoshop', 'failed', 1),
    delivery('DGR single', 'dgr', 'succeeded', 1),
    delivery('DGR batch', 'dgr', 'succeeded', 2),
    delivery('InDesign batch', 'indesign', 'succeeded', 3),
    delivery('CC asset (XDM)', 'cc-asset', 'succeeded', 1),
    delivery('PDF Services done', 'pdf-services', 'succeeded', 1),
    delivery('PDF Services failed', 'pdf-services', 'failed', 1),
    delivery('Learning Manager', 'learning-manager', 'succeeded', 2)
  ]
  for (const d of deliveries) {
    d.markers.forEach((marker, i) => expected.set(marker, { label: d.markers.length > 1 ? `${d.label} ${i + 1}/${d.markers.length}` : d.label, marker, delivery: d }))
  }
  const credentials = (d: Delivery): Credentials =>
    d.source === SOURCE.pdf
      ? { type: 'header', header: 'x-callback-token', value: pdfToken }
      : d.source === SOURCE.alm
        ? { type: 'hmac', header: 'x-alm-signature', secret: almSecret, algorithm: 'sha256', encoding: 'base64', prefix: '' }
        : adobeSigned
  for (const d of deliveries) {
    const raw = JSON.stringify(d.body)
    try {
      const res = await fetch(`${base}/webhooks/${d.source}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...deliveryHeaders(d.kind, d.body), ...authHeaders(raw, credentials(d)) },
        body: raw,
        signal: AbortSignal.timeout(15_000)
      })
      d.status = res.status
      d.answer = (await res.text()).slice(0, 200)
    } catch (err) {
      d.answer = (err as Error).message
    }
  }

  // 4. Journal catch-up: events only the journal has (as if the webhook had been down),
  // and one the webhook already delivered (the dedup makes it one forward).
  const journalOnly = sampleBodies('lightroom', { status: 'succeeded', batch: 1, clientId: CLIENT_ID })[0] as { event_id: string }
  expected.set(journalOnly.event_id, { label: 'Lightroom, journal only', marker: journalOnly.event_id })
  journal.publish(journalOnly)
  const bothWays = deliveries[0]!
  journal.publish(bothWays.body)
  const journalEvents = 2

  // 5. Wait for every forward (bounded: past the guard, say what did not arrive).
  const missing = () => [...expected.values()].filter(e => e.forward === undefined && (e.delivery === undefined || isAcked(e.delivery)))
  const arrived = await new Promise<boolean>(resolve => {
    const guard = setTimeout(() => resolve(false), timeoutMs)
    onArrival = () => { if (missing().length === 0) { clearTimeout(guard); resolve(true) } }
    wake = () => { clearTimeout(guard); resolve(false) }
    onArrival()
  })
  // The journal reader's counters show the both-ways event was read and absorbed.
  const journalState = await journalStatusWhen(config, s => interrupted || s.queued + s.duplicate >= journalEvents, timeoutMs)
  if (await stopIfInterrupted()) return 130

  for (const e of expected.values()) {
    if (e.envelope?.jobid === undefined) continue
    const res = await fetch(`${base}/jobs/${encodeURIComponent(e.envelope.jobid)}`, { signal: AbortSignal.timeout(5000) })
    e.recorded = res.ok ? `${res.status} ${(await res.json() as { status: string }).status}` : `${res.status}`
  }

  const ok = printReport({ deliveries, expected, arrived, missing: missing(), journalState, journalEvents, bothWays, destination, base, adminPort, adminPassword, config })
  reported = true
  if (runOnce || interrupted) {
    await shutdown(ok ? 0 : 1)
  } else {
    process.stdout.write('\nThe demo keeps running so you can look around; Ctrl-C stops it and deletes its Redis keys.\n')
  }
  return ok ? 0 : 1

  function delivery (label: string, kind: SampleKind, status: SampleStatus, batch: number): Delivery {
    const [body] = sampleBodies(kind, { status, batch, clientId: CLIENT_ID })
    const source = kind === 'pdf-services' ? SOURCE.pdf : kind === 'learning-manager' ? SOURCE.alm : SOURCE.adobe
    return { label, kind, source, body, markers: markersOf(kind, body) }
  }
}

/** The id each event of a body carries that no other event has: found again inside the forwarded envelope. */
function markersOf (kind: SampleKind, body: any): string[] {
  const events: any[] = Array.isArray(body) ? body : [body]
  switch (kind) {
    case 'lightroom':
    case 'photoshop': return events.map(e => e.event_id)
    case 'dgr':
    case 'indesign': return events.map(e => e.eventid)
    case 'cc-asset': return events.map(e => e['@id'])
    case 'pdf-services': return events.map(e => e.jobID)
    case 'learning-manager': return body.events.map((e: any) => e.eventId)
  }
}

/** Files a forward under the expected event whose marker its envelope carries. */
function match (expected: Map<string, Expected>, req: Received): void {
  let envelope: Expected['envelope']
  try {
    envelope = JSON.parse(req.body)
  } catch {
    return
  }
  for (const e of expected.values()) {
    // The marker is in the envelope id (the dedup key) or its untouched data.
    if (e.forward === undefined && req.body.includes(e.marker)) {
      e.forward = req
      e.envelope = envelope!
      return
    }
  }
}

/** The URL without its user and password. */
const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//')

/** Why Redis cannot be used, or undefined when it answers PING. */
async function redisProblem (url: string): Promise<string | undefined> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
    return undefined
  } catch (err) {
    return (err as Error).message
  } finally {
    redis.disconnect()
  }
}

const isAcked = (d: Delivery) => d.status !== undefined && d.status >= 200 && d.status < 300

/** Polls the stored journal state (Redis has no event to wait on) until `done`, or until the guard. */
async function journalStatusWhen (config: GatewayConfig, done: (s: JournalStatus) => boolean, guardMs: number): Promise<JournalStatus> {
  const redis = createWorkerRedis(config)
  try {
    const positions = new JournalPositions(redis, config.queuePrefix)
    const until = Date.now() + guardMs
    for (;;) {
      const status = await positions.status(SOURCE.adobe)
      if (done(status) || Date.now() > until) return status
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  } finally {
    await redis.quit()
  }
}

function printReport (r: {
  deliveries: Delivery[]
  expected: Map<string, Expected>
  arrived: boolean
  missing: Expected[]
  journalState: JournalStatus
  journalEvents: number
  bothWays: Delivery
  destination: Awaited<ReturnType<typeof destinationServer>>
  base: string
  adminPort: number | undefined
  adminPassword: string
  config: GatewayConfig
}): boolean {
  const out: string[] = []
  const rows: string[][] = [['event', 'acknowledged', 'forwarded', 'recorded at GET /jobs/:jobId']]
  let ok = true
  for (const e of r.expected.values()) {
    const ack = e.delivery === undefined ? 'journal' : e.delivery.status === undefined ? `no answer (${e.delivery.answer})` : `${e.delivery.status}`
    if (e.delivery !== undefined && !isAcked(e.delivery)) ok = false
    const posts = e.envelope === undefined ? 0 : r.destination.posts.get(e.envelope.id) ?? 0
    const forwarded = e.forward === undefined ? 'NOT ARRIVED' : e.forward.signed ? (posts > 1 ? `signature ok, ${posts} times` : 'signature ok') : 'BAD SIGNATURE'
    if (e.forward === undefined || !e.forward.signed) ok = false
    let recorded: string
    if (e.envelope === undefined) recorded = '-'
    else if (e.envelope.jobid === undefined) recorded = 'no job id (not a job event)'
    else {
      recorded = `${e.recorded ?? 'not read'} (job ${e.envelope.jobid.slice(0, 8)}…)`
      if (!e.recorded?.startsWith('200 ')) ok = false
    }
    rows.push([e.label, ack, forwarded, recorded])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(row => row[i]!.length)))
  out.push('', 'Adobe job-events gateway demo', '')
  for (const row of rows) out.push('  ' + row.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd())
  out.push('')

  const failedAcks = r.deliveries.filter(d => !isAcked(d))
  for (const d of failedAcks) out.push(`  ${d.label}: answered ${d.status ?? 'nothing'} ${d.answer ?? ''}`)
  if (!r.arrived) {
    out.push(`  Did not arrive at the destination within the guard: ${r.missing.map(e => e.label).join(', ')}`)
    ok = false
  }
  if (failedAcks.length > 0 || !r.arrived) out.push('')

  const js = r.journalState
  const journalOk = js.queued + js.duplicate >= r.journalEvents && js.queued >= 1
  if (!journalOk) ok = false
  const bothWaysForwards = r.destination.posts.get(r.expected.get(r.bothWays.markers[0]!)?.envelope?.id ?? '') ?? 0
  out.push(`Journal catch-up: ${r.journalEvents} events published to the fake journal (1 only there, 1 also delivered by webhook); the worker's journal reader:`)
  out.push(`  ${js.queued} came through the journal (queued), ${js.duplicate} recognised as a duplicate of its webhook delivery ("${r.bothWays.label}" forwarded ${bothWaysForwards} time${bothWaysForwards === 1 ? '' : 's'})`)
  out.push('')

  const total = r.expected.size
  const forwarded = [...r.expected.values()].filter(e => e.forward?.signed === true).length
  const acked = r.deliveries.filter(isAcked).length
  out.push(`Summary: ${acked}/${r.deliveries.length} deliveries acknowledged, ${forwarded}/${total} events forwarded with a valid signature, ` +
    `${r.destination.badSignatures} bad signatures, ${r.destination.repeats} repeated forwards`)
  out.push(`Result: ${ok ? 'OK' : 'FAILED'}`)
  out.push('')
  out.push(`Webhooks:   ${r.base}/webhooks/{adobe,pdf,alm}`)
  out.push(`Job status: ${r.base}/jobs/<jobId>`)
  if (r.adminPort !== undefined) {
    out.push(`Bull Board: http://127.0.0.1:${r.adminPort}${BULL_BOARD_PATH}`)
    out.push(`  user ${r.config.admin.user}, password ${r.adminPassword}  (generated for this run only)`)
  }
  out.push(`Redis: ${redactUrl(r.config.redisUrl)} prefix ${r.config.queuePrefix} (deleted on exit)`)
  process.stdout.write(out.join('\n') + '\n')
  return ok
}

// Last, so every module-level constant above is initialised before the demo runs.
try {
  process.exitCode = await main()
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`)
  await shutdown(1)
}
