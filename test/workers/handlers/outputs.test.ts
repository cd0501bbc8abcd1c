import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { GatewayConfig } from '../../../src/config.ts'
import type { Envelope } from '../../../src/ingest/envelope.ts'
import { JobStatusStore } from '../../../src/job-status.ts'
import { QUEUE, jobIdFor } from '../../../src/queues.ts'
import { outputDirFor, safeFileName, withoutQuery } from '../../../workers/handlers/outputs.ts'
import { eventually, httpServer, jobsCompleted, tempDir, testConfig, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { envelope, eventQueue, inspectQueue, startTestWorkers } from '../harness.ts'

const CAP = 1000
const FILE = randomBytes(700)
const TOKEN = 'tok-abc'

/** Output storage: one route per behaviour, hits counted per path. */
async function storage (t: Test) {
  const hits = new Map<string, number>()
  const auth: (string | undefined)[] = []
  let port = 0
  const srv = await httpServer(t, (req, res) => {
    const path = (req.url ?? '').split('?')[0]!
    const n = (hits.get(path) ?? 0) + 1
    hits.set(path, n)
    switch (path) {
      case '/file.bin': res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': FILE.length }).end(FILE); return
      case '/to-file': res.writeHead(302, { location: '/file.bin?sig=1' }).end(); return
      case '/to-elsewhere': res.writeHead(302, { location: `http://localhost:${port}/file.bin` }).end(); return
      case '/loop': res.writeHead(307, { location: '/loop' }).end(); return
      case '/big': res.writeHead(200, { 'content-length': CAP * 5 }).end(Buffer.alloc(CAP * 5)); return
      case '/big-chunked':
        res.writeHead(200)
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(CAP / 2))
        res.end()
        return
      case '/gone': res.writeHead(403).end('<Error>AccessDenied</Error>'); return
      case '/hangs-once': if (n === 1) return; res.writeHead(200).end(FILE); return
      case '/flaky': if (n === 1) res.writeHead(503).end(); else res.writeHead(200).end(FILE); return
      case '/throttled': if (n === 1) res.writeHead(429, { 'retry-after': '0' }).end(); else res.writeHead(200).end(FILE); return
      case '/status/1':
      case '/status/2':
        auth.push(req.headers.authorization)
        if (req.headers.authorization !== `Bearer ${TOKEN}` || req.headers['x-api-key'] !== 'client-1') { res.writeHead(401).end(); return }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'succeeded', path }))
        return
      default: res.writeHead(404).end()
    }
  })
  port = srv.port
  return { ...srv, hits, auth, count: (path: string) => hits.get(path) ?? 0 }
}

/** IMS stand-in: answers the client-credentials grant, keeps every form it got. */
async function tokenServer (t: Test) {
  const forms: URLSearchParams[] = []
  const srv = await httpServer(t, (req, res, body) => {
    forms.push(new URLSearchParams(body.toString()))
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: TOKEN, token_type: 'bearer', expires_in: 86399 }))
  })
  return { ...srv, forms }
}

async function setup (t: Test, extra: Partial<GatewayConfig> = {}, outputTimeoutMs = 2000) {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dir = await tempDir(t)
  const config = {
    ...testConfig({
      sources: [
        { name: 'pdf', kind: 'pdf-services', auth: { type: 'none' } },
        { name: 'dgr', kind: 'adobe-io-events', verify: 'none' }
      ],
      outputs: { dir, allowHosts: ['127.0.0.1'], allowHttp: true, maxBytes: CAP, timeoutMs: outputTimeoutMs }
    }, { QUEUE_PREFIX: prefix, JOB_BACKOFF_MS: '10', JOB_ATTEMPTS: '3' }),
    ...extra
  }
  await startTestWorkers(t, config)
  const queue = await eventQueue(t, config)
  const outputs = inspectQueue(t, config, QUEUE.outputs, redis)
  const store = new JobStatusStore(redis, prefix)
  const run = async (event: Envelope) => {
    await queue.add(event.source.slice('aeg://'.length), [event])
    const id = jobIdFor(event.id, 'outputs')
    const state = await eventually(async () => {
      const s = await outputs.getJobState(id)
      return s === 'completed' || s === 'failed' ? s : undefined
    })
    return { state, job: (await outputs.getJob(id))!, dir: outputDirFor(dir, event.id) }
  }
  return { config, dir, outputs, store, run }
}

let seq = 0
function pdfDone (url: string): Envelope {
  const jobId = `pdf-job-${++seq}`
  return envelope('pdf', 'pdf-services', {
    key: `${jobId}/succeeded`,
    type: 'com.adobe.pdf-services.job-status',
    jobId,
    status: 'succeeded',
    data: { jobID: jobId, statusResponse: { status: 'done', asset: { downloadUri: url } } }
  })
}

function dgrSucceeded (statusUrl: string): Envelope {
  const jobId = `dgr-job-${++seq}`
  return envelope('dgr', 'adobe-io-events', {
    key: `ev-${seq}`,
    type: 'com.adobe.dgr.job_succeeded',
    jobId,
    status: 'succeeded',
    statusUrl,
    data: { data: { value: { job_id: jobId, status: 'succeeded', status_url: statusUrl } } }
  })
}

