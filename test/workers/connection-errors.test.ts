import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { ConnectionErrorLog } from '../../src/connection-errors.ts'
import { eventually } from '../helpers/index.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A ConnectionErrorLog summarising every `intervalMs`, writing to lines the test reads; closed at teardown. */
function errorLog (t: Test, intervalMs: number) {
  const lines: Record<string, unknown>[] = []
  const errors = new ConnectionErrorLog(pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)) } }), intervalMs)
  t.teardown(() => errors.close())
  return { errors, lines }
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })

t.test('repeats of one error are counted, not logged; recovery logs once and re-arms', async t => {
  const { errors, lines } = errorLog(t, 3_600_000)
  for (let i = 0; i < 50; i++) errors.report('redis', refused())
  errors.report('queue:forward', refused())
  t.equal(lines.length, 2, 'one line per component and error code')
  t.same(lines.map(l => [l.component, l.code]), [['redis', 'ECONNREFUSED'], ['queue:forward', 'ECONNREFUSED']])

  errors.recovered(['redis', 'queue:forward'])
  const summary = lines.find(l => l.repeats !== undefined)
  t.equal(summary?.repeats, 49, 'the repeats are summarised when the connection is back')
  t.same(lines.at(-1)?.components, ['redis', 'queue:forward'], 'one line says which components are back')

  const before = lines.length
  errors.report('redis', refused())
  t.equal(lines.length, before + 1, 'the next outage is logged at once')
})

t.test('a connection coming back ends only its own components\' outage', async t => {
  const { errors, lines } = errorLog(t, 3_600_000)
  errors.report('redis', refused())
  errors.report('redis:job-events', refused())
  errors.recovered(['redis', 'worker:events'])
  t.same(lines.at(-1)?.components, ['redis'], 'only the components that were failing and are back')
  const before = lines.length
  errors.report('redis:job-events', refused())
  t.equal(lines.length, before, 'still down: a repeat, not a new outage')
  errors.recovered(['redis:job-events'])
  t.match(lines.slice(before), [{ component: 'redis:job-events', repeats: 1 }, { msg: 'connection restored', components: ['redis:job-events'] }])
})

t.test('an error object re-emitted by a second client (a BullMQ queue re-emits its connection\'s) counts once', async t => {
  const { errors, lines } = errorLog(t, 3_600_000)
  for (let i = 0; i < 3; i++) {
    const err = refused()
    errors.report('redis', err)
    errors.report('redis', err)
  }
  errors.recovered(['redis'])
  t.equal(lines.find(l => l.msg === 'error repeated')?.repeats, 2, 'three retries: one logged, two repeats')
})

t.test('while the outage lasts, the repeats are summarised once per interval', async t => {
  const { errors, lines } = errorLog(t, 30)
  for (let i = 0; i < 5; i++) errors.report('redis', refused())
  await eventually(() => lines.some(l => l.msg === 'error repeated'))
  t.match(lines.find(l => l.msg === 'error repeated'), { component: 'redis', code: 'ECONNREFUSED', repeats: 4, intervalMs: 30 })
  errors.report('redis', refused())
  await eventually(() => lines.filter(l => l.msg === 'error repeated').length === 2)
  t.equal(lines.filter(l => l.msg === 'error repeated')[1]?.repeats, 1, 'counting starts afresh after each summary')
  t.equal(lines.filter(l => l.msg === 'error; repeats of it are summarised').length, 1, 'and the error itself was logged once')
})

t.test('a worker whose Redis refuses connections writes only JSON lines, one per component and error', async t => {
  // A port that accepts and drops every connection: each ioredis retry is seen here.
  let attempts = 0
  let enoughAttempts!: () => void
  const seenEnough = new Promise<void>(resolve => { enoughAttempts = resolve })
  const sockets = new Set<Socket>()
  const server = createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    if (++attempts === 12) enoughAttempts()
    socket.destroy()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  const port = (server.address() as AddressInfo).port

  const child = spawn(process.execPath, ['src/bin/worker.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'info', QUEUE_PREFIX: 'aeg-refused' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit')
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })

  await seenEnough
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'stops cleanly on SIGTERM while Redis is away')
  t.equal(err, '', 'nothing on stderr (BullMQ prints stacks there when nobody listens)')
  const lines = out.split('\n').filter(l => l !== '')
  const notJson = lines.filter(l => { try { JSON.parse(l); return false } catch { return true } })
  t.same(notJson, [], 'every stdout line is JSON')
  const errorLines = lines.map(l => JSON.parse(l) as { component?: string, code?: string, repeats?: number })
    .filter(l => l.component !== undefined && l.repeats === undefined)
  const perKind = new Map<string, number>()
  for (const l of errorLines) perKind.set(`${l.component} ${l.code}`, (perKind.get(`${l.component} ${l.code}`) ?? 0) + 1)
  t.ok(errorLines.length > 0, `the outage is logged (${[...perKind.keys()].join(', ')})`)
  t.same([...perKind.values()].filter(n => n > 1), [], `${attempts} connection attempts, each kind of error logged once`)
})
