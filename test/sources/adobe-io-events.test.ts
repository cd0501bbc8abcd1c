import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { SourceConfig } from '../../src/config.ts'
import { adobeIoEvents } from '../../src/sources/adobe-io-events.ts'
import { adobeHmacHeaders, adobeSignedHeaders, buildTestApp, fixture, keyServer, testConfig, uniquePrefix } from '../helpers/index.ts'
import { eventsQueue, makeSource, normalize } from '../helpers/sources.ts'

const CLIENT_ID = 'aeg-test-client-id'
const CLIENT_SECRET = 'legacy-client-secret-1'
const adobeSource: SourceConfig = { name: 'adobe', kind: 'adobe-io-events', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, verify: 'signature' }

/** Lightroom's seed event with a fresh event id and the given per-output statuses. */
function lightroom (...statuses: string[]) {
  const event = fixture('adobe-io-events/lightroom-job-status.json')
  event.event_id = randomUUID()
  const [output] = event.event.body.outputs
  event.event.body.outputs = statuses.map((status, i) => ({ ...structuredClone(output), status, _links: { self: [{ href: `https://storage.example.com/out-${i}.jpg`, storage: 'external' }] } }))
  return event
}

/** A DGR CloudEvent from the seed for one job, with a fresh eventid and the given status. */
function dgr (status: string, jobId = 'ff7b0f8e-47f3-4d8f-9a8b-7a9f9b2f4c42') {
  const event = fixture('adobe-io-events/dgr-single.json')
  event.eventid = randomUUID()
  event.id = randomUUID()
  event.recipientclientid = CLIENT_ID
  event.data.value.status = status
  event.data.value.job_id = jobId
  return event
}

/** An InDesign event for one job whose `type` (and state) is `state`. */
function indesign (state: string) {
  const [event] = fixture('adobe-io-events/indesign-batch.json')
  event.eventid = randomUUID()
  event.type = state
  event.data.value.state = state
  event.recipientclientid = CLIENT_ID
  return event
}

