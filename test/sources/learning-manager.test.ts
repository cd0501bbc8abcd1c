import { createHmac, randomUUID } from 'node:crypto'
import t from 'tap'
import type { SourceConfig } from '../../src/config.ts'
import { learningManager } from '../../src/sources/learning-manager.ts'
import { buildTestApp, fixture, testConfig, uniquePrefix } from '../helpers/index.ts'
import { eventsQueue, makeSource, normalize } from '../helpers/sources.ts'

const basicSource: SourceConfig = { name: 'alm', kind: 'learning-manager', auth: { type: 'basic', username: 'alm', password: 'alm-password-1' } }
const hmacSource: SourceConfig = {
  name: 'alm-signed',
  kind: 'learning-manager',
  auth: { type: 'hmac', header: 'x-alm-signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=', secrets: ['retiring-secret-1', 'current-secret-2'] }
}

/** The seed payload with `count` events of fresh ids; the second (if any) has an ISO timestamp. */
function payload (count: number, ids: string[] = []) {
  const seed = fixture('learning-manager/course-enrollment.json')
  const template = seed.events[0]
  seed.events = Array.from({ length: count }, (_, i) => ({
    ...structuredClone(template),
    eventId: ids[i] ?? randomUUID(),
    timestamp: i === 1 ? '2024-09-27T05:24:03.000Z' : template.timestamp
  }))
  return seed
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const sign = (body: string, secret: string) => 'sha256=' + createHmac('sha256', secret).update(body).digest('hex')

t.test('parse and normalize', async t => {
  const source = makeSource(basicSource)

  t.test('one envelope per event, type from eventName, id from eventId', async t => {
    const body = payload(3)
    const envelopes = normalize(source, body)
    t.equal(envelopes.length, 3)
    for (const [i, envelope] of envelopes.entries()) {
      t.equal(envelope.id, `alm/${body.events[i].eventId}`)
      t.equal(envelope.type, 'com.adobe.learning-manager.COURSE_ENROLLMENT_BATCH')
      t.equal(envelope.sourcekind, 'learning-manager')
      t.notOk(envelope.jobid, 'a learning event is not an Adobe job')
      t.notOk(envelope.jobstatus)
      t.match(envelope.data, { accountId: 1010, eventId: body.events[i].eventId, data: { loId: 'course:7374992' } })
    }
  })

  t.test('timestamp as epoch milliseconds and as ISO string', async t => {
    const [epoch, iso] = normalize(source, payload(2))
    t.equal(epoch!.time, '2024-09-27T05:24:03.000Z', '1727414643000 ms')
    t.equal(iso!.time, '2024-09-27T05:24:03.000Z')
    const [seconds] = normalize(source, { events: [{ eventId: 'e1', eventName: 'X', timestamp: 1727414643 }] })
    t.equal(seconds!.time, '2024-09-27T05:24:03.000Z', 'epoch seconds too')
    const [numericString] = normalize(source, { events: [{ eventId: 'e1', eventName: 'X', timestamp: '1727414643000' }] })
    t.equal(numericString!.time, '2024-09-27T05:24:03.000Z')
  })

  t.test('bad shapes are 400, and one bad event refuses the whole batch', async t => {
    const oneBad = payload(3)
    delete oneBad.events[2].eventId
    for (const body of [{}, { events: [] }, { events: {} }, oneBad, { events: [{ eventId: 'x', eventName: 'has spaces' }] }]) {
      t.throws(() => normalize(source, body), { statusCode: 400, code: 'AEG_INVALID_PAYLOAD' }, JSON.stringify(body).slice(0, 80))
    }
    t.throws(() => normalize(source, payload(21)), { statusCode: 400, code: 'AEG_BATCH_TOO_LARGE' })
  })

  t.test('no outputs: learning events are only forwarded', async t => {
    t.same(learningManager.outputs(normalize(source, payload(1))[0]!), [])
  })
})

t.test('through the edge', async t => {
  const prefix = uniquePrefix()
  const app = await buildTestApp(t, testConfig({ sources: [basicSource, hmacSource] }, { QUEUE_PREFIX: prefix }))
  const events = eventsQueue(t, prefix)
  const post = (source: string, body: string, headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: `/webhooks/${source}`, headers: { 'content-type': 'application/json', ...headers }, payload: body })

  t.test('3 events in one POST → 3 envelopes; a repeated eventId is not queued twice', async t => {
    const body = payload(3)
    const raw = JSON.stringify(body)
    const res = await post('alm', raw, { authorization: basic('alm', 'alm-password-1') })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { received: 3 })
    const ids = body.events.map((e: { eventId: string }) => `alm/${e.eventId}`)
    t.same((await events.envelopes()).map(e => e.id).sort(), [...ids].sort())

    // Redelivery of the whole POST, and a POST mixing an old and a new event.
    t.equal((await post('alm', raw, { authorization: basic('alm', 'alm-password-1') })).statusCode, 200)
    const mixed = payload(2, [body.events[0].eventId])
    t.equal((await post('alm', JSON.stringify(mixed), { authorization: basic('alm', 'alm-password-1') })).statusCode, 200)
    const queued = (await events.envelopes()).map(e => e.id)
    t.equal(queued.length, 4, 'three from the first POST, one new one')
    t.ok(queued.includes(`alm/${mixed.events[1].eventId}`))
    t.equal(queued.filter(id => id === ids[0]).length, 1)
  })

  t.test('both timestamp forms are accepted', async t => {
    const body = payload(2)
    const res = await post('alm', JSON.stringify(body), { authorization: basic('alm', 'alm-password-1') })
    t.equal(res.statusCode, 200)
    const queued = await events.envelopes()
    for (const e of body.events) t.equal(queued.find(q => q.id === `alm/${e.eventId}`)?.time, '2024-09-27T05:24:03.000Z')
  })

  t.test('wrong or missing basic credentials → 401, nothing queued', async t => {
    const before = (await events.envelopes()).length
    const body = JSON.stringify(payload(1))
    const wrong = await post('alm', body, { authorization: basic('alm', 'alm-password-2') })
    t.equal(wrong.statusCode, 401)
    t.equal(wrong.json().error.code, 'AEG_CREDENTIALS_INVALID')
    t.equal((await post('alm', body, { authorization: basic('someone', 'alm-password-1') })).statusCode, 401)
    t.equal((await post('alm', body, {})).statusCode, 401)
    t.equal((await events.envelopes()).length, before)
  })

  t.test('HMAC: either configured secret signs; a wrong one or a changed body → 401', async t => {
    const before = (await events.envelopes()).length
    const body = JSON.stringify(payload(1))
    const wrong = await post('alm-signed', body, { 'x-alm-signature': sign(body, 'not-the-secret') })
    t.equal(wrong.statusCode, 401)
    t.equal(wrong.json().error.code, 'AEG_SIGNATURE_INVALID')
    t.equal((await post('alm-signed', body.replace('1010', '1011'), { 'x-alm-signature': sign(body, 'current-secret-2') })).statusCode, 401)
    t.equal((await post('alm-signed', body, {})).statusCode, 401)
    t.equal((await events.envelopes()).length, before)

    const rotated = await post('alm-signed', body, { 'x-alm-signature': sign(body, 'current-secret-2') })
    t.equal(rotated.statusCode, 200, 'the second (rotated-in) secret')
    const other = JSON.stringify(payload(1))
    t.equal((await post('alm-signed', other, { 'x-alm-signature': sign(other, 'retiring-secret-1') })).statusCode, 200, 'the first secret still')
    t.equal((await events.envelopes()).length, before + 2)
  })

  t.test('a batch with one bad event queues nothing', async t => {
    const before = (await events.envelopes()).length
    const body = payload(3)
    body.events[1].eventName = 'not valid!'
    const res = await post('alm', JSON.stringify(body), { authorization: basic('alm', 'alm-password-1') })
    t.equal(res.statusCode, 400)
    t.equal((await events.envelopes()).length, before)
  })
})
