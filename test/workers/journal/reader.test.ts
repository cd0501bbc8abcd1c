import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { journalKeys, JournalPositions } from '../../../src/journal-state.ts'
import { fakeJournal, type FakeJournalOptions } from '../../helpers/fake-journal.ts'
import { Redis } from 'ioredis'
import { captureLog, eventually, privateRedis, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { eventsQueue, makeSource, normalize } from '../../helpers/sources.ts'
import { eventQueue } from '../harness.ts'
import { FAST, SOURCE, journalConfig, journalStatus, lightroomEvent, parkingWaits, quickWaits, startReaders, statusWhen } from './support.ts'

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `ev-${from + i}`)

/** A test's prefix (wiped at teardown), its Redis, a fake journal and a reader config starting at the oldest event. */
async function oldestReader (t: Test, journal: FakeJournalOptions) {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, journal)
  return { prefix, redis, fake, config: journalConfig(fake, prefix, 'oldest') }
}

t.test('start oldest: every retained event is queued once, the position is stored after each page', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { pageSize: 2, retryAfterSeconds: null })
  const positions = ids(5).map(id => fake.publish(lightroomEvent(id)))
  const config = journalConfig(fake, prefix, 'oldest')
  const queue = eventsQueue(t, prefix)
  startReaders(t, config)

  const status = await statusWhen(config, redis, s => s.queued === 5 && s.caughtUpAt !== null)
  t.equal(status.position, positions[4], 'position = the last event consumed')
  t.equal(status.duplicate, 0)
  t.same((await queue.envelopes()).map(e => e.id).sort(), ids(5).map(id => `${SOURCE}/${id}`).sort(), 'envelope ids as the webhook path makes them')
  t.equal(fake.requests[0]!.query.toString(), '', 'first request without parameters (oldest)')
  t.equal(fake.requests[1]!.query.get('since'), positions[1], 'then the next link: since=<last of page 1>')
  t.ok(fake.requests.every(r => r.token?.startsWith('tok-') && r.apiKey === 'journal-client' && r.orgId === 'FAKE0RG@AdobeOrg'), 'bearer token, x-api-key, x-ims-org-id on every request')
  t.equal(fake.maxConcurrent, 1, 'one request at a time')
})

t.test('start latest: only events published after the reader started are queued', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  for (const id of ids(3)) fake.publish(lightroomEvent(id))
  const config = journalConfig(fake, prefix, 'latest')
  const queue = eventsQueue(t, prefix)
  const latest = fake.nextAnswered(r => r.query.get('latest') === 'true')
  startReaders(t, config)
  t.equal((await latest).status, 204, 'latest=true answered 204: nothing newer yet')
  await eventually(async () => (await journalStatus(config, redis)).next !== null)
  fake.publish(lightroomEvent('after'))
  await eventually(async () => (await journalStatus(config, redis)).queued === 1)
  t.same((await queue.envelopes()).map(e => e.id), [`${SOURCE}/after`])
})

