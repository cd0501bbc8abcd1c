import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { GatewayFileConfig } from '../../src/config.ts'
import { JobStatusStore } from '../../src/job-status.ts'
import { QUEUE, jobIdFor } from '../../src/queues.ts'
import { outputDirFor } from '../../workers/handlers/outputs.ts'
import { destination, eventually, httpServer, jobsCompleted, REDIS_URL, spawnRole, tempDir, testConfig, testRedis, uniquePrefix, wipe, workersReady } from '../helpers/index.ts'
import { envelope, eventQueue, inspectQueue, lightroomEnvelope } from './harness.ts'

const SECRET = 'whsec_' + randomBytes(24).toString('base64')
const SOURCES: GatewayFileConfig['sources'] = [
  { name: 'lightroom', kind: 'adobe-io-events', verify: 'none' },
  { name: 'pdf', kind: 'pdf-services', auth: { type: 'none' } }
]

/**
 * `npm run worker` as a child process: resolves once it logged that its
 * workers are ready; killed at teardown if still running.
 */
async function spawnWorker (t: Test, env: Record<string, string>): Promise<ChildProcess> {
  const worker = spawnRole(t, 'src/bin/worker.ts', { REDIS_URL, ...env })
  if (env.QUEUE_PREFIX !== undefined) t.teardown(() => wipe(env.QUEUE_PREFIX!))
  await worker.waitForLog(workersReady, 60_000)
  return worker.child
}

async function configFile (t: Test, file: Partial<GatewayFileConfig>): Promise<string> {
  const path = join(await tempDir(t), 'gateway.config.json')
  await writeFile(path, JSON.stringify({ sources: SOURCES, ...file }))
  return path
}

/** Every delivery a forward job (what these tests follow across processes); the inline path under kills: test/reliability/worker-crash.test.ts. */
const FORWARD_JOBS = { FORWARD_INLINE: 'off' }

t.test('two worker processes share 100 events: 100 statuses, exactly 100 forwards, no id twice', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { secret: SECRET })
  const env = {
    QUEUE_PREFIX: prefix,
    ...FORWARD_JOBS,
    WORKER_CONCURRENCY: '4',
    GATEWAY_CONFIG: await configFile(t, { destinations: [{ name: 'orders', url: dest.url, secret: SECRET }] })
  }
  await Promise.all([spawnWorker(t, env), spawnWorker(t, env)])

  const config = testConfig({ sources: SOURCES }, { QUEUE_PREFIX: prefix })
  const queue = await eventQueue(t, config)
  const events = Array.from({ length: 100 }, (_, i) => lightroomEnvelope(`ev-${i}`, `job-${i}`, 'succeeded'))
  for (let i = 0; i < events.length; i += 20) await queue.add('lightroom', events.slice(i, i + 20))

  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  await eventually(async () => (await forward.getJobCounts('completed')).completed === 100, 30_000)
  t.equal(dest.received.length, 100, 'exactly 100 POSTs')
  t.equal(new Set(dest.ids()).size, 100, 'no event id forwarded twice')
  t.ok(dest.received.every(r => r.signed), 'every POST signed')

  const store = new JobStatusStore(redis, prefix)
  const statuses = await Promise.all(events.map(e => store.get(e.jobid!)))
  t.equal(statuses.filter(s => s?.status === 'succeeded' && s.history.length === 1).length, 100, '100 job-status records')

  const workersSeen = new Set((await forward.getJobs(['completed'], 0, -1)).map(j => j.processedBy))
  t.equal(workersSeen.size, 2, `both processes took forward jobs (${[...workersSeen].join(', ')})`)
})

/**
 * For the crash tests: a worker process that recovers stalled jobs quickly
 * (lock 1 s, checked every 300 ms), forwarding to `destUrl` and downloading
 * from 127.0.0.1, and one PDF Services event for `jobId` whose output is at
 * `downloadUri`, queued. `env` is for the replacement worker.
 */
