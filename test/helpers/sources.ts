import { Queue } from 'bullmq'
import { pino } from 'pino'
import type { SourceConfig } from '../../src/config.ts'
import { buildEnvelope, type Delivery, type Envelope } from '../../src/ingest/envelope.ts'
import { QUEUE } from '../../src/queues.ts'
import { sourceKind, type Source } from '../../src/sources/index.ts'
import { PublicKeyCache } from '../../src/verify/public-keys.ts'
import type { Test } from 'tap'
import { testConfig } from './app.ts'
import { testRedis } from './redis.ts'

/** A source built from one config entry the way the app builds it (defaults filled in). */
export function makeSource (config: SourceConfig, publicKeyBaseUrl = 'http://127.0.0.1:9'): Source {
  const validated = testConfig({ sources: [config] }).sources[0]!
  const keys = new PublicKeyCache({ baseUrl: publicKeyBaseUrl, ttlMs: 60_000, timeoutMs: 1000, log: pino({ level: 'silent' }) })
  return sourceKind(validated.kind).create(validated, { keys })
}

/** What the edge does after verification: parse, then build one envelope per event. */
export function normalize (source: Source, body: unknown, headers: Record<string, string> = {}): Envelope[] {
  const delivery: Delivery = { sourceName: source.name, headers, receivedAt: new Date().toISOString(), requestId: 'req-test' }
  const parsed = source.parse(body, delivery)
  if (parsed.kind !== 'events') throw new Error(`expected events, got ${parsed.kind}`)
  return parsed.events.map(facts => buildEnvelope(delivery, source.kind, facts))
}

/**
 * The `events` queue under a test prefix, read the way a worker would see it:
 * `envelopes()` lists the queued envelopes, oldest first.
 */
export function eventsQueue (t: Test, prefix: string) {
  const connection = testRedis(t, prefix)
  const queue = new Queue(QUEUE.events, { connection, prefix })
  t.teardown(() => queue.close())
  return {
    queue,
    async envelopes (): Promise<Envelope[]> {
      const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'], 0, -1, true)
      return jobs.map(j => j.data as Envelope)
    }
  }
}
