import { createHash } from 'node:crypto'
import type { JobsOptions } from 'bullmq'
import type { Envelope } from './ingest/envelope.ts'
import type { OutputRef } from './sources/source.ts'

/** Queue names; all live under the configured `QUEUE_PREFIX`. */
export const QUEUE = {
  events: 'events',
  forward: 'forward',
  outputs: 'outputs'
} as const

export type QueueName = typeof QUEUE[keyof typeof QUEUE]

/**
 * Options every `Queue` of ours is built with; they must agree, since each
 * Queue writes them into the queue's shared meta hash. BullMQ keeps 10,000
 * entries of each queue's events stream (about 2 MB per queue); its readers
 * (the admin's metrics, QueueEvents) follow it live, so 2,000 are plenty.
 */
export const QUEUE_OPTIONS = { streams: { events: { maxLen: 2000 } } } as const

/**
 * A BullMQ-safe id derived from one or more parts. Raw envelope ids may hold
 * `:` (forbidden in job ids) and are unbounded in length; a hash is neither.
 */
export function jobIdFor (...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 32)
}

/** The `events` job: one normalized envelope, written by the edge (and the journal reader). */
export type EventsJob = Envelope

/**
 * A `forward` job: one envelope for one destination (looked up by name when
 * it runs). Made when the events job did not deliver it inline: several
 * destinations match, inline forwarding is off, or the inline attempt failed.
 */
export interface ForwardJob {
  envelope: Envelope
  destination: string
  /** The destination's answer to the inline attempt when it refused the event for good (4xx). */
  rejected?: string
}

/** An `outputs` job: what one event asks to download. */
export interface OutputsJob {
  eventId: string
  /** The Adobe job id the outputs are recorded on, when the event names one. */
  jobId?: string
  outputs: OutputRef[]
}

/**
 * Retention: Redis memory stays bounded; failed jobs stay inspectable in Bull
 * Board, and the last 100 completed ones per queue too. Dedup does not need
 * the completed job: the `events` dedup key has its own TTL (the dedup window).
 */
export const RETENTION = {
  removeOnComplete: { age: 3600, count: 100 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10000 }
} as const

/** Attempts with exponential backoff and jitter, then the failed (dead letter) state. */
export function jobOptions (attempts: number, backoffMs: number): JobsOptions {
  return { attempts, backoff: { type: 'exponential', delay: backoffMs, jitter: 0.5 }, ...RETENTION }
}