async function crashSetup (t: Test, o: { prefix: string, destUrl: string, downloadUri: string, jobId: string, outputTimeoutMs: number, env?: Record<string, string> }) {
  const dir = await tempDir(t)
  const env = {
    QUEUE_PREFIX: o.prefix,
    ...FORWARD_JOBS,
    WORKER_LOCK_DURATION_MS: '1000',
    WORKER_STALLED_INTERVAL_MS: '300',
    ...o.env,
    GATEWAY_CONFIG: await configFile(t, {
      destinations: [{ name: 'orders', url: o.destUrl, secret: SECRET }],
      outputs: { dir, allowHosts: ['127.0.0.1'], allowHttp: true, maxBytes: 1000, timeoutMs: o.outputTimeoutMs }
    })
  }
  const first = await spawnWorker(t, env)
  const config = testConfig({ sources: SOURCES }, { QUEUE_PREFIX: o.prefix })
  const event = envelope('pdf', 'pdf-services', {
    key: `${o.jobId}/succeeded`,
    type: 'com.adobe.pdf-services.job-status',
    jobId: o.jobId,
    status: 'succeeded',
    data: { jobID: o.jobId, statusResponse: { status: 'done', asset: { downloadUri: o.downloadUri } } }
  })
  await (await eventQueue(t, config)).add('pdf', [event])
  return { env, dir, first, config, event }
}

t.test('SIGKILL mid-forward: recovered by another process after the stalled check; other side effects not repeated', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  // The first POST never gets an answer: the worker dies while waiting for it.
  const dest = await destination(t, { secret: SECRET, respond: n => n === 1 ? 'hang' : 200 })
  let downloads = 0
  const storage = await httpServer(t, (_req, res) => { downloads++; res.writeHead(200).end('%PDF-1.7 test') })
  const { env, dir, first, config, event } = await crashSetup(t, {
    prefix, destUrl: dest.url, downloadUri: `${storage.url}/out.pdf?sig=1`, jobId: 'job-k', outputTimeoutMs: 5000, env: { FORWARD_TIMEOUT_MS: '60000' }
  })

  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  const outputs = inspectQueue(t, config, QUEUE.outputs, redis)
  const forwardId = jobIdFor(event.id, 'orders')
  await dest.arrivals.reach(1)
  await jobsCompleted(outputs, [jobIdFor(event.id, 'outputs')])
  t.equal(await forward.getJobState(forwardId), 'active')
  first.kill('SIGKILL')
  await once(first, 'exit')

  await spawnWorker(t, env)
  await eventually(async () => await forward.getJobState(forwardId) === 'completed', 15_000)
  const job = await forward.getJob(forwardId)
  t.equal(job?.stalledCounter, 1, 'recovered through the stalled check')
  // The documented repeat: the crash fell between the POST and its record.
  t.equal(dest.received.length, 2, 'the unanswered POST was repeated once')
  t.same(dest.ids(), [event.id, event.id], 'with the same webhook-id, for the receiver to deduplicate')
  const status = await new JobStatusStore(redis, prefix).get('job-k')
  t.equal(status?.history.length, 1, 'status recorded once')
  t.equal(downloads, 1, 'output downloaded once')
  t.same(await readdir(outputDirFor(dir, event.id)), ['output.pdf'])
})

t.test('SIGKILL mid-download: the output is fetched again and written once, the forward is not repeated', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const dest = await destination(t, { secret: SECRET })
  let downloads = 0
  // The first download hangs with half a body sent: the worker dies with a temp file open.
  const storage = await httpServer(t, (_req, res) => {
    downloads++
    res.writeHead(200, { 'content-length': '13' })
    if (downloads === 1) res.write('%PDF-1')
    else res.end('%PDF-1.7 test')
  })
  const { env, dir, first, config, event } = await crashSetup(t, {
    prefix, destUrl: dest.url, downloadUri: `${storage.url}/out.pdf`, jobId: 'job-d', outputTimeoutMs: 60000
  })
  const forward = inspectQueue(t, config, QUEUE.forward, redis)
  const outputs = inspectQueue(t, config, QUEUE.outputs, redis)
  const outputsId = jobIdFor(event.id, 'outputs')
  await eventually(async () => downloads === 1 && await forward.getJobState(jobIdFor(event.id, 'orders')) === 'completed')
  first.kill('SIGKILL')
  await once(first, 'exit')

  await spawnWorker(t, env)
  await eventually(async () => await outputs.getJobState(outputsId) === 'completed', 15_000)
  t.equal(downloads, 2)
  const outDir = outputDirFor(dir, event.id)
  t.equal(await readFile(join(outDir, 'output.pdf'), 'utf8'), '%PDF-1.7 test', 'the whole file, never the partial one')
  t.equal(dest.received.length, 1, 'forwarded once')
  const status = await new JobStatusStore(redis, prefix).get('job-d')
  t.equal(status?.outputs.length, 1)
  t.equal(status?.outputs[0]?.bytes, 13)
  t.same(await readdir(outDir), ['output.pdf'], "the killed attempt's temp file was cleaned up")
})
