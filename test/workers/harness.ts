import { createHmac, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import type { GatewayConfig } from '../../src/config.ts'
import { buildEnvelope, type Envelope, type EventFacts } from '../../src/ingest/envelope.ts'
import { EventQueue } from '../../src/ingest/event-queue.ts'
import type { QueueName } from '../../src/queues.ts'
import type { SourceConfig } from '../../src/config.ts'
import { createEdgeRedis } from '../../src/redis.ts'
import { startWorkers } from '../../workers/start.ts'
import { REDIS_URL, deletePrefix, httpServer } from '../helpers/index.ts'

type Tap = { teardown (fn: () => unknown): void }

/** Workers in this process, closed at teardown. */
export async function startTestWorkers (t: Tap, config: GatewayConfig, log = pino({ level: 'silent' })) {
  const workers = await startWorkers(config, log)
  t.teardown(async () => {
    await workers.close()
    await wipe(config.queuePrefix)
  })
  return workers
}

/**
 * Deletes a prefix once more after workers stopped: a worker writes queue meta
 * and stalled-check keys until it is closed, which can be after the test's
 * own cleanup ran.
 */
export async function wipe (prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  try {
    await deletePrefix(redis, prefix)
  } finally {
    await redis.quit()
  }
}

/** The edge's way onto the `events` queue. */
export async function eventQueue (t: Tap, config: GatewayConfig): Promise<EventQueue> {
  const connection = createEdgeRedis(config.redisUrl)
  // The edge connection fails fast instead of queueing commands: wait until it is up.
  if (connection.status !== 'ready') await once(connection, 'ready')
  const queue = new EventQueue({
    connection,
    prefix: config.queuePrefix,
    dedupWindowMs: config.dedupWindowMs,
    ackTimeoutMs: 5000,
    attempts: config.worker.attempts,
    backoffMs: config.worker.backoffMs
  })
  t.teardown(async () => {
    await queue.close()
    await connection.quit()
  })
  return queue
}

/** A queue handle to inspect jobs with. */
export function inspectQueue (t: Tap, config: GatewayConfig, name: QueueName, connection: Redis): Queue {
  const queue = new Queue(name, { connection, prefix: config.queuePrefix })
  t.teardown(() => queue.close())
  return queue
}

/** An envelope as the edge builds it. */
export function envelope (source: string, kind: SourceConfig['kind'], facts: EventFacts): Envelope {
  return buildEnvelope({ sourceName: source, headers: {}, receivedAt: new Date().toISOString(), requestId: 'req-1' }, kind, facts)
}

/** A succeeded/running Lightroom-like job event (I/O Events legacy shape). */
export function lightroomEvent (key: string, jobId: string, status: string, time = '2026-01-01T00:00:00.000Z'): Envelope {
  return envelope('lightroom', 'adobe-io-events', {
    key,
    type: 'com.adobe.lightroom.job-status',
    time,
    jobId,
    status,
    data: { event_id: key, event: { body: { jobId, outputs: [] } } }
  })
}

/** One request a destination received. */
export interface Received {
  headers: IncomingMessage['headers']
  body: string
  /** True when `webhook-signature` verifies with the destination's secret. */
  signed: boolean
}

/**
 * A forwarding destination: records every request (with its signature checked
 * independently of the code under test) and answers with `respond(n)` for the
 * n-th request (1-based): a status, or 'hang' to never answer.
 */
export async function destination (t: Tap, secret: string, respond: (n: number, req: Received) => number | 'hang' | [number, string] = () => 204) {
  const received: Received[] = []
  const srv = await httpServer(t, (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const text = body.toString('utf8')
    const entry = { headers: req.headers, body: text, signed: verifyStandardWebhook(secret, req.headers, text) }
    received.push(entry)
    const answer = respond(received.length, entry)
    if (answer === 'hang') return
    const [status, reply] = Array.isArray(answer) ? answer : [answer, '']
    res.writeHead(status, { 'content-type': 'text/plain' }).end(reply)
  })
  return { ...srv, received, ids: () => received.map(r => r.headers['webhook-id'] as string) }
}

/** Standard Webhooks verification as a receiver would write it (not the gateway's code). */
export function verifyStandardWebhook (secret: string, headers: IncomingMessage['headers'], body: string): boolean {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret)
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  return signatures.split(' ').some(s => {
    const [version, sig] = s.split(',')
    const given = Buffer.from(sig ?? '', 'base64')
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
  })
}

/** A temporary directory, removed at teardown. */
export async function tempDir (t: Tap): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aeg-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** True when none of the queues has work left: every side effect has happened. */
export async function queuesDrained (queues: readonly Queue[]): Promise<boolean> {
  for (const q of queues) {
    const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')
    if (Object.values(counts).some(n => n > 0)) return false
  }
  return true
}

export { REDIS_URL }
