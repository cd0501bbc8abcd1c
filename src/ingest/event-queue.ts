import { Job, Queue, type JobsOptions, type RedisQueueBackend } from 'bullmq'
import type { Redis } from 'ioredis'
import { queueUnavailable } from '../errors.ts'
import { QUEUE, jobIdFor } from '../queues.ts'
import type { Envelope } from './envelope.ts'

export interface EventQueueOptions {
  connection: Redis
  prefix: string
  /** How long an accepted event id suppresses redeliveries. */
  dedupWindowMs: number
  /** Longest wait for Redis to confirm an enqueue before answering 503. */
  ackTimeoutMs: number
  attempts: number
  backoffMs: number
  /** Told how long each enqueue took and whether it was confirmed (metrics). */
  observe?: (seconds: number, ok: boolean) => void
}

/** Retention: Redis memory stays bounded; failed jobs stay inspectable in Bull Board. */
export const RETENTION = {
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10000 }
} as const

export function jobOptions (attempts: number, backoffMs: number): JobsOptions {
  return { attempts, backoff: { type: 'exponential', delay: backoffMs, jitter: 0.5 }, ...RETENTION }
}

/**
 * The `events` queue as the edge writes it: every envelope of a delivery in one
 * MULTI transaction (a batch lands whole or not at all), each deduplicated by
 * its envelope id over the dedup window. Resolves only once Redis confirmed.
 */
export class EventQueue {
  readonly queue: Queue
  readonly #opts: EventQueueOptions
  readonly #jobOpts: JobsOptions

  constructor (opts: EventQueueOptions) {
    this.#opts = opts
    // Not skipWaitingForReady: with it BullMQ's version check (INFO) runs at once on
    // the fail-fast connection, fails while it is still connecting, and leaves the
    // queue's client rejected for good, so every enqueue after boot answered 503.
    this.queue = new Queue(QUEUE.events, { connection: opts.connection, prefix: opts.prefix })
    // The queue's own 'error' events (lost connection) are answered per request as 503.
    this.queue.on('error', () => {})
    this.#jobOpts = jobOptions(opts.attempts, opts.backoffMs)
  }

  /** Queues the envelopes atomically; throws a 503 GatewayError when not confirmed in time. */
  async add (envelopes: readonly Envelope[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const started = process.hrtime.bigint()
    let ok = false
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`enqueue not confirmed within ${this.#opts.ackTimeoutMs} ms`)), this.#opts.ackTimeoutMs)
    })
    try {
      await Promise.race([this.#addAtomically(envelopes), deadline])
      ok = true
    } catch (err) {
      throw queueUnavailable(err)
    } finally {
      clearTimeout(timer)
      this.#opts.observe?.(Number(process.hrtime.bigint() - started) / 1e9, ok)
    }
  }

  async #addAtomically (envelopes: readonly Envelope[]): Promise<void> {
    const { connection } = this.#opts
    if (connection.status !== 'ready') throw new Error(`redis connection is ${connection.status}`)
    // BullMQ's addBulk pipelines without MULTI; its backend exposes the
    // transactional insert its flow producer uses, which is what a batch needs.
    const backend = this.queue.backend as unknown as RedisQueueBackend
    // The backend's client wraps the connection so its transactions carry the
    // `runCommand` the backend's scripts are issued through (a raw ioredis MULTI lacks it).
    const client = await backend.client
    const multi = client.multi()
    for (const envelope of envelopes) {
      const id = jobIdFor(envelope.id)
      const job = new Job(this.queue, envelope.type, envelope, {
        ...this.#jobOpts,
        jobId: id,
        deduplication: { id, ttl: this.#opts.dedupWindowMs }
      }, id)
      void backend.addJobToTransaction(multi as never, job.asJSON(), id)
    }
    const results = await multi.exec()
    if (results === null) throw new Error('enqueue transaction was discarded')
    for (const [err] of results) if (err) throw err
  }

  async close (): Promise<void> {
    await this.queue.close()
  }
}