const files = async (dir: string) => await readdir(dir).catch(() => [] as string[])

t.test('file names and recorded URLs are safe', async t => {
  t.equal(safeFileName('../../etc/passwd', 'x'), 'etc_passwd')
  t.equal(safeFileName('.hidden', 'x'), 'hidden')
  t.equal(safeFileName('', 'output-0'), 'output-0')
  t.equal(safeFileName('résumé final.pdf', 'x'), 'r_sum_final.pdf')
  t.equal(withoutQuery('https://bucket.s3.amazonaws.com/a/b.pdf?X-Amz-Signature=secret#x'), 'https://bucket.s3.amazonaws.com/a/b.pdf')
})

t.test('allowed host: the file lands with the right bytes, recorded without the query; a redelivery fetches nothing', async t => {
  const s = await storage(t)
  const { run, store, outputs } = await setup(t)
  const event = pdfDone(`${s.url}/file.bin?X-Amz-Signature=very-secret`)
  const { state, dir } = await run(event)
  t.equal(state, 'completed')
  t.same(await readFile(join(dir, 'output.pdf')), FILE)
  t.same(await files(dir), ['output.pdf'], 'no temp file left behind')
  const status = await store.get(event.jobid!)
  t.equal(status?.outputs.length, 1)
  t.same(status?.outputs[0], { url: `${s.url}/file.bin`, file: join(dir, 'output.pdf'), bytes: FILE.length, at: status?.outputs[0]?.at })
  t.notMatch(JSON.stringify(status), /very-secret/)

  // Redelivery (the completed job was removed by retention, then the same job came again).
  const id = jobIdFor(event.id, 'outputs')
  await outputs.remove(id)
  await outputs.add('outputs', { eventId: event.id, jobId: event.jobid, outputs: [{ url: `${s.url}/file.bin?X-Amz-Signature=very-secret`, name: 'output.pdf' }] }, { jobId: id })
  // The same job id completed before: its state, not the event stream (which holds the first completion too), tells this run is done.
  await eventually(async () => await outputs.getJobState(id) === 'completed')
  t.equal(s.count('/file.bin'), 1, 'fetched once')
  t.same((await outputs.getJob(id))?.returnvalue, { outputs: ['present'] })
})

t.test('a redirect inside the allow-list is followed', async t => {
  const s = await storage(t)
  const { run } = await setup(t)
  const { state, dir } = await run(pdfDone(`${s.url}/to-file`))
  t.equal(state, 'completed')
  t.same(await readFile(join(dir, 'output.pdf')), FILE)
})

const refusals: [string, (url: string, port: number) => string, RegExp][] = [
  ['host outside the allow-list', (_url, port) => `http://localhost:${port}/file.bin`, /URL not allowed \(host localhost:\d+ is not in the allow-list\)/],
  ['redirect to a host outside the allow-list', url => `${url}/to-elsewhere`, /redirected to a URL that is not allowed \(host localhost:\d+ is not in the allow-list\)/],
  ['redirect loop', url => `${url}/loop`, /more than 5 redirects/],
  ['declared body over the cap', url => `${url}/big`, /is 5000 bytes, over the 1000-byte cap/],
  ['streamed body over the cap', url => `${url}/big-chunked`, /is over the 1000-byte cap/]
]
for (const [name, urlOf, reason] of refusals) {
  t.test(`${name}: no file, job failed for good with a clear reason`, async t => {
    const s = await storage(t)
    const { run, store } = await setup(t)
    const event = pdfDone(urlOf(s.url, s.port))
    const { state, job, dir } = await run(event)
    t.equal(state, 'failed')
    t.equal(job.attemptsMade, 1, 'not retried')
    t.match(job.failedReason, /^output refused: /)
    t.match(job.failedReason, reason)
    t.same(await files(dir), [], 'no file and no temp file')
    t.match((await store.get(event.jobid!))?.outputs[0]?.error, reason)
    if (name.startsWith('host')) t.equal(s.hits.size, 0, 'the disallowed host was never contacted')
  })
}

t.test('4xx: recorded as not downloadable, not retried, job completed', async t => {
  const s = await storage(t)
  const { run, store } = await setup(t)
  const event = pdfDone(`${s.url}/gone?sig=x`)
  const { state, dir } = await run(event)
  t.equal(state, 'completed')
  t.equal(s.count('/gone'), 1)
  t.same(await files(dir), [])
  const [output] = (await store.get(event.jobid!))!.outputs
  t.equal(output?.downloadable, false)
  t.equal(output?.error, 'answered 403')
  t.equal(output?.url, `${s.url}/gone`)
})

t.test('5xx is retried and then downloaded', async t => {
  const s = await storage(t)
  const { run } = await setup(t)
  const { state, job, dir } = await run(pdfDone(`${s.url}/flaky`))
  t.equal(state, 'completed')
  t.equal(job.attemptsMade, 2)
  t.same(await readFile(join(dir, 'output.pdf')), FILE)
})

