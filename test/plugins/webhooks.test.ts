import { randomUUID } from 'node:crypto'
import { Queue, Worker } from 'bullmq'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { QUEUE } from '../../src/queues.ts'
import type { RedisClient } from '../../src/redis.ts'
import { adobeHmacHeaders, adobeSignedHeaders, buildTestApp, captureLog, edgeRedis, eventually, fixture, httpServer, keyServer, signingKeys, testConfig, testRedis, uniquePrefix } from '../helpers/index.ts'

const CLIENT_ID = 'test-client-id'
const CLIENT_SECRET = 'test-client-secret-123'

async function setup (t: Test, opts: { env?: Record<string, string>, clientSecret?: string, keyFailureTtlMs?: number, validation?: { allowHosts: string[], allowHttp: boolean }, configure?: (app: FastifyInstance, edge: RedisClient) => void } = {}) {
  const prefix = uniquePrefix()
  const keys = await keyServer(t)
  const log = captureLog('debug')
  const config = testConfig({
    sources: [{ name: 'lightroom', kind: 'adobe-io-events', clientId: CLIENT_ID, ...(opts.clientSecret !== undefined && { clientSecret: opts.clientSecret }), verify: 'signature' }],
    ...(opts.validation && { validation: opts.validation })
  }, { QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: keys.url, ...opts.env })
  const redis = testRedis(t, prefix)
  const edge = await edgeRedis(t, config)
  const app = await buildTestApp(t, config, { logger: log.logger, validationDelaysMs: [0, 50, 50], redis: edge, ...(opts.keyFailureTtlMs !== undefined && { keyFailureTtlMs: opts.keyFailureTtlMs }) }, app => opts.configure?.(app, edge))
  const queue = new Queue(QUEUE.events, { connection: redis, prefix })
  t.teardown(() => queue.close())
  const post = (body: string, headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/webhooks/lightroom', payload: body, headers })
  return { app, keys, log, queue, redis, post, prefix }
}

/** A Lightroom job-status event from seed 000 with a fresh event id. */
function lightroomEvent (overrides: Record<string, unknown> = {}) {
  const event = fixture('adobe-io-events/lightroom-job-status.json')
  event.event_id = randomUUID()
  return { ...event, ...overrides }
}

const jobCount = async (queue: Queue) => {
  const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized')
  return Object.values(counts).reduce((a, b) => a + b, 0)
}

t.test('challenge: GET echoes the challenge as text/plain, or JSON when only JSON is accepted', async t => {
  const { app } = await setup(t)
  const text = await app.inject({ url: '/webhooks/lightroom?challenge=8ec8d794-e0ab-42df-9017-e3dada8e84f7' })
  t.equal(text.statusCode, 200)
  t.match(text.headers['content-type'], /^text\/plain/)
  t.equal(text.body, '8ec8d794-e0ab-42df-9017-e3dada8e84f7')
  const json = await app.inject({ url: '/webhooks/lightroom?challenge=abc', headers: { accept: 'application/json' } })
  t.equal(json.statusCode, 200)
  t.match(json.headers['content-type'], /^application\/json/)
  t.same(json.json(), { challenge: 'abc' })
  const unknown = await app.inject({ url: '/webhooks/nope?challenge=abc' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error.code, 'AEG_UNKNOWN_SOURCE')
  const missing = await app.inject({ url: '/webhooks/lightroom' })
  t.equal(missing.statusCode, 400)
})

t.test('digital signatures: valid with key 1 only, key 2 only, or both; one job queued', async t => {
  const { post, queue, keys } = await setup(t)
  for (const only of [undefined, 1, 2] as const) {
    const event = lightroomEvent()
    const body = JSON.stringify(event)
    const res = await post(body, adobeSignedHeaders(body, { only }))
    t.equal(res.statusCode, 200, `signature ${only ?? 'both'} accepted`)
    t.same(res.json(), { received: 1 })
    const jobs = await queue.getJobs(['waiting'])
    const envelope = jobs.map(j => j.data).find(d => d.id === `lightroom/${event.event_id}`)
    t.ok(envelope, 'envelope queued under its dedup id')
    t.equal(envelope.type, 'com.adobe.lightroom.job-status')
    t.equal(envelope.jobid, 'eb4a9211-eb8a-4e88-b853-b9c08ba47427')
    t.equal(envelope.jobstatus, 'succeeded')
    t.same(envelope.data, event, 'original event untouched')
  }
  t.equal(await jobCount(queue), 3)
  t.equal(keys.totalHits(), 2, 'each key fetched once, then cached')
})

t.test('legacy HMAC with the client secret is one valid proof', async t => {
  const { post, queue, keys } = await setup(t, { clientSecret: CLIENT_SECRET })
  const body = JSON.stringify(lightroomEvent())
  const ok = await post(body, adobeHmacHeaders(body, CLIENT_SECRET))
  t.equal(ok.statusCode, 200)
  const wrong = await post(body, adobeHmacHeaders(body, 'another-secret'))
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().error.code, 'AEG_SIGNATURE_INVALID')
  t.equal(await jobCount(queue), 1)
  t.equal(keys.totalHits(), 0, 'no key fetched when the HMAC decides')
})

t.test('HMAC header is ignored when no client secret is configured', async t => {
  const { post } = await setup(t)
  const body = JSON.stringify(lightroomEvent())
  const res = await post(body, adobeHmacHeaders(body, CLIENT_SECRET))
  t.equal(res.statusCode, 401)
  t.equal(res.json().error.code, 'AEG_SIGNATURE_MISSING')
})

t.test('missing, wrong and tampered signatures are 401 and queue nothing', async t => {
  const { post, queue } = await setup(t)
  const body = JSON.stringify(lightroomEvent())
  const missing = await post(body, { 'content-type': 'application/json' })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().error.code, 'AEG_SIGNATURE_MISSING')

  const headers = adobeSignedHeaders(body)
  const noKeyPath = { ...headers }
  delete (noKeyPath as Record<string, string>)['x-adobe-public-key1-path']
  delete (noKeyPath as Record<string, string>)['x-adobe-public-key2-path']
  t.equal((await post(body, noKeyPath)).json().error.code, 'AEG_SIGNATURE_MISSING', 'signature without key path')

  const wrong = await post(body, { ...headers, 'x-adobe-digital-signature-1': 'AAAA', 'x-adobe-digital-signature-2': Buffer.from('nope').toString('base64') })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().error.code, 'AEG_SIGNATURE_INVALID')

  const tampered = body.replace('succeeded', 'failed')
  const res = await post(tampered, headers)
  t.equal(res.statusCode, 401, 'signature over other bytes')
  t.equal(res.json().error.code, 'AEG_SIGNATURE_INVALID')

  const reformatted = JSON.stringify(JSON.parse(body), null, 2)
  t.equal((await post(reformatted, headers)).statusCode, 401, 'same JSON, other bytes: verified on raw bytes')
  t.equal(await jobCount(queue), 0)
})

