import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { pino } from 'pino'
import t from 'tap'
import type { SourceConfig } from '../../src/config.ts'
import type { Envelope } from '../../src/ingest/envelope.ts'
import type { JobStatus } from '../../src/job-status.ts'
import { QUEUE } from '../../src/queues.ts'
import { startWorkers } from '../../workers/start.ts'
import { adobeSignedHeaders, buildTestApp, destination, dgrJobEvents, eventually, fixture, keyServer, testConfig, testRedis, uniquePrefix } from '../helpers/index.ts'
import { queuesDrained } from '../workers/harness.ts'

// Every seed provider, the whole way: POST → edge → events queue → worker →
// job status (GET /jobs/:jobId) and a signed forward to a local destination.

const CLIENT_ID = 'aeg-e2e-client'
const PDF_TOKEN = 'pdf-e2e-token-0123456789'
const ALM_AUTH = `Basic ${Buffer.from('alm:alm-e2e-password').toString('base64')}`
const SINK_SECRET = 'sink-secret-0123456789'
const sources: SourceConfig[] = [
  { name: 'adobe', kind: 'adobe-io-events', clientId: CLIENT_ID, verify: 'signature' },
  { name: 'pdf', kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: PDF_TOKEN } },
  { name: 'alm', kind: 'learning-manager', auth: { type: 'basic', username: 'alm', password: 'alm-e2e-password' } }
]

