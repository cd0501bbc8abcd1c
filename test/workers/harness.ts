import { once } from 'node:events'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import type { Test } from 'tap'
import type { GatewayConfig } from '../../src/config.ts'
import { buildEnvelope, type Envelope, type EventFacts } from '../../src/ingest/envelope.ts'
import { EventQueue } from '../../src/ingest/event-queue.ts'
import type { QueueName } from '../../src/queues.ts'
import type { SourceConfig } from '../../src/config.ts'
import { createEdgeRedis } from '../../src/redis.ts'
import { startWorkers } from '../../workers/start.ts'
import { wipe } from '../helpers/index.ts'

/** Workers in this process, closed at teardown. */
export async function startTestWorkers (t: Test, config: GatewayConfig, log = pino({ level: 'silent' })) {
  const workers = await startWorkers(config, log)
  t.teardown(async () => {
    await workers.close()
    await wipe(config.queuePrefix)
  })
  return workers
}

/** The edge's way onto the `events` queue. */
export async function eventQueue (t: Test, config: GatewayConfig): Promise<EventQueue> {
  const connection = createEdgeRedis(config.redisUrl)
  // The edge connection fails fast instead of queueing commands: wait until it is up.
  if (connection.status !== 'ready') await once(connection, 'ready')
  // A roomier ack budget than the edge's: these tests enqueue to set up, not to time the answer.
  const queue = EventQueue.fromConfig({ ...config, ackTimeoutMs: 5000 }, connection)
  t.teardown(async () => {
    await queue.close()
    await connection.quit()
  })
  return queue
}

/** A queue handle to inspect jobs with. */
export function inspectQueue (t: Test, config: GatewayConfig, name: QueueName, connection: Redis): Queue {
  const queue = new Queue(name, { connection, prefix: config.queuePrefix })
  t.teardown(() => queue.close())
  return queue
}

/** An envelope as the edge builds it. */
export function envelope (source: string, kind: SourceConfig['kind'], facts: EventFacts): Envelope {
  return buildEnvelope({ sourceName: source, headers: {}, receivedAt: new Date().toISOString(), requestId: 'req-1' }, kind, facts)
}

/** A succeeded/running Lightroom-like job event (I/O Events legacy shape). */
export function lightroomEnvelope (key: string, jobId: string, status: string, time = '2026-01-01T00:00:00.000Z'): Envelope {
  return envelope('lightroom', 'adobe-io-events', {
    key,
    type: 'com.adobe.lightroom.job-status',
    time,
    jobId,
    status,
    data: { event_id: key, event: { body: { jobId, outputs: [] } } }
  })
}

/** True when none of the queues has work left: every side effect has happened. */
export async function queuesDrained (queues: readonly Queue[]): Promise<boolean> {
  for (const q of queues) {
    const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')
    if (Object.values(counts).some(n => n > 0)) return false
  }
  return true
}