t.test('unsafe key paths are refused before any fetch', async t => {
  const { post, keys } = await setup(t)
  const body = JSON.stringify(lightroomEvent())
  const headers = adobeSignedHeaders(body)
  for (const path of ['/../secret.pem', '/prod/keys/../../x.pem', '/prod/keys/%2e%2e/x.pem', 'prod/keys/pub.pem',
    '/prod/keys/pub.txt', '//evil.example.com/x.pem', '/prod/keys/pub.pem?x=1', '@evil.example.com/x.pem', '/./x.pem']) {
    const res = await post(body, { ...headers, 'x-adobe-public-key1-path': path, 'x-adobe-public-key2-path': path })
    t.equal(res.statusCode, 401, `${path} refused`)
    t.equal(res.json().error.code, 'AEG_KEY_PATH_INVALID')
  }
  t.equal(keys.totalHits(), 0, 'nothing fetched')
})

t.test('an unsafe key path on one pair does not refuse a request the other pair proves', async t => {
  const { post, keys } = await setup(t)
  const body = JSON.stringify(lightroomEvent())
  const res = await post(body, { ...adobeSignedHeaders(body, { only: 2 }), 'x-adobe-public-key1-path': '/../../etc/passwd.pem' })
  t.equal(res.statusCode, 200)
  t.same([...keys.state.hits.keys()], [signingKeys().key2.path], 'only the safe path was fetched')
})

