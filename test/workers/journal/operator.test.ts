import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { buildAdminApp } from '../../../src/admin.ts'
import { fakeJournal } from '../../helpers/fake-journal.ts'
import { ADMIN, REDIS_URL, ROOT, basic, sample, tempDir, testRedis, uniquePrefix } from '../../helpers/index.ts'
import { SOURCE, journalConfig, journalFileConfig, lightroomEvent, startReaders, statusWhen } from './support.ts'

t.test('metrics and /admin/journal show counters, lag, errors and the stored position, behind admin auth', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  const config = journalConfig(fake, prefix, 'oldest')
  const admin = { ...config, admin: { user: ADMIN.user, password: ADMIN.password, auth: 'on' as const } }
  fake.failNext(1, 502)
  const positions = ['a', 'b', 'c'].map(id => fake.publish(lightroomEvent(id)))
  startReaders(t, config)
  await statusWhen(config, redis, s => s.queued === 3 && s.caughtUpAt !== null)

  const app = await buildAdminApp(admin, { logger: pino({ level: 'silent' }), watchJobs: false })
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/admin/journal' })).statusCode, 401, 'behind admin auth')
  const res = await app.inject({ url: '/admin/journal', headers: { authorization: basic() } })
  t.equal(res.statusCode, 200)
  const state = res.json().sources[SOURCE]
  t.equal(state.position, positions[2], 'the stored position')
  t.match(state.next, /since=/, 'and the next link')
  t.equal(state.queued, 3)
  t.equal(state.errors.server, 1)
  t.match(state.reader, { holder: String, ttlMs: Number })

  const text = (await app.inject({ url: '/metrics', headers: { authorization: basic() } })).body
  t.equal(sample(text, 'aeg_journal_events_total', { source: SOURCE, outcome: 'queued' }), 3)
  t.equal(sample(text, 'aeg_journal_events_total', { source: SOURCE, outcome: 'duplicate' }), 0)
  t.equal(sample(text, 'aeg_journal_errors_total', { source: SOURCE, reason: 'server' }), 1)
  t.ok((sample(text, 'aeg_journal_lag_seconds', { source: SOURCE }) ?? -1) >= 0, 'the lag is exposed')
  t.equal(sample(text, 'aeg_journal_reader_up', { source: SOURCE }), 1)
})

t.test('lag: behind by the age of the newest event read while a page is pending; drops once the journal has nothing newer', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { pageSize: 2, retryAfterSeconds: null })
  const config = journalConfig(fake, prefix, 'oldest')
  const admin = await buildAdminApp({ ...config, admin: { user: ADMIN.user, password: ADMIN.password, auth: 'on' as const } }, { logger: pino({ level: 'silent' }), watchJobs: false })
  t.teardown(() => admin.close())
  const lag = async () => sample((await admin.inject({ url: '/metrics', headers: { authorization: basic() } })).body, 'aeg_journal_lag_seconds', { source: SOURCE })
  const hourAgo = new Date(Date.now() - 3_600_000)
  const positions = ['a', 'b', 'c'].map(id => fake.publish(lightroomEvent(id, hourAgo)))
  // The second page is held: the reader has queued events an hour old and waits for the rest.
  const held = fake.holdNext(r => r.query.get('since') === positions[1])
  startReaders(t, config)
  await held.arrived
  const behind = await statusWhen(config, redis, s => s.queued === 2)
  t.equal(behind.through, hourAgo.toISOString(), 'everything up to the newest event read is queued')
  t.ok((await lag())! >= 3600, 'an hour behind while the next page is pending')
  held.release()
  const caughtUp = await statusWhen(config, redis, s => s.queued === 3 && s.caughtUpAt !== null)
  t.equal(caughtUp.through, caughtUp.caughtUpAt, 'then up to the request the journal answered 204')
  t.ok((await lag())! < 3600, 'no longer an hour behind')
})

t.test('npm run journal: status, and reset seek/latest picked up by the running reader', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { retryAfterSeconds: null })
  const config = journalConfig(fake, prefix, 'oldest')
  for (const id of ['a', 'b']) fake.publish(lightroomEvent(id))
  startReaders(t, config)
  await statusWhen(config, redis, s => s.queued === 2)
  const path = join(await tempDir(t), 'gateway.config.json')
  await writeFile(path, JSON.stringify(journalFileConfig(fake, 'oldest')))
  const run = async (...args: string[]) => {
    const child = spawn(process.execPath, ['scripts/journal.ts', ...args], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '', REDIS_URL, QUEUE_PREFIX: prefix, GATEWAY_CONFIG: path }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout!.on('data', (c: Buffer) => { output += c.toString() })
    child.stderr!.on('data', (c: Buffer) => { output += c.toString() })
    const [code] = await once(child, 'exit') as [number | null]
    return { code, output }
  }

  const status = await run('status')
  t.equal(status.code, 0)
  t.equal(JSON.parse(status.output)[SOURCE].queued, 2)

  const seek = fake.nextAnswered(r => r.query.get('seek') === '-PT2H')
  const reset = await run('reset', SOURCE, 'seek', '-PT2H')
  t.equal(reset.code, 0, reset.output)
  await seek
  await statusWhen(config, redis, s => s.duplicate === 2)
  t.pass('the reader sought 2 hours back and read both again (dedup absorbed them)')

  const latest = fake.nextAnswered(r => r.query.get('latest') === 'true')
  t.equal((await run('reset', SOURCE, 'latest')).code, 0)
  await latest
  t.pass('reset latest: latest=true requested')

  const oldest = fake.nextAnswered(r => r.query.toString() === '')
  t.equal((await run('reset', SOURCE, 'oldest')).code, 0)
  await oldest
  await statusWhen(config, redis, s => s.duplicate === 4)
  t.pass('reset oldest: read from the first event again (dedup absorbed both)')

  t.equal((await run('reset', 'nope', 'latest')).code, 2, 'unknown source refused')
  t.equal((await run('reset', SOURCE, 'seek', '2 hours')).code, 2, 'a duration that is not ISO 8601 refused')
})
