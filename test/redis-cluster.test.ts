import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { Cluster } from 'ioredis'
import { pino } from 'pino'
import t from 'tap'
import { buildAdminApp } from '../src/admin.ts'
import { ConfigError, loadConfig } from '../src/config.ts'
import type { Envelope } from '../src/ingest/envelope.ts'
import type { JobStatus } from '../src/job-status.ts'
import { QUEUE } from '../src/queues.ts'
import { closeRedis, clusterNodeOptions, createEdgeRedis } from '../src/redis.ts'
import { startWorkers } from '../workers/start.ts'
import { adobeSignedHeaders, buildTestApp, destination, dgrJobEvents, eventually, fixture, keysUnder, keyServer, privateRedisCluster, testConfig, uniquePrefix, within } from './helpers/index.ts'
import { queuesDrained } from './workers/harness.ts'

// REDIS_CLUSTER_NODES: the edge, the workers and the admin port on a real
// three-master Redis Cluster, every key of the prefix in one slot.

const CLIENT_ID = 'aeg-cluster-client'
const SINK_SECRET = 'sink-secret-0123456789'
/** The longest ack budget the config allows. */
const ACK_BUDGET_MS = 9000

t.test('boot refuses a cluster without a hash-tagged QUEUE_PREFIX', async t => {
  const env = { REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001', LOG_LEVEL: 'silent' }
  for (const prefix of ['aeg', '{}aeg', 'aeg{', 'aeg}{']) {
    t.throws(() => loadConfig({ ...env, QUEUE_PREFIX: prefix }, '/nonexistent'),
      new ConfigError(`QUEUE_PREFIX "${prefix}" needs a {hash tag} (e.g. {aeg}) when REDIS_CLUSTER_NODES is set: a queue's keys must share one cluster slot`), prefix)
  }
  t.same(loadConfig({ ...env, QUEUE_PREFIX: 'x{aeg}' }, '/nonexistent').redisClusterNodes, [{ host: '127.0.0.1', port: 7000 }, { host: '127.0.0.1', port: 7001 }])
  t.equal(loadConfig({ LOG_LEVEL: 'silent', QUEUE_PREFIX: 'aeg' }, '/nonexistent').redisClusterNodes, undefined, 'no cluster: any prefix')
  t.throws(() => loadConfig({ ...env, REDIS_CLUSTER_NODES: '127.0.0.1' }, '/nonexistent'), { name: 'ConfigError', message: /^REDIS_CLUSTER_NODES must match pattern/ })
  t.throws(() => loadConfig({ ...env, REDIS_CLUSTER_NODES: '127.0.0.1:0' }, '/nonexistent'), new ConfigError('REDIS_CLUSTER_NODES: port of 127.0.0.1 must be 1-65535'))
})

t.test('REDIS_URL lends user, password and TLS to every cluster node, nothing else', async t => {
  t.same(clusterNodeOptions('rediss://aeg:p%40ss@primary.example:6380/2'), { username: 'aeg', password: 'p@ss', tls: {} })
  t.same(clusterNodeOptions('redis://:secret@127.0.0.1:6379'), { password: 'secret' })
  t.same(clusterNodeOptions('redis://127.0.0.1:6379'), {})
})

t.test('edge, workers and admin on a Redis Cluster', async t => {
  const cluster = await privateRedisCluster(t)
  const keys = await keyServer(t)
  const sink = await destination(t, { secret: SINK_SECRET })
  const forwards = () => sink.received.map(r => ({ id: String(r.headers['webhook-id']), signatureOk: r.signed, envelope: JSON.parse(r.body) as Envelope }))
  const prefix = uniquePrefix()
  const config = testConfig({
    sources: [{ name: 'adobe', kind: 'adobe-io-events', clientId: CLIENT_ID, verify: 'signature' }],
    destinations: [{ name: 'sink', url: `${sink.url}/adobe-jobs`, secret: SINK_SECRET }]
  }, { REDIS_CLUSTER_NODES: cluster.nodes, QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: keys.url, JOB_BACKOFF_MS: '50', ADMIN_AUTH: 'off' })
  t.ok(config.redisClusterNodes?.length === 3)

  const edge = createEdgeRedis(config)
  t.teardown(() => closeRedis(edge))
  t.ok(edge instanceof Cluster, 'the edge connects with a cluster client')
  const app = await buildTestApp(t, config, { redis: edge })
  const workers = await startWorkers(config, pino({ level: 'silent' }))
  t.teardown(() => workers.close())
  const admin = await buildAdminApp(config, { logger: pino({ level: 'silent' }), jobEventsFrom: '0' })
  t.teardown(() => admin.close())
  await admin.ready()

  // Inspection through a cluster connection of our own.
  const inspect = createEdgeRedis(config)
  t.teardown(() => closeRedis(inspect))
  const queues = [QUEUE.events, QUEUE.forward].map(name => new Queue(name, { connection: inspect, prefix }))
  t.teardown(() => Promise.all(queues.map(q => q.close())))
  const drained = () => queuesDrained(queues)

  const post = (body: unknown) => {
    const raw = JSON.stringify(body)
    return app.inject({ method: 'POST', url: '/webhooks/adobe', headers: adobeSignedHeaders(raw), payload: raw })
  }
  const jobStatus = async (jobId: string): Promise<JobStatus | undefined> => {
    const res = await app.inject({ method: 'GET', url: `/jobs/${encodeURIComponent(jobId)}` })
    return res.statusCode === 200 ? res.json() : undefined
  }

  // The cluster client may still be discovering its nodes right after boot: wait for readiness, do not assume it.
  await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 30_000)
  t.pass('readiness PING answers')

  const jobId = `dgr-cluster-${randomUUID()}`
  const batch = dgrJobEvents(jobId, ['running', 'succeeded'], CLIENT_ID)
  const first = await post(batch)
  t.equal(first.statusCode, 200, 'signed batch accepted (one MULTI on the cluster)')
  t.same(first.json(), { received: 2 })

  const status = (await eventually(async () => { const s = await jobStatus(jobId); return s?.history.length === 2 ? s : undefined }))!
  t.equal(status.status, 'succeeded', 'job status written by the workers\' Lua script, read by the edge')
  await sink.arrivals.reach(2)
  t.same(forwards().map(f => f.id).sort(), batch.map(e => `adobe/${e.eventid}`).sort())
  t.ok(forwards().every(f => f.signatureOk), 'forwards are signed')
  t.ok(forwards().every(f => f.envelope.jobid === jobId))

  // A redelivery of the same batch: accepted, deduplicated, nothing forwarded twice.
  t.equal((await post(batch)).statusCode, 200, 'redelivery acknowledged')
  await eventually(drained)
  t.equal(forwards().length, 2, 'redelivery not forwarded again')
  t.equal((await jobStatus(jobId))!.history.length, 2, 'redelivery adds no history')

  // The admin port reads the queues' event streams through cluster connections of its own.
  await eventually(async () => {
    const text = (await admin.inject({ method: 'GET', url: '/metrics' })).body
    return /aeg_jobs_total\{queue="events",outcome="completed"\} 2\b/.test(text)
  })
  t.pass('admin counted the completed events jobs (each forwarded its event inline) from the cluster\'s event streams')

  // Every key of the prefix (queues, dedup, job status, delivered records) sits in one slot on one node.
  const keysPerNode = await Promise.all(cluster.probes.map(p => keysUnder(p, prefix)))
  const holding = keysPerNode.filter(k => k.length > 0)
  t.equal(holding.length, 1, 'one node holds the whole prefix')
  const all = holding.flat()
  t.ok(all.some(k => k.includes(':job:')) && all.some(k => k.includes(':forwarded:')) && all.some(k => k.includes(':de:')), `job status, delivered and dedup keys present (${all.length} keys)`)
  const slots = new Set(await Promise.all(all.map(k => cluster.probes[0]!.cluster('KEYSLOT', k) as Promise<number>)))
  t.equal(slots.size, 1, 'all in one slot')
})