t.test('end to end, per provider', async t => {
  const keys = await keyServer(t)
  const sink = await destination(t, { secret: SINK_SECRET })
  const forwards = () => sink.received.map(r => ({ id: String(r.headers['webhook-id']), signatureOk: r.signed, envelope: JSON.parse(r.body) as Envelope }))
  const prefix = uniquePrefix()
  const outputsDir = mkdtempSync(join(tmpdir(), 'aeg-e2e-outputs-'))
  t.teardown(() => rmSync(outputsDir, { recursive: true, force: true }))
  const config = testConfig({
    sources,
    outputs: { dir: outputsDir, allowHosts: [], allowHttp: false, maxBytes: 1024 * 1024, timeoutMs: 5000 },
    destinations: [{ name: 'sink', url: `${sink.url}/adobe-jobs`, secret: SINK_SECRET }]
  }, { QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: keys.url, JOB_BACKOFF_MS: '50', JOB_ATTEMPTS: '3' })
  const redis = testRedis(t, prefix) // also wipes the prefix at teardown
  const queues = [QUEUE.events, QUEUE.forward].map(name => new Queue(name, { connection: redis, prefix }))
  t.teardown(() => Promise.all(queues.map(q => q.close())))
  const drained = () => queuesDrained(queues)
  const app = await buildTestApp(t, config)
  const workers = await startWorkers(config, pino({ level: 'silent' }))
  t.teardown(() => workers.close())

  const post = (source: string, body: unknown, headers: (raw: string) => Record<string, string>) => {
    const raw = JSON.stringify(body)
    return app.inject({ method: 'POST', url: `/webhooks/${source}`, headers: { 'content-type': 'application/json', ...headers(raw) }, payload: raw })
  }
  const signed = (raw: string) => adobeSignedHeaders(raw)
  const jobStatus = async (jobId: string): Promise<JobStatus | undefined> => {
    const res = await app.inject({ method: 'GET', url: `/jobs/${encodeURIComponent(jobId)}` })
    return res.statusCode === 200 ? res.json() : undefined
  }
  const forwardedFor = (predicate: (e: Envelope) => boolean) => forwards().filter(f => predicate(f.envelope))
  /** Waits for the first forward matching `predicate`. */
  const forwardOf = async (predicate: (e: Envelope) => boolean): Promise<ReturnType<typeof forwards>[number]> =>
    (await eventually(() => forwardedFor(predicate)[0]))!
  /** Waits until the job's status document has `n` history entries. */
  const statusWithHistory = async (jobId: string, n: number): Promise<JobStatus> =>
    (await eventually(async () => { const s = await jobStatus(jobId); return s !== undefined && s.history.length === n ? s : undefined }))!

  t.test('Lightroom: succeeded and failed outputs → job status and forward', async t => {
    for (const [jobId, statuses, expected] of [['lr-e2e-ok', ['succeeded'], 'succeeded'], ['lr-e2e-bad', ['succeeded', 'failed'], 'failed']] as const) {
      const event = fixture('adobe-io-events/lightroom-job-status.json')
      event.event_id = randomUUID()
      event.event.body.jobId = jobId
      event.event.body.outputs = statuses.map(status => ({ ...event.event.body.outputs[0], status }))
      t.equal((await post('adobe', event, signed)).statusCode, 200)
      const status = await eventually(() => jobStatus(jobId))
      t.match(status, { jobId, status: expected, source: 'adobe', history: [{ status: expected, eventId: `adobe/${event.event_id}` }] })
      const forward = await forwardOf(e => e.jobid === jobId)
      t.equal(forward.id, `adobe/${event.event_id}`)
      t.ok(forward.signatureOk, 'Standard Webhooks signature verifies')
      t.equal(forward.envelope.type, 'com.adobe.lightroom.job-status')
    }
  })

  t.test('DGR: running then succeeded for one job → succeeded, both forwarded', async t => {
    const jobId = `dgr-e2e-${randomUUID()}`
    const batch = dgrJobEvents(jobId, ['running', 'succeeded'], CLIENT_ID)
    t.equal((await post('adobe', batch, signed)).statusCode, 200)
    const status = await statusWithHistory(jobId, 2)
    t.equal(status.status, 'succeeded')
    t.same(status.history.map(h => h.status).sort(), ['running', 'succeeded'])
    await eventually(() => forwardedFor(e => e.jobid === jobId).length === 2)

    // A late `running` (redelivered with a new event id) never overwrites the terminal status.
    const late = { ...batch[0], eventid: randomUUID() }
    t.equal((await post('adobe', late, signed)).statusCode, 200)
    t.equal((await statusWithHistory(jobId, 3)).status, 'succeeded')
  })

  t.test('InDesign: job states through to the status', async t => {
    const jobId = `idml-e2e-${randomUUID()}`
    const batch = ['QUEUED', 'ASSET_DOWNLOAD_FAILED', 'COMPLETED'].map(state => {
      const [event] = fixture('adobe-io-events/indesign-batch.json')
      event.eventid = randomUUID()
      event.recipientclientid = CLIENT_ID
      event.type = state
      event.data.value = { ...event.data.value, jobId, state }
      return event
    })
    t.equal((await post('adobe', batch, signed)).statusCode, 200)
    const status = await statusWithHistory(jobId, 3)
    t.equal(status.status, 'succeeded', 'a failed step does not fail the job; COMPLETED ends it')
  })

  t.test('Creative Cloud asset_created: forwarded, no job status', async t => {
    const xdm = fixture('adobe-io-events/cc-asset-created-xdm.json')
    xdm['@id'] = randomUUID()
    t.equal((await post('adobe', xdm, signed)).statusCode, 200)
    const forward = await forwardOf(e => e.id === `adobe/${xdm['@id']}`)
    t.equal(forward.envelope.type, 'com.adobe.io-events.asset_created')
    t.same(forward.envelope.data, xdm)
  })

  t.test('PDF Services: done → succeeded; failure → failed with the error code kept', async t => {
    const done = fixture('pdf-services/done.json')
    done.jobID = `pdf-e2e-ok-${randomUUID()}`
    const res = await post('pdf', done, () => ({ 'x-callback-token': PDF_TOKEN }))
    t.equal(res.body, '{"ack":"done"}')
    t.match(await eventually(() => jobStatus(done.jobID)), { status: 'succeeded', source: 'pdf' })

    const failed = fixture('pdf-services/failed.json')
    failed.jobID = `pdf-e2e-bad-${randomUUID()}`
    for (let i = 0; i < 2; i++) t.equal((await post('pdf', failed, () => ({ 'x-callback-token': PDF_TOKEN }))).body, '{"ack":"done"}')
    const status = (await eventually(() => jobStatus(failed.jobID)))!
    t.equal(status.status, 'failed')
    t.match(status.history, [{ status: 'failed', error: 'INVALID_PROVIDER_NAME', eventId: `pdf/${failed.jobID}/failed` }])
    const forward = await forwardOf(e => e.jobid === failed.jobID)
    t.equal(forward.envelope.joberror, 'INVALID_PROVIDER_NAME')
    t.equal((forward.envelope.data as any).statusResponse.error.code, 'INVALID_PROVIDER_NAME')
    await eventually(drained)
    t.equal(forwardedFor(e => e.jobid === failed.jobID).length, 1, 'the duplicate callback is not forwarded again')
  })

  t.test('Learning Manager: 3 events → 3 forwards; a repeated eventId is not forwarded twice', async t => {
    const seed = fixture('learning-manager/course-enrollment.json')
    const ids: string[] = [randomUUID(), randomUUID(), randomUUID()]
    seed.events = ids.map((eventId, i) => ({ ...seed.events[0], eventId, timestamp: i === 1 ? '2024-09-27T05:24:03Z' : seed.events[0].timestamp }))
    t.equal((await post('alm', seed, () => ({ authorization: ALM_AUTH }))).statusCode, 200)
    const mine = () => forwardedFor(e => ids.includes(String((e.data as { eventId?: string }).eventId)))
    await eventually(() => mine().length === 3)
    t.same(mine().map(f => f.id).sort(), ids.map(id => `alm/${id}`).sort())
    t.ok(mine().every(f => f.signatureOk && f.envelope.type === 'com.adobe.learning-manager.COURSE_ENROLLMENT_BATCH'))

    // The same events again plus one new: only the new one is forwarded.
    const again = structuredClone(seed)
    const fresh = randomUUID()
    ids.push(fresh)
    again.events.push({ ...seed.events[0], eventId: fresh })
    t.equal((await post('alm', again, () => ({ authorization: ALM_AUTH }))).statusCode, 200)
    await eventually(() => mine().length >= 4)
    await eventually(drained)
    t.equal(mine().length, 4)
    t.equal(mine().filter(f => f.id === `alm/${ids[0]}`).length, 1)
    t.equal(await jobStatus(seed.events[0].loId), undefined, 'learning events are not stored as job statuses')
  })
})