t.test('parse and normalize', async t => {
  const source = makeSource(adobeSource)

  t.test('Lightroom (seed 000): legacy envelope, job id, overall status from outputs', async t => {
    const [envelope] = normalize(source, fixture('adobe-io-events/lightroom-job-status.json'))
    t.equal(envelope!.id, 'adobe/7b59cc70-88d7-4895-b204-87f5350a0cce')
    t.equal(envelope!.type, 'com.adobe.lightroom.job-status')
    t.equal(envelope!.jobid, 'eb4a9211-eb8a-4e88-b853-b9c08ba47427')
    t.equal(envelope!.jobstatus, 'succeeded')
    t.equal(envelope!.statusurl, 'https://image.adobe.io/lrService/status/eb4a9211-eb8a-4e88-b853-b9c08ba47427')
    t.same(envelope!.data, fixture('adobe-io-events/lightroom-job-status.json'))

    t.equal(normalize(source, lightroom('succeeded', 'succeeded'))[0]!.jobstatus, 'succeeded')
    t.equal(normalize(source, lightroom('succeeded', 'failed'))[0]!.jobstatus, 'failed', 'failed if any output failed')
    t.equal(normalize(source, lightroom('failed'))[0]!.jobstatus, 'failed')
    t.equal(normalize(source, lightroom('succeeded', 'running'))[0]!.jobstatus, 'running', 'not done while an output is pending')
  })

  t.test('Photoshop: the same envelope with its own event code', async t => {
    const [envelope] = normalize(source, fixture('adobe-io-events/photoshop-job-status.json'))
    t.equal(envelope!.type, 'com.adobe.photoshop.job-status')
    t.equal(envelope!.id, 'adobe/b412a90e-8bc0-4f0d-931e-9e9b8d24993d')
    t.equal(envelope!.jobid, '63c6e812-6cb8-43de-8a60-3681a9ec6feb', 'the body job id, not the message id')
    t.equal(envelope!.jobstatus, 'succeeded')
  })

  t.test('Dynamic Graphics Render (seed 003): CloudEvents single and batch, eventid as key, both job id spellings', async t => {
    const single = fixture('adobe-io-events/dgr-single.json')
    const source = makeSource({ ...adobeSource, clientId: '<your_console_client_id>' } as SourceConfig)
    const [envelope] = normalize(source, single)
    t.equal(envelope!.id, 'adobe/c3d4e5f6-a7b8-9012-cdef-123456789012')
    t.equal(envelope!.type, '{DGR_EVENT_TYPE_EXAMPLE}')
    t.equal(envelope!.time, '2026-05-13T12:00:00.000Z')
    t.equal(envelope!.jobid, 'ff7b0f8e-47f3-4d8f-9a8b-7a9f9b2f4c42')
    t.equal(envelope!.jobstatus, 'succeeded')
    t.equal(envelope!.statusurl, single.data.value.status_url)

    const batch = normalize(source, fixture('adobe-io-events/dgr-batch.json'))
    t.equal(batch.length, 1)
    t.equal(batch[0]!.jobstatus, 'running')
    t.equal(batch[0]!.id, 'adobe/f6a7b8c9-d0e1-2345-f012-456789012345')

    const camel = fixture('adobe-io-events/dgr-single.json')
    camel.data.value = { jobId: 'camel-job', status: 'failed' }
    t.match(normalize(source, camel)[0], { jobid: 'camel-job', jobstatus: 'failed' })

    const noEventId = fixture('adobe-io-events/dgr-single.json')
    delete noEventId.eventid
    t.equal(normalize(source, noEventId, { 'x-adobe-event-id': 'from-header' })[0]!.id, 'adobe/from-header', 'then the header')
    t.equal(normalize(source, noEventId)[0]!.id, 'adobe/b2c3d4e5-f6a7-8901-bcde-f12345678901', 'then the CloudEvent id')
  })

  t.test('InDesign: job-state types map to statuses; step states keep the job running', async t => {
    const expected: Record<string, string> = {
      QUEUED: 'pending',
      RUNNING: 'running',
      COMPLETED: 'succeeded',
      FAILED: 'failed',
      ASSETS_DOWNLOAD_STARTED: 'running',
      ASSET_DOWNLOAD_FAILED: 'running',
      ASSET_UPLOAD_FAILED: 'running',
      ENGINE_PROCESSING_COMPLETED: 'running',
      ASSETS_UPLOAD_COMPLETED: 'running',
      'com.adobe.indesign.job.succeeded': 'succeeded',
      'indesign.job_failed': 'failed'
    }
    for (const [state, status] of Object.entries(expected)) {
      t.equal(normalize(source, indesign(state))[0]!.jobstatus, status, state)
    }
    // The state in the type alone is enough (no data.value.state)…
    const typeOnly = indesign('COMPLETED')
    delete typeOnly.data.value.state
    t.equal(normalize(source, typeOnly)[0]!.jobstatus, 'succeeded')
    // …and the v3 status spelling in data.value.status wins when present.
    const v3 = indesign('RUNNING')
    v3.data.value.status = 'not_started'
    t.equal(normalize(source, v3)[0]!.jobstatus, 'pending')

    const withRecipient = fixture('adobe-io-events/indesign-batch.json')
    const batch = normalize(makeSource({ ...adobeSource, clientId: '7af7ab96045640b5a6e4724810145eb9' } as SourceConfig), withRecipient)
    t.same(batch.map(e => e.jobstatus), ['pending', 'running', 'running'])
    t.same(batch.map(e => e.jobid), Array(3).fill('8b524c70-6779-47f1-ac2a-ce93c23b3f5f'))
    t.equal(batch[2]!.id, 'adobe/f60a502e-c16b-49c6-b3c1-770666a1921f', 'event_id spelling')
  })

  t.test('Creative Cloud asset_created (seed 001, XDM): type from the event code', async t => {
    const xdm = fixture('adobe-io-events/cc-asset-created-xdm.json')
    const [envelope] = normalize(source, xdm)
    t.equal(envelope!.id, 'adobe/82235bac-2b81-4e70-90b5-2bd1f04b5c7b')
    t.equal(envelope!.type, 'com.adobe.io-events.asset_created', 'xdmCreated on an xdmAsset')
    t.equal(envelope!.time, '2016-07-16T18:20:30.000Z')
    t.notOk(envelope!.jobid)
    t.notOk(envelope!.jobstatus)
    const [fromHeader] = normalize(source, xdm, { 'x-adobe-event-code': 'asset_updated', 'x-adobe-event-id': 'hdr-id' })
    t.equal(fromHeader!.type, 'com.adobe.io-events.asset_updated', 'the x-adobe-event-code header names it when present')
    t.equal(fromHeader!.id, 'adobe/hdr-id')
  })

  t.test('refusals: shape, batch size, recipient', async t => {
    t.throws(() => normalize(source, { hello: 'world' }), { statusCode: 400, code: 'AEG_INVALID_PAYLOAD' })
    t.throws(() => normalize(source, []), { statusCode: 400, code: 'AEG_INVALID_PAYLOAD' })
    t.throws(() => normalize(source, [dgr('running'), { nope: true }]), { statusCode: 400, code: 'AEG_INVALID_PAYLOAD' })
    t.throws(() => normalize(source, Array.from({ length: 21 }, () => dgr('running'))), { statusCode: 400, code: 'AEG_BATCH_TOO_LARGE' })
    t.equal(normalize(source, Array.from({ length: 20 }, () => dgr('running'))).length, 20)
    const other = dgr('succeeded')
    other.recipientclientid = 'someone-else'
    t.throws(() => normalize(source, [dgr('running'), other]), { statusCode: 403, code: 'AEG_RECIPIENT_MISMATCH' })
    const legacy = lightroom('succeeded')
    legacy.recipient_client_id = 'someone-else'
    t.throws(() => normalize(source, legacy), { statusCode: 403, code: 'AEG_RECIPIENT_MISMATCH' })
  })
})

