import { createHmac } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  ADMIN, adobeSignedHeaders, basic, eventually, fixture, httpServer, keyServer, listeningPort, roleEnv, sample, spawnRole, testRedis, uniquePrefix, workersReady
} from '../helpers/index.ts'

const EVENTS = 24
const SECRET = 'topology-forward-secret'

/**
 * docker-compose.yml's topology without Docker: Redis (the test's), one gateway
 * and two workers, each started from its production entry point as its own
 * process, talking only through Redis. Signed events go in at the gateway; the
 * side effect (a signed forward to a destination) comes out of the workers.
 */
t.test('gateway + two workers as separate processes: signed events in, signed forwards out', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const keys = await keyServer(t)

  // The destination is a little slow, so with one job at a time per worker both workers must take part.
  const received = new Map<string, { body: string, signed: boolean }>()
  let deliveries = 0
  const destination = await httpServer(t, (req, res, body) => {
    deliveries++
    const id = String(req.headers['webhook-id'])
    const expected = `v1,${createHmac('sha256', SECRET).update(`${id}.${req.headers['webhook-timestamp']}.${body.toString()}`).digest('base64')}`
    received.set(id, { body: body.toString(), signed: req.headers['webhook-signature'] === expected })
    setTimeout(() => res.writeHead(204).end(), 30)
  })

  const dir = await mkdtemp(join(tmpdir(), 'aeg-topology-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'gateway.config.json')
  await writeFile(configFile, JSON.stringify({
    sources: [{ name: 'lightroom', kind: 'adobe-io-events', clientId: '${LR_CLIENT_ID}' }],
    destinations: [{ name: 'orders', url: destination.url, secret: '${FORWARD_SECRET}' }],
    outputs: { dir: join(dir, 'outputs') }
  }))

  const env = {
    ...roleEnv({ prefix, configFile, keysUrl: keys.url }),
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    LR_CLIENT_ID: 'lightroom-client',
    FORWARD_SECRET: SECRET,
    WORKER_CONCURRENCY: '1',
    JOB_BACKOFF_MS: '50'
  }
  const gateway = spawnRole(t, 'src/bin/gateway.ts', env)
  // At debug the workers log one 'event processed' line per event (at info they log none: its cost per event).
  const workerEnv = { ...env, LOG_LEVEL: 'debug' }
  const workers = [spawnRole(t, 'src/bin/worker.ts', workerEnv), spawnRole(t, 'src/bin/worker.ts', workerEnv)]
  const port = await listeningPort(gateway, 'gateway')
  const adminPort = await listeningPort(gateway, 'admin')
  await Promise.all(workers.map(w => w.waitForLog(workersReady)))
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200)

  // The seed event, succeeded, minus its output links (downloads are not this test's subject).
  const lightroomEvent = (i: number) => {
    const event = fixture('adobe-io-events/lightroom-job-status.json')
    event.event_id = `topology-${i}`
    event.event.body.jobId = `lr-job-${i}`
    event.event.body.outputs = [{ input: 'input.dng', status: 'succeeded' }]
    delete event.event.body._links
    event.recipient_client_id = 'lightroom-client'
    return JSON.stringify(event)
  }

  const eventIds: string[] = []
  for (let i = 0; i < EVENTS; i++) {
    const body = lightroomEvent(i)
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/lightroom`, { method: 'POST', headers: adobeSignedHeaders(body), body })
    t.equal(res.status, 200, `event ${i} acknowledged`)
    eventIds.push(`lightroom/topology-${i}`)
  }
  // A redelivery of an accepted event is acknowledged and has no second effect.
  const againBody = lightroomEvent(0)
  t.equal((await fetch(`http://127.0.0.1:${port}/webhooks/lightroom`, { method: 'POST', headers: adobeSignedHeaders(againBody), body: againBody })).status, 200)

  await eventually(() => received.size >= EVENTS, 30_000)
  const forwarded = [...received.values()].map(r => JSON.parse(r.body) as { id: string })
  t.same(forwarded.map(e => e.id).sort(), [...eventIds].sort(), 'every event forwarded')
  t.ok([...received.values()].every(r => r.signed), 'every forward carries a valid Standard Webhooks signature')

  // Both worker processes did part of the work.
  // One line per processed event, told apart by its fields (the job and its destinations), not its wording.
  const processedBy = () => workers.map(w => w.lines.filter(l => l.jobStatus !== undefined && Array.isArray(l.destinations)).length)
  // An events job logs its line once its forward (made inline) was answered: the POSTs arrive first.
  await eventually(() => processedBy()[0]! + processedBy()[1]! >= EVENTS)
  t.equal(processedBy()[0]! + processedBy()[1]!, EVENTS, `events processed per worker: ${processedBy().join(' + ')}`)
  t.ok(processedBy().every(n => n > 0), 'both workers took events')

  // The job-status store the workers write is readable on the gateway.
  const status = await eventually(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/jobs/lr-job-3`)
    return res.status === 200 && await res.json() as { status: string, history: unknown[] }
  })
  t.match(status, { jobId: 'lr-job-3', status: 'succeeded', source: 'lightroom' })

  // The gateway's admin port saw the workers' outcomes on the queues' event streams.
  const metrics = await eventually(async () => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: basic() } })).text()
    return (sample(text, 'aeg_jobs_total', { queue: 'events', outcome: 'completed' }) ?? 0) > 0 && text
  })
  t.ok(metrics, 'job outcomes from the workers are on /metrics')

  // Every role stops cleanly on SIGTERM.
  const codes = await Promise.all([gateway.stop(), ...workers.map(w => w.stop())])
  t.same(codes, [0, 0, 0], 'gateway and workers exit 0 on SIGTERM')
  t.equal(deliveries, EVENTS, 'no event was delivered twice (the redelivery included)')
})