t.test('a timeout is retried and then downloaded', async t => {
  const s = await storage(t)
  const { run } = await setup(t, {}, 300)
  const { state, job, dir } = await run(pdfDone(`${s.url}/hangs-once`))
  t.equal(state, 'completed')
  t.equal(job.attemptsMade, 2)
  t.same(await readFile(join(dir, 'output.pdf')), FILE)
  t.same(await files(dir), ['output.pdf'], 'the aborted temp file is gone')
})

t.test('status URLs are fetched with one OAuth token, requested once and reused', async t => {
  const s = await storage(t)
  const ims = await tokenServer(t)
  const { run, store } = await setup(t, {
    oauth: { tokenUrl: `${ims.url}/ims/token/v3`, clientId: 'client-1', clientSecret: 'secret-1', scopes: ['openid', 'AdobeID', 'firefly_api'] }
  })
  const first = dgrSucceeded(`${s.url}/status/1`)
  const second = dgrSucceeded(`${s.url}/status/2`)
  const [a, b] = await Promise.all([run(first), run(second)])
  t.equal(a.state, 'completed')
  t.equal(b.state, 'completed')
  t.same(JSON.parse(await readFile(join(a.dir, 'status.json'), 'utf8')), { status: 'succeeded', path: '/status/1' })
  t.same(JSON.parse(await readFile(join(b.dir, 'status.json'), 'utf8')), { status: 'succeeded', path: '/status/2' })
  t.equal(ims.forms.length, 1, 'one token request for two outputs')
  t.same(Object.fromEntries(ims.forms[0]!), { grant_type: 'client_credentials', client_id: 'client-1', client_secret: 'secret-1', scope: 'openid,AdobeID,firefly_api' })
  t.same(s.auth, [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`])
  t.equal((await store.get(first.jobid!))?.outputs[0]?.bytes, JSON.stringify({ status: 'succeeded', path: '/status/1' }).length)
})

t.test('without an oauth block a status URL is fetched without a token', async t => {
  const s = await storage(t)
  const { run, store } = await setup(t)
  const event = dgrSucceeded(`${s.url}/status/1`)
  const { state } = await run(event)
  t.equal(state, 'completed')
  t.same(s.auth, [undefined])
  t.equal((await store.get(event.jobid!))?.outputs[0]?.downloadable, false, 'the 401 is recorded')
})

t.test('429 is the storage asking to come back: retried, then downloaded', async t => {
  const s = await storage(t)
  const { run } = await setup(t)
  const { state, job, dir } = await run(pdfDone(`${s.url}/throttled`))
  t.equal(state, 'completed')
  t.equal(job.attemptsMade, 2)
  t.same(await readFile(join(dir, 'output.pdf')), FILE)
})

t.test('a refused output does not stop another output\'s retries', async t => {
  const s = await storage(t)
  const { run, store } = await setup(t)
  const jobId = `lr-job-${++seq}`
  const link = (href: string) => ({ status: 'succeeded', _links: { self: { href } } })
  const event = envelope('dgr', 'adobe-io-events', {
    key: `ev-mixed-${seq}`,
    type: 'com.adobe.lightroom.job-status',
    jobId,
    status: 'succeeded',
    data: { event_id: `ev-mixed-${seq}`, event: { body: { jobId, outputs: [link(`http://localhost:${s.port}/file.bin`), link(`${s.url}/flaky`)] } } }
  })
  const { state, job, dir } = await run(event)
  t.equal(state, 'failed', 'fails for good once nothing is left to retry')
  t.equal(job.attemptsMade, 2, 'the 503 output was retried')
  t.match(job.failedReason, /^output refused: .*localhost/)
  t.same(await readFile(join(dir, 'output-1')), FILE, 'the retriable output was downloaded')
  const outputs = (await store.get(jobId))!.outputs
  t.ok(outputs.some(o => o.file !== undefined), 'download recorded')
  t.ok(outputs.some(o => /allow-list/.test(o.error ?? '')), 'refusal recorded')
})

t.test('with an empty allow-list no outputs job is queued at all', async t => {
  const s = await storage(t)
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const config = testConfig({
    sources: [{ name: 'pdf', kind: 'pdf-services', auth: { type: 'none' } }],
    outputs: { dir: await tempDir(t), allowHosts: [], allowHttp: true, maxBytes: CAP, timeoutMs: 2000 }
  }, { QUEUE_PREFIX: prefix })
  await startTestWorkers(t, config)
  const queue = await eventQueue(t, config)
  const events = inspectQueue(t, config, QUEUE.events, redis)
  const outputs = inspectQueue(t, config, QUEUE.outputs, redis)
  const event = pdfDone(`${s.url}/file.bin`)
  await queue.add('pdf', [event])
  await jobsCompleted(events, [jobIdFor(event.id)])
  t.equal(await outputs.getJob(jobIdFor(event.id, 'outputs')), undefined)
  t.equal(s.hits.size, 0)
})