t.test('outputs', async t => {
  const source = makeSource(adobeSource)
  const [lr] = normalize(source, lightroom('succeeded', 'succeeded'))
  t.same(adobeIoEvents.outputs(lr!), [
    { url: 'https://storage.example.com/out-0.jpg', name: 'output-0' },
    { url: 'https://storage.example.com/out-1.jpg', name: 'output-1' }
  ], 'Lightroom: each output _links.self href')
  t.same(adobeIoEvents.outputs(normalize(source, lightroom('succeeded', 'failed'))[0]!), [], 'nothing for a failed job')
  t.same(adobeIoEvents.outputs(normalize(source, fixture('adobe-io-events/lightroom-job-status.json'))[0]!), [],
    'placeholders that are not URLs are skipped')

  const ps = fixture('adobe-io-events/photoshop-job-status.json')
  ps.event.body.outputs[0]._links.self.href = 'https://bucket.s3.amazonaws.com/ps-out.png'
  t.same(adobeIoEvents.outputs(normalize(source, ps)[0]!), [{ url: 'https://bucket.s3.amazonaws.com/ps-out.png', name: 'output-0' }],
    'Photoshop: _links.self as an object')

  t.same(adobeIoEvents.outputs(normalize(source, dgr('succeeded'))[0]!), [
    { url: 'https://audio-video-api.adobe.io/v1/status/ff7b0f8e-47f3-4d8f-9a8b-7a9f9b2f4c42', name: 'status.json', oauth: true }
  ], 'DGR: the status URL, fetched with the OAuth token')
  t.same(adobeIoEvents.outputs(normalize(source, dgr('running'))[0]!), [])
  t.same(adobeIoEvents.outputs(normalize(source, fixture('adobe-io-events/cc-asset-created-xdm.json'))[0]!), [])
})

