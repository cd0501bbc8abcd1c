import t from 'tap'
import type { SourceConfig } from '../../src/config.ts'
import { pdfServices } from '../../src/sources/pdf-services.ts'
import { buildTestApp, fixture, testConfig, uniquePrefix } from '../helpers/index.ts'
import { eventsQueue, makeSource, normalize } from '../helpers/sources.ts'

const TOKEN = 'pdf-callback-token-0123456789'
const pdfSource: SourceConfig = { name: 'pdf', kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: TOKEN } }

t.test('parse and normalize', async t => {
  const source = makeSource(pdfSource)

  t.test('done → succeeded, dedup key from jobID and status', async t => {
    const [envelope, ...rest] = normalize(source, fixture('pdf-services/done.json'))
    t.equal(rest.length, 0)
    t.equal(envelope!.id, 'pdf/<JOB ID>/succeeded')
    t.equal(envelope!.type, 'com.adobe.pdf-services.job-status')
    t.equal(envelope!.jobid, '<JOB ID>')
    t.equal(envelope!.subject, '<JOB ID>')
    t.equal(envelope!.jobstatus, 'succeeded')
    t.equal(envelope!.sourcekind, 'pdf-services')
    t.notOk(envelope!.joberror)
    t.same(envelope!.data, fixture('pdf-services/done.json'), 'data is the callback, untouched')
  })

  t.test('failed keeps the error in data', async t => {
    const [envelope] = normalize(source, fixture('pdf-services/failed.json'))
    t.equal(envelope!.id, 'pdf/<JOB ID>/failed')
    t.equal(envelope!.jobstatus, 'failed')
    t.equal(envelope!.joberror, 'INVALID_PROVIDER_NAME', 'the error code as an envelope extension')
    t.match(envelope!.data, { statusResponse: { error: { code: 'INVALID_PROVIDER_NAME', status: 400 } } })
  })

  t.test('the same job announcing done and failed gives two ids', async t => {
    const [a] = normalize(source, fixture('pdf-services/done.json'))
    const [b] = normalize(source, fixture('pdf-services/failed.json'))
    t.not(a!.id, b!.id)
  })

  t.test('shapes that are not a callback are 400', async t => {
    for (const body of [{}, { jobID: 'x' }, { jobID: 'x', statusResponse: {} }, { jobID: '', statusResponse: { status: 'done' } }, [fixture('pdf-services/done.json')]]) {
      t.throws(() => normalize(source, body), { statusCode: 400, code: 'AEG_INVALID_PAYLOAD' }, JSON.stringify(body))
    }
  })

  t.test('ack is exactly {"ack":"done"}', async t => {
    t.equal(JSON.stringify(source.ack(1)), '{"ack":"done"}')
  })
})

t.test('outputs', async t => {
  const source = makeSource(pdfSource)
  const [done] = normalize(source, fixture('pdf-services/done.json'))
  const outputs = pdfServices.outputs(done!)
  t.equal(outputs.length, 1)
  t.equal(outputs[0]!.url, fixture('pdf-services/done.json').statusResponse.asset.downloadUri)
  t.equal(outputs[0]!.name, 'output.pdf')
  const [failed] = normalize(source, fixture('pdf-services/failed.json'))
  t.same(pdfServices.outputs(failed!), [], 'a failed job has nothing to download')
})

t.test('through the edge', async t => {
  const prefix = uniquePrefix()
  const app = await buildTestApp(t, testConfig({ sources: [pdfSource] }, { QUEUE_PREFIX: prefix }))
  const events = eventsQueue(t, prefix)
  const post = (body: unknown, headers: Record<string, string> = { 'x-callback-token': TOKEN }) =>
    app.inject({ method: 'POST', url: '/webhooks/pdf', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) })

  t.test('right token → 200 {"ack":"done"}, queued once; a duplicate gets the same answer', async t => {
    for (let i = 0; i < 2; i++) {
      const res = await post(fixture('pdf-services/done.json'))
      t.equal(res.statusCode, 200)
      t.equal(res.body, '{"ack":"done"}')
      t.match(res.headers['content-type'], /^application\/json/)
    }
    const queued = await events.envelopes()
    t.equal(queued.length, 1, 'the duplicate is not queued again')
    t.match(queued[0], { id: 'pdf/<JOB ID>/succeeded', jobstatus: 'succeeded', jobid: '<JOB ID>', source: 'aeg://pdf' })
  })

  t.test('wrong or missing token → 401, nothing queued', async t => {
    const before = (await events.envelopes()).length
    const wrong = await post(fixture('pdf-services/failed.json'), { 'x-callback-token': TOKEN.replace(/.$/, 'X') })
    t.equal(wrong.statusCode, 401)
    t.equal(wrong.json().error.code, 'AEG_CREDENTIALS_INVALID')
    const missing = await post(fixture('pdf-services/failed.json'), {})
    t.equal(missing.statusCode, 401)
    t.equal(missing.json().error.code, 'AEG_CREDENTIALS_MISSING')
    t.equal((await events.envelopes()).length, before)
  })

  t.test('failure payload → queued with jobstatus failed and the error code kept', async t => {
    const body = fixture('pdf-services/failed.json')
    body.jobID = 'job-that-failed'
    const res = await post(body)
    t.equal(res.statusCode, 200)
    t.equal(res.body, '{"ack":"done"}')
    const queued = (await events.envelopes()).find(e => e.jobid === 'job-that-failed')
    t.ok(queued)
    t.equal(queued!.jobstatus, 'failed')
    t.equal(queued!.joberror, 'INVALID_PROVIDER_NAME')
    t.equal((queued!.data as any).statusResponse.error.code, 'INVALID_PROVIDER_NAME')
  })
})

t.test('basic auth is also accepted', async t => {
  const prefix = uniquePrefix()
  const app = await buildTestApp(t, testConfig({
    sources: [{ name: 'pdf', kind: 'pdf-services', auth: { type: 'basic', username: 'adobe', password: 'pdf-pass-123' } }]
  }, { QUEUE_PREFIX: prefix }))
  const events = eventsQueue(t, prefix)
  const post = (user: string, password: string) => app.inject({
    method: 'POST',
    url: '/webhooks/pdf',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    payload: JSON.stringify(fixture('pdf-services/done.json'))
  })
  t.equal((await post('adobe', 'wrong')).statusCode, 401)
  const ok = await post('adobe', 'pdf-pass-123')
  t.equal(ok.statusCode, 200)
  t.equal(ok.body, '{"ack":"done"}')
  t.equal((await events.envelopes()).length, 1)
})