t.test('strangers\' key paths cannot evict the real key, flood the log or fan out fetches', async t => {
  const { post, keys, log } = await setup(t)
  const good = JSON.stringify(lightroomEvent())
  t.equal((await post(good, adobeSignedHeaders(good, { only: 1 }))).statusCode, 200)
  const forged = (i: number) => {
    const body = JSON.stringify(lightroomEvent())
    return post(body, { ...adobeSignedHeaders(body), 'x-adobe-public-key1-path': `/x/k${i}.pem`, 'x-adobe-public-key2-path': `/y/k${i}.pem` })
  }
  const codes = new Set<number>()
  // Several times the fetch budget (16 new paths per window) is enough to show it holds.
  for (let i = 0; i < 60; i++) codes.add((await forged(i)).statusCode)
  t.same([...codes], [503], '60 forged paths in a row: all 503')
  const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => forged(1000 + i)))
  t.ok(burst.every(r => r.statusCode === 503), 'a burst of forged paths: all 503, none 2xx')
  const burstFetches = [...keys.state.hits.keys()].filter(k => /k1\d{3}\.pem$/.test(k)).length
  t.ok(burstFetches <= 16, `new key paths are fetched within a budget (${burstFetches} of 40)`)
  const again = JSON.stringify(lightroomEvent())
  t.equal((await post(again, adobeSignedHeaders(again, { only: 1 }))).statusCode, 200)
  t.equal(keys.state.hits.get(signingKeys().key1.path), 1, 'the real key is still cached')
  t.equal(log.lines.filter(l => l.level === 50).length, 0, 'made-up paths the host answers 404 are no outage')
  // Counted by structured fields, not by time: the fetch budget renews every 10 s, so a slow run fetches (and warns about) more paths.
  const warnedPaths = log.lines.filter(l => l.level === 40 && l.keyPath !== undefined).map(l => l.keyPath as string)
  t.equal(new Set(warnedPaths).size, warnedPaths.length, `at most one warning per path (${warnedPaths.length} warnings)`)
  t.ok(warnedPaths.every(p => keys.state.hits.has(p)), 'and only about paths the key host was asked for')
})

t.test('a made-up path does not hide a real key-host outage', async t => {
  // Recovery comes once the failed fetch is forgotten; 5 s in production, 300 ms here.
  const { post, keys, log } = await setup(t, { keyFailureTtlMs: 300 })
  const forged = JSON.stringify(lightroomEvent())
  t.equal((await post(forged, { ...adobeSignedHeaders(forged), 'x-adobe-public-key1-path': '/fake/a.pem', 'x-adobe-public-key2-path': '/fake/b.pem' })).statusCode, 503)
  keys.state.mode = '500'
  const real = JSON.stringify(lightroomEvent())
  t.equal((await post(real, adobeSignedHeaders(real))).statusCode, 503)
  const outage = log.lines.filter(l => l.level === 50 && l.keyPath !== undefined && l.err !== undefined)
  t.equal(outage.length, 1, 'the real outage is logged at error level')
  t.match(outage[0]?.keyPath, /^\/prod\/keys\//, 'about the real key path, not the made-up one')
  keys.state.mode = 'ok'
  await eventually(async () => {
    const body = JSON.stringify(lightroomEvent())
    return (await post(body, adobeSignedHeaders(body))).statusCode === 200
  }, 15_000, 250)
  t.ok(log.lines.some(l => l.level === 30 && l.keyPath !== undefined && l.failuresSuppressed !== undefined), 'recovery logged')
})

t.test('content type, size and JSON checks', async t => {
  const { post, app } = await setup(t, { env: { BODY_LIMIT: '4096' } })
  const body = JSON.stringify(lightroomEvent())
  const headers = adobeSignedHeaders(body)
  const text = await post(body, { ...headers, 'content-type': 'text/plain' })
  t.equal(text.statusCode, 415)
  t.equal(text.json().error.code, 'AEG_UNSUPPORTED_MEDIA_TYPE')
  const none = await app.inject({ method: 'POST', url: '/webhooks/lightroom', payload: body, headers: { ...headers, 'content-type': '' } })
  t.equal(none.statusCode, 415)
  for (const type of ['application/cloudevents+json', 'application/cloudevents-batch+json', 'application/json; charset=utf-8']) {
    const res = await post(body, { ...headers, 'content-type': type })
    t.equal(res.statusCode, 200, `${type} accepted`)
  }

  const big = JSON.stringify(lightroomEvent({ padding: 'x'.repeat(5000) }))
  const tooLarge = await post(big, adobeSignedHeaders(big))
  t.equal(tooLarge.statusCode, 413)
  t.equal(tooLarge.json().error.code, 'AEG_BODY_TOO_LARGE')

  const notJson = '{"event_id": "x", '
  const invalid = await post(notJson, adobeSignedHeaders(notJson))
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().error.code, 'AEG_INVALID_JSON')

  const proto = '{"event_id":"p","event":{},"__proto__":{"polluted":true}}'
  const polluted = await post(proto, adobeSignedHeaders(proto))
  t.equal(polluted.statusCode, 400)
  t.equal(({} as Record<string, unknown>).polluted, undefined)

  const shape = JSON.stringify({ hello: 'world' })
  const unknownShape = await post(shape, adobeSignedHeaders(shape))
  t.equal(unknownShape.statusCode, 400)
  t.equal(unknownShape.json().error.code, 'AEG_INVALID_PAYLOAD')
})