t.test('through the edge', async t => {
  const keys = await keyServer(t)
  const prefix = uniquePrefix()
  const app = await buildTestApp(t, testConfig({ sources: [adobeSource] }, { QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: keys.url }))
  const events = eventsQueue(t, prefix)
  const post = (body: unknown, sign: 'rsa' | 'hmac' = 'rsa', extra: Record<string, string> = {}) => {
    const raw = JSON.stringify(body)
    const headers = sign === 'rsa' ? adobeSignedHeaders(raw) : adobeHmacHeaders(raw, CLIENT_SECRET)
    return app.inject({ method: 'POST', url: '/webhooks/adobe', headers: { ...headers, ...extra }, payload: raw })
  }
  const queuedFor = async (jobId: string) => (await events.envelopes()).filter(e => e.jobid === jobId)

  t.test('Lightroom succeeded (digital signature) and failed (legacy HMAC) give the right overall status', async t => {
    const ok = lightroom('succeeded')
    ok.event.body.jobId = 'lr-ok'
    const bad = lightroom('succeeded', 'failed')
    bad.event.body.jobId = 'lr-bad'
    t.equal((await post(ok)).statusCode, 200)
    t.equal((await post(bad, 'hmac')).statusCode, 200)
    t.match(await queuedFor('lr-ok'), [{ id: `adobe/${ok.event_id}`, jobstatus: 'succeeded', type: 'com.adobe.lightroom.job-status' }])
    t.match(await queuedFor('lr-bad'), [{ id: `adobe/${bad.event_id}`, jobstatus: 'failed' }])
  })

  t.test('DGR batch with running and succeeded for one job → both queued', async t => {
    const batch = [dgr('running', 'dgr-job'), dgr('succeeded', 'dgr-job')]
    const res = await post(batch, 'rsa', { 'content-type': 'application/cloudevents-batch+json' })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { received: 2 })
    t.same((await queuedFor('dgr-job')).map(e => e.jobstatus).sort(), ['running', 'succeeded'])
    t.equal((await post(batch)).statusCode, 200, 'a redelivered batch is accepted…')
    t.equal((await queuedFor('dgr-job')).length, 2, '…and not queued again')
  })

  t.test('InDesign states through the edge', async t => {
    const states = ['QUEUED', 'ASSET_DOWNLOAD_FAILED', 'COMPLETED'].map(indesign)
    for (const e of states) e.data.value.jobId = 'idml-job'
    t.equal((await post(states)).statusCode, 200)
    t.same((await queuedFor('idml-job')).map(e => [e.type, e.jobstatus]).sort(),
      [['ASSET_DOWNLOAD_FAILED', 'running'], ['COMPLETED', 'succeeded'], ['QUEUED', 'pending']])
  })

  t.test('XDM asset_created accepted, type from the event', async t => {
    const xdm = fixture('adobe-io-events/cc-asset-created-xdm.json')
    xdm['@id'] = randomUUID()
    t.equal((await post(xdm)).statusCode, 200)
    const queued = (await events.envelopes()).find(e => e.id === `adobe/${xdm['@id']}`)
    t.equal(queued?.type, 'com.adobe.io-events.asset_created')
    t.same(queued?.data, xdm)
  })

  t.test('a body signed by someone else → 401, nothing queued', async t => {
    const before = (await events.envelopes()).length
    const raw = JSON.stringify(lightroom('succeeded'))
    const res = await app.inject({ method: 'POST', url: '/webhooks/adobe', headers: adobeSignedHeaders(raw + ' '), payload: raw })
    t.equal(res.statusCode, 401)
    const hmac = await app.inject({ method: 'POST', url: '/webhooks/adobe', headers: adobeHmacHeaders(raw, 'another-secret'), payload: raw })
    t.equal(hmac.statusCode, 401)
    t.equal((await events.envelopes()).length, before)
  })
})