t.test('the edge on a cluster fails fast once the cluster is gone', async t => {
  const cluster = await privateRedisCluster(t)
  const keys = await keyServer(t)
  const config = testConfig({ sources: [{ name: 'adobe', kind: 'adobe-io-events', clientId: CLIENT_ID, verify: 'signature' }] },
    { REDIS_CLUSTER_NODES: cluster.nodes, QUEUE_PREFIX: uniquePrefix(), ADOBE_PUBLIC_KEY_BASE_URL: keys.url, ACK_TIMEOUT_MS: String(ACK_BUDGET_MS), CONNECTION_TIMEOUT_MS: '60000' })
  const edge = createEdgeRedis(config)
  t.teardown(() => closeRedis(edge))
  const app = await buildTestApp(t, config, { redis: edge })
  const event = fixture('adobe-io-events/dgr-single.json')
  event.recipientclientid = CLIENT_ID
  const post = () => {
    event.eventid = randomUUID()
    const raw = JSON.stringify(event)
    return app.inject({ method: 'POST', url: '/webhooks/adobe', headers: adobeSignedHeaders(raw), payload: raw })
  }
  t.equal((await post()).statusCode, 200, 'accepted while the cluster is up')

  // The ack budget is the longest allowed (9 s): a 503 that waited for it
  // trips the guard below, one that failed fast does not.
  await cluster.stop()
  const res = await within(post(), ACK_BUDGET_MS - 1000, 'the 503 waited for the ack budget instead of failing fast')
  t.equal(res.statusCode, 503, 'answered 503 while the cluster is away')
  // Once the client has noticed (no node left, reconnecting), requests must not wait in an offline queue.
  await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 503 && edge.status !== 'ready')
  for (let i = 0; i < 3; i++) {
    const later = await within(post(), ACK_BUDGET_MS - 1000, `request ${i + 1} waited in an offline queue (client ${edge.status})`)
    t.equal(later.statusCode, 503, 'answered 503 without waiting for the ack budget')
  }
})