t.test('order of checks: 404 before 415 before 401', async t => {
  const { app } = await setup(t)
  const res = await app.inject({ method: 'POST', url: '/webhooks/nope', payload: 'x', headers: { 'content-type': 'text/plain' } })
  t.equal(res.statusCode, 404)
  const res2 = await app.inject({ method: 'POST', url: '/webhooks/lightroom', payload: 'x', headers: { 'content-type': 'text/plain' } })
  t.equal(res2.statusCode, 415)
})

t.test('recipient client id must match the source', async t => {
  const { post, queue } = await setup(t)
  const legacy = JSON.stringify(lightroomEvent({ recipient_client_id: 'someone-else' }))
  const res = await post(legacy, adobeSignedHeaders(legacy))
  t.equal(res.statusCode, 403)
  t.equal(res.json().error.code, 'AEG_RECIPIENT_MISMATCH')
  const ce = fixture('adobe-io-events/dgr-single.json')
  ce.recipientclientid = 'someone-else'
  const body = JSON.stringify(ce)
  t.equal((await post(body, adobeSignedHeaders(body))).statusCode, 403)
  ce.recipientclientid = CLIENT_ID
  const good = JSON.stringify(ce)
  t.equal((await post(good, adobeSignedHeaders(good))).statusCode, 200)
  t.equal(await jobCount(queue), 1)
})