t.test('both ways: events the webhook path already queued count as duplicates and stay queued once', async t => {
  const { prefix, redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  const source = makeSource({ name: SOURCE, kind: 'adobe-io-events', verify: 'none' })
  const edge = await eventQueue(t, config)
  const bodies = ids(4).map(id => lightroomEvent(id))
  // The edge's way: parse → envelope → deduplicated enqueue, for the first two.
  await edge.add(SOURCE, bodies.slice(0, 2).flatMap(b => normalize(source, b)))
  for (const body of bodies) fake.publish(body)
  const queue = eventsQueue(t, prefix)
  startReaders(t, config)
  const status = await statusWhen(config, redis, s => s.queued + s.duplicate === 4)
  t.equal(status.queued, 2)
  t.equal(status.duplicate, 2)
  const queued = (await queue.envelopes()).map(e => e.id).sort()
  t.same(queued, ids(4).map(id => `${SOURCE}/${id}`).sort(), 'each event queued once')
})

t.test('a restarted reader resumes with since=<last consumed position>', async t => {
  const { prefix, redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.publish(lightroomEvent('a'))
  const second = fake.publish(lightroomEvent('b'))
  const one = startReaders(t, config)
  await eventually(async () => (await journalStatus(config, redis)).position === second)
  await one.close()
  t.equal(await redis.exists(journalKeys(prefix, SOURCE).lease), 0, 'a graceful stop released the lease')
  fake.publish(lightroomEvent('c'))
  const seen = fake.requests.length
  startReaders(t, config)
  await eventually(async () => (await journalStatus(config, redis)).queued === 3)
  t.equal(fake.requests[seen]!.query.get('since'), second, 'first request after the restart')
  t.equal((await journalStatus(config, redis)).duplicate, 0, 'nothing read twice')
})

t.test('204 with retry-after: the reader waits that long before asking the same next link again', async t => {
  const prefix = uniquePrefix()
  const fake = await fakeJournal(t, { retryAfterSeconds: 7 })
  const config = journalConfig(fake, prefix, 'oldest')
  testRedis(t, prefix)
  const waits: { ms: number, requestsBefore: number }[] = []
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  let waited!: () => void
  const waiting = new Promise<void>(resolve => { waited = resolve })
  startReaders(t, config, {
    ...FAST,
    async wait (ms, signal) {
      waits.push({ ms, requestsBefore: fake.requests.length })
      waited()
      await Promise.race([gate, new Promise(resolve => signal.addEventListener('abort', resolve))])
    }
  })
  await waiting
  t.equal(fake.requests.length, 1, 'one request so far')
  t.equal(fake.requests[0]!.status, 204)
  t.equal(waits[0]!.ms, 7000, 'waits retry-after seconds')
  // The reader is parked in the wait: nothing else is asked meanwhile.
  await sleep(100)
  t.equal(fake.requests.length, 1, 'no request while waiting')
  const next = fake.nextAnswered()
  release()
  const again = await next
  t.equal(again.query.get('since'), 'origin:0', 'then the 204\'s next link')
  t.equal(fake.requests.length, 2)
})

t.test('410: the expired position is counted and reading continues from the oldest retained event', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  const positions = ids(5).map(id => fake.publish(lightroomEvent(id)))
  fake.expireBefore(3)
  const config = journalConfig(fake, prefix, 'oldest')
  // A position stored long ago, now expired.
  await redis.hset(journalKeys(prefix, SOURCE).state, 'position', positions[0]!)
  const queue = eventsQueue(t, prefix)
  startReaders(t, config)
  const status = await statusWhen(config, redis, s => s.queued === 2)
  t.equal(status.errors.gone, 1, 'counted as errors{reason="gone"}')
  t.equal(fake.requests[0]!.query.get('since'), positions[0])
  t.equal(fake.requests[0]!.status, 410)
  t.equal(fake.requests[1]!.query.toString(), '', 'then the oldest retained (no parameters)')
  t.same((await queue.envelopes()).map(e => e.id).sort(), ['ev-3', 'ev-4'].map(id => `${SOURCE}/${id}`))
  t.equal(status.position, positions[4])
})

t.test('401: the token is granted again once and the request repeated', async t => {
  const { redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.publish(lightroomEvent('a'))
  startReaders(t, config)
  await eventually(async () => (await journalStatus(config, redis)).queued === 1)
  t.equal(fake.tokenGrants, 1)
  fake.expireTokens()
  fake.publish(lightroomEvent('b'))
  await eventually(async () => (await journalStatus(config, redis)).queued === 2)
  t.equal(fake.tokenGrants, 2, 'one more grant')
  const refused = fake.requests.findIndex(r => r.status === 401)
  t.ok(refused > 0, 'the old token was refused')
  t.equal(fake.requests[refused + 1]!.url, fake.requests[refused]!.url, 'the same request repeated')
  t.not(fake.requests[refused + 1]!.token, fake.requests[refused]!.token, 'with the new token')
  t.equal(fake.requests[refused + 1]!.status, 200)
  t.notOk((await journalStatus(config, redis)).errors.unauthorized, 'not an error: the refresh answered it')
})

t.test('5xx and 429: back off (growing, honouring retry-after) and recover without restart', async t => {
  const { redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.failNext(3, 503)
  fake.failNext(1, 429, { 'retry-after': '2' })
  fake.failNext(1, 503, { 'retry-after': '3' })
  fake.publish(lightroomEvent('a'))
  const { waits, opts } = quickWaits()
  startReaders(t, config, opts)
  const status = await statusWhen(config, redis, s => s.queued === 1)
  t.equal(status.errors.server, 4, 'four 5xx counted')
  t.equal(status.errors.throttled, 1, 'one 429 counted')
  // FAST: base 20 ms, doubling, jitter between half and all of it, capped at 200 ms.
  const shown = waits.slice(0, 5).map(Math.round).join(', ')
  t.ok(waits[0]! >= 10 && waits[0]! <= 20, `backoff starts at the base (${shown})`)
  t.ok(waits[1]! >= 20 && waits[1]! <= 40, 'then doubles')
  t.ok(waits[2]! >= 40 && waits[2]! <= 80, 'and doubles again')
  t.ok(waits[3]! >= 2000, '429: at least its retry-after')
  t.ok(waits[4]! >= 3000, '5xx: at least its retry-after too')
})

t.test('a dead journal host: backed off the same way, and read again once it is back, without a restart', async t => {
  const { redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.publish(lightroomEvent('a'))
  const { waits, opts } = quickWaits()
  startReaders(t, config, opts)
  await eventually(async () => (await journalStatus(config, redis)).queued === 1)
  await fake.down()
  await eventually(async () => ((await journalStatus(config, redis)).errors.network ?? 0) >= 3)
  // Waits after 204s are exactly emptyWaitMs; the backoffs after the last of them are the dead host's.
  const down = waits.slice(waits.lastIndexOf(FAST.timing!.emptyWaitMs!) + 1)
  t.ok(down[0]! >= 10 && down[0]! <= 20 && down[1]! >= 20 && down[2]! >= 40, `backoff doubles (${down.slice(0, 3).map(Math.round).join(', ')} ms)`)
  fake.publish(lightroomEvent('b'))
  await fake.up()
  await eventually(async () => (await journalStatus(config, redis)).queued === 2)
  t.pass('read again once the host came back')
})

t.test('two readers of one source: one at a time, and the other takes over when it stops', async t => {
  const { prefix, redis, fake, config } = await oldestReader(t, { pageSize: 2, retryAfterSeconds: null })
  for (const id of ids(8)) fake.publish(lightroomEvent(id))
  const a = startReaders(t, config)
  const b = startReaders(t, config)
  await eventually(async () => (await journalStatus(config, redis)).queued === 8)
  const ttl = await redis.pttl(journalKeys(prefix, SOURCE).lease)
  t.ok(ttl > 0 && ttl <= 1000, `the lease expires by itself (${ttl} ms left)`)
  await a.close()
  for (const id of ids(4, 8)) fake.publish(lightroomEvent(id))
  await eventually(async () => (await journalStatus(config, redis)).queued === 12)
  await b.close()
  t.equal(fake.maxConcurrent, 1, 'never two journal requests at once')
  t.equal((await journalStatus(config, redis)).duplicate, 0, 'nothing read twice')
})

t.test('reset: latest, oldest and seek are picked up by the running reader', async t => {
  const { prefix, redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  for (const id of ids(3)) fake.publish(lightroomEvent(id))
  startReaders(t, config)
  await eventually(async () => (await journalStatus(config, redis)).queued === 3)
  const positions = new JournalPositions(redis, prefix)

  let asked = fake.nextAnswered(r => r.query.get('seek') === '-PT1H')
  await positions.reset(SOURCE, 'seek:-PT1H')
  t.equal((await asked).status, 200, 'seek=-PT1H requested')
  await eventually(async () => (await journalStatus(config, redis)).duplicate === 3)
  t.pass('the last hour read again, absorbed by dedup')

  asked = fake.nextAnswered(r => r.query.get('latest') === 'true')
  await positions.reset(SOURCE, 'latest')
  await asked
  await eventually(async () => { const s = await journalStatus(config, redis); return s.reset === null && s.next !== null })
  fake.publish(lightroomEvent('new'))
  await eventually(async () => (await journalStatus(config, redis)).queued === 4)

  asked = fake.nextAnswered(r => r.query.toString() === '')
  await positions.reset(SOURCE, 'oldest')
  await asked
  await eventually(async () => (await journalStatus(config, redis)).duplicate === 7)
  t.pass('oldest: everything read again, absorbed by dedup')
})

t.test('a stored link of another journal (the URL was changed in the config) is not followed', async t => {
  const { prefix, redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.publish(lightroomEvent('a'))
  await redis.hset(journalKeys(prefix, SOURCE).state, 'next', `${new URL(fake.url).origin}/events/organizations/1/integrations/2/another-registration?since=x`, 'position', 'x')
  startReaders(t, config)
  await statusWhen(config, redis, s => s.queued === 1)
  t.equal(fake.requests[0]!.query.toString(), '', 'started as configured (oldest)')
})

t.test('401 with a fresh token too: counted, backed off, one grant per attempt', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  const base = journalConfig(fake, prefix, 'oldest')
  // The journal refuses this org id whatever the token.
  const config = { ...base, sources: base.sources.map(s => s.kind === 'adobe-io-events' && s.journal ? { ...s, journal: { ...s.journal, imsOrgId: 'OTHER@AdobeOrg' } } : s) }
  const { waits, parked, opts } = parkingWaits(1)
  startReaders(t, config, opts)
  await parked
  t.equal((await journalStatus(config, redis)).errors.unauthorized, 2, 'each refused attempt counted')
  t.equal(fake.requests.length, 4, 'each attempt: the request, then once more with a new token')
  t.equal(fake.tokenGrants, 3, 'one grant per attempt (plus the first)')
  t.ok(waits[1]! > waits[0]! * 0.5 && waits[0]! >= 10, `backed off (${waits.map(Math.round).join(', ')} ms)`)
})

t.test('204 with retry-after: 0 still waits the floor, never a tight loop', async t => {
  const { fake, config } = await oldestReader(t, { retryAfterSeconds: 0 })
  const { waits, parked: waited, opts } = parkingWaits()
  startReaders(t, config, opts)
  // Without the floor the reader would not wait at all and keep asking.
  const kept = new Promise<void>(resolve => {
    const timer = setInterval(() => { if (fake.requests.length > 3) resolve() }, 10)
    t.teardown(() => clearInterval(timer))
  })
  await Promise.race([waited, kept])
  t.equal(fake.requests.length, 1, 'one request, then a wait')
  t.equal(fake.requests[0]!.status, 204)
  t.equal(waits[0], FAST.timing!.minEmptyWaitMs, 'the floor, not 0')
})

t.test('410 to the oldest-event request itself backs off instead of asking again at once', async t => {
  const { redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.failNext(2, 410)
  fake.publish(lightroomEvent('a'))
  const { waits, opts } = quickWaits()
  startReaders(t, config, opts)
  const status = await statusWhen(config, redis, s => s.queued === 1)
  t.equal(status.errors.gone, 2)
  t.same(fake.requests.slice(0, 3).map(r => r.query.toString()), ['', '', ''], 'each time from the oldest event')
  // Backoffs (FAST: 10–20, then 20–40 ms), not the 60 ms wait after a 204.
  t.ok(waits[0]! >= 10 && waits[0]! <= 20 && waits[1]! >= 20 && waits[1]! <= 40, `backed off (${waits.slice(0, 2).map(Math.round).join(', ')} ms)`)
})

t.test('an event the source kind cannot parse is counted and skipped; the rest of the page is queued', async t => {
  const { prefix, redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  fake.publish(lightroomEvent('a'))
  const bad = fake.publish({ neither: 'a CloudEvent nor an event_id envelope' })
  fake.publish(lightroomEvent('b'))
  const queue = eventsQueue(t, prefix)
  const log = captureLog('info')
  startReaders(t, config, FAST, log.logger)
  const status = await statusWhen(config, redis, s => s.queued === 2 && s.caughtUpAt !== null)
  t.equal(status.errors.invalid_event, 1)
  t.same((await queue.envelopes()).map(e => e.id).sort(), [`${SOURCE}/a`, `${SOURCE}/b`])
  t.match(log.lines.find(l => l.msg === 'journal event cannot be normalized; skipped'), { position: bad, source: SOURCE })
  t.match(log.lines.find(l => l.msg === 'journal page'), { source: SOURCE, events: 3, queued: 2, duplicate: 0, invalid: 1, stored: 'written' }, 'one line per page with its counts')
})

t.test('a token grant that fails is counted and backed off; no journal request goes out without a token', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  const base = journalConfig(fake, prefix, 'oldest')
  const config = { ...base, oauth: { ...base.oauth!, clientSecret: 'not-the-secret' } }
  const { waits, parked, opts } = parkingWaits(1)
  const log = captureLog('info')
  startReaders(t, config, opts, log.logger)
  await parked
  t.equal((await journalStatus(config, redis)).errors.token, 2, 'counted as errors{reason="token"}')
  t.equal(fake.requests.length, 0, 'the journal was not asked')
  t.ok(waits[0]! >= 10 && waits[1]! >= 20, `backed off (${waits.map(Math.round).join(', ')} ms)`)
  t.notMatch(log.text(), 'not-the-secret', 'the secret is not logged')
})

t.test('410 is logged as an error naming the source', async t => {
  const { redis, fake, config } = await oldestReader(t, { retryAfterSeconds: null })
  const positions = ids(3).map(id => fake.publish(lightroomEvent(id)))
  fake.expireBefore(2)
  await redis.hset(journalKeys(config.queuePrefix, SOURCE).state, 'position', positions[0]!)
  const log = captureLog('info')
  startReaders(t, config, FAST, log.logger)
  await statusWhen(config, redis, s => s.queued === 1)
  const line = log.lines.find(l => l.level === 50)
  t.match(line?.msg, `journal of source "${SOURCE}" answered 410`)
  t.equal(line?.position, positions[0])
})

t.test('position writes are fenced: a holder that lost its lease, or read before a reset, cannot move the position', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const positions = new JournalPositions(redis, prefix)
  const keys = journalKeys(prefix, SOURCE)
  await redis.set(keys.lease, 'holder-a')
  const cursor = await positions.read(SOURCE)
  t.equal(await positions.commit(SOURCE, 'holder-a', cursor.generation, { set: { position: 'p1' }, incr: { queued: 2 } }), 'written')
  t.equal(await positions.commit(SOURCE, 'holder-b', cursor.generation, { set: { position: 'p9' }, incr: { queued: 1 } }), 'lease-lost', 'another token: refused')
  await positions.reset(SOURCE, 'oldest')
  t.equal(await positions.commit(SOURCE, 'holder-a', cursor.generation, { set: { position: 'p2' }, incr: { duplicate: 1 } }), 'reset', 'a generation older than the reset: refused')
  const status = await positions.status(SOURCE)
  t.equal(status.position, null, 'the reset stands')
  t.equal(status.reset, 'oldest')
  t.equal(status.queued, 3, 'counters still count what was queued')
  t.equal(status.duplicate, 1)
})

t.test('Redis going away under the reader: it stops before its lease could lapse, and reads on from the stored position once Redis is back', async t => {
  const server = await privateRedis(t, ['--appendonly', 'yes', '--appendfsync', 'always'])
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  const prefix = uniquePrefix()
  const config = { ...journalConfig(fake, prefix, 'oldest'), redisUrl: server.url }
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 })
  redis.on('error', () => {}) // the outage below
  t.teardown(() => { redis.disconnect() })
  const log = captureLog('info')
  fake.publish(lightroomEvent('a'))
  fake.publish(lightroomEvent('b'))
  startReaders(t, config, FAST, log.logger)
  await statusWhen(config, redis, s => s.queued === 2 && s.caughtUpAt !== null)

  await server.stop('SIGTERM')
  // Renewals time out while Redis is away; the reader stops one renewal before its lease (FAST: 1 s) could lapse.
  await eventually(() => log.lines.some(l => l.msg === 'journal reader lost its lease; another process reads now'))
  t.ok(log.lines.some(l => l.msg === 'journal lease not renewed'), 'a renewal failed while Redis was away')
  fake.publish(lightroomEvent('c'))
  await server.start()
  const status = await statusWhen(config, redis, s => s.queued === 3)
  t.equal(status.duplicate, 0, 'resumed at the stored position: nothing read twice')
  t.equal(log.lines.filter(l => l.msg === 'journal reader took the lease').length, 2, 'and took the lease again, without a restart')
})