t.test('batches: 20 events queued together, 21 refused whole', async t => {
  const { post, queue } = await setup(t)
  const template = { ...fixture('adobe-io-events/dgr-batch.json')[0], recipientclientid: CLIENT_ID }
  const batch = Array.from({ length: 20 }, () => ({ ...template, eventid: randomUUID(), id: randomUUID() }))
  const body = JSON.stringify(batch)
  const res = await post(body, { ...adobeSignedHeaders(body), 'content-type': 'application/cloudevents-batch+json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { received: 20 })
  t.equal(await jobCount(queue), 20)
  const jobs = await queue.getJobs(['waiting'])
  t.same(new Set(jobs.map(j => j.data.id)), new Set(batch.map(e => `lightroom/${e.eventid}`)))
  t.ok(jobs.every(j => j.data.jobstatus === 'running' && j.data.jobid === 'ff7b0f8e-47f3-4d8f-9a8b-7a9f9b2f4c42'))

  const tooMany = JSON.stringify([...batch, { ...template, eventid: randomUUID() }])
  const refused = await post(tooMany, adobeSignedHeaders(tooMany))
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().error.code, 'AEG_BATCH_TOO_LARGE')
  const empty = '[]'
  t.equal((await post(empty, adobeSignedHeaders(empty))).statusCode, 400)
  const oneBad = JSON.stringify([{ ...template, eventid: randomUUID() }, { nope: true }])
  t.equal((await post(oneBad, adobeSignedHeaders(oneBad))).statusCode, 400, 'one bad event refuses the batch')
  t.equal(await jobCount(queue), 20, 'nothing of the refused batches was queued')
})

t.test('duplicates: redelivery answered 200 with one job; a different event is never dropped', async t => {
  const { post, queue } = await setup(t)
  const event = lightroomEvent()
  const body = JSON.stringify(event)
  const first = await post(body, adobeSignedHeaders(body))
  const retry = await post(body, { ...adobeSignedHeaders(body), 'x-adobe-retry-count': '1' })
  t.equal(first.statusCode, 200)
  t.equal(retry.statusCode, 200)
  t.equal(await jobCount(queue), 1)

  // Same job, same content, other event id: a distinct event.
  const other = JSON.stringify({ ...event, event_id: randomUUID() })
  t.equal((await post(other, adobeSignedHeaders(other))).statusCode, 200)
  t.equal(await jobCount(queue), 2)

  // Concurrent redeliveries of one new event.
  const burst = JSON.stringify(lightroomEvent())
  const answers = await Promise.all(Array.from({ length: 10 }, () => post(burst, adobeSignedHeaders(burst))))
  t.ok(answers.every(a => a.statusCode === 200))
  t.equal(await jobCount(queue), 3)
})

t.test('dedup survives the job leaving the queue, within the window', async t => {
  const { post, queue, prefix, redis } = await setup(t)
  const body = JSON.stringify(lightroomEvent())
  t.equal((await post(body, adobeSignedHeaders(body))).statusCode, 200)
  let processed = 0
  const connection = redis.duplicate()
  const worker = new Worker(QUEUE.events, async () => { processed++ }, { connection, prefix })
  t.teardown(async () => { await worker.close(); await connection.quit() })
  const pending = async () => (await queue.getWaitingCount()) + (await queue.getActiveCount())
  await eventually(async () => processed === 1 && (await pending()) === 0)
  t.equal((await post(body, adobeSignedHeaders(body))).statusCode, 200)
  t.equal(await pending(), 0, 'redelivery after the job was processed is still a duplicate')
  t.equal(processed, 1)
})

t.test('dedup window is configurable: after it, the same id is a new job', async t => {
  const { post, queue } = await setup(t, { env: { DEDUP_WINDOW_SECONDS: '1' } })
  const body = JSON.stringify(lightroomEvent())
  t.equal((await post(body, adobeSignedHeaders(body))).statusCode, 200)
  await queue.obliterate({ force: true })
  await eventually(async () => (await post(body, adobeSignedHeaders(body))).statusCode === 200 && (await jobCount(queue)) === 1, 5000, 200)
  t.pass('requeued after the window')
})

t.test('events that only look like another shape never share a dedup key', async t => {
  const { post, queue } = await setup(t)
  const xdm = (id: string) => ({ ...fixture('adobe-io-events/cc-asset-created-xdm.json'), '@id': id, event_id: { not: 'a string' } })
  for (const id of ['xdm-a', 'xdm-b']) {
    const body = JSON.stringify(xdm(id))
    t.equal((await post(body, adobeSignedHeaders(body))).statusCode, 200)
  }
  const ids = (await queue.getJobs(['waiting'])).map(j => j.data.id).sort()
  t.same(ids, ['lightroom/xdm-a', 'lightroom/xdm-b'])
  const stray = JSON.stringify({ specversion: '1.0', type: 't', hello: 1 })
  t.equal((await post(stray, adobeSignedHeaders(stray))).statusCode, 400, 'no usable id: 400, not a shared key')
})

t.test('x-adobe-event-id header is the dedup key of a single event without its own id', async t => {
  const { post, queue } = await setup(t)
  const xdm = fixture('adobe-io-events/cc-asset-created-xdm.json')
  const body = JSON.stringify(xdm)
  const headers = { ...adobeSignedHeaders(body), 'x-adobe-event-id': 'hdr-1' }
  t.equal((await post(body, headers)).statusCode, 200)
  const [job] = await queue.getJobs(['waiting'])
  t.equal(job?.data.id, 'lightroom/hdr-1')
  t.equal(job?.data.type, 'com.adobe.io-events.asset_created')
})

t.test('key server faults answer 503 (retriable), never 2xx, logged once', async t => {
  for (const mode of ['500', '404', 'garbage'] as const) {
    await t.test(mode, async t => {
      const { post, keys, log, queue } = await setup(t)
      keys.state.mode = mode
      for (let i = 0; i < 3; i++) {
        const body = JSON.stringify(lightroomEvent())
        const res = await post(body, adobeSignedHeaders(body))
        t.equal(res.statusCode, 503)
        t.equal(res.json().error.code, 'AEG_KEY_UNAVAILABLE')
        t.ok(res.headers['retry-after'])
      }
      const outageLines = log.lines.filter(l => l.level === 50 && l.keyPath !== undefined && l.err !== undefined)
      const pathLines = log.lines.filter(l => l.level === 40 && l.keyPath !== undefined && l.reason !== undefined)
      if (mode === '500') {
        t.equal(outageLines.length, 1, 'host down: one error line per outage, not per request or per path')
        t.equal(pathLines.length, 0)
      } else {
        t.equal(outageLines.length, 0, 'the host answered: no outage')
        t.equal(pathLines.length, 2, 'one warning per key path, not per request')
      }
      t.equal(await jobCount(queue), 0)
    })
  }
  await t.test('key server down (connection refused)', async t => {
    const { post, keys, queue } = await setup(t)
    await new Promise<void>(resolve => { keys.server.closeAllConnections(); keys.server.close(() => resolve()) })
    const body = JSON.stringify(lightroomEvent())
    const res = await post(body, adobeSignedHeaders(body))
    t.equal(res.statusCode, 503)
    t.equal(await jobCount(queue), 0)
  })
  await t.test('key server slow: 503 within the key fetch timeout', async t => {
    const { post, keys } = await setup(t, { env: { KEY_FETCH_TIMEOUT_MS: '300' } })
    keys.state.mode = 'hang'
    const body = JSON.stringify(lightroomEvent())
    // The key server never answers: only the key fetch timeout can end this request.
    const res = await post(body, adobeSignedHeaders(body))
    t.equal(res.statusCode, 503)
    t.equal(res.json().error.code, 'AEG_KEY_UNAVAILABLE')
  })
})

t.test('asynchronous challenge: validationUrl is answered 200 and fetched', async t => {
  let hits = 0
  const confirm = await httpServer(t, (_req, res) => { hits++; res.writeHead(hits === 1 ? 500 : 200).end() })
  const { post } = await setup(t, { validation: { allowHosts: ['127.0.0.1'], allowHttp: true } })
  const body = JSON.stringify({ validationUrl: `${confirm.url}/validate?token=1` })
  const res = await post(body, adobeSignedHeaders(body))
  t.equal(res.statusCode, 200)
  await eventually(() => hits >= 2, 5000)
  t.equal(hits, 2, 'retried once after a 500, then stopped')

  const evil = JSON.stringify({ validationUrl: 'https://169.254.169.254/latest/meta-data' })
  const refused = await post(evil, adobeSignedHeaders(evil))
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().error.code, 'AEG_VALIDATION_URL_REJECTED')

  const unsigned = await post(body, { 'content-type': 'application/json' })
  t.equal(unsigned.statusCode, 401, 'the async challenge must be signed too')
})

t.test('no ack without Redis: connection lost between verify and enqueue → 503', async t => {
  let cut = false
  const { post, queue } = await setup(t, {
    configure: (app, edge) => app.addHook('preHandler', async () => { if (cut) edge.disconnect(false) })
  })
  const body = JSON.stringify(lightroomEvent())
  const headers = adobeSignedHeaders(body)
  cut = true
  const res = await post(body, headers)
  t.equal(res.statusCode, 503)
  t.equal(res.json().error.code, 'AEG_QUEUE_UNAVAILABLE')
  t.ok(res.headers['retry-after'])
  t.equal(await jobCount(queue), 0, 'nothing was queued and nothing acknowledged')
})
