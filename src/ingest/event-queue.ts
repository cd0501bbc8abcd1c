import { Job, Queue, SpanKind, type JobJson, type JobsOptions, type RedisQueueBackend } from 'bullmq'
import { queueUnavailable } from '../errors.ts'
import { QUEUE, QUEUE_OPTIONS, jobIdFor, jobOptions } from '../queues.ts'
import { settleWithin, withDeadline } from '../deadline.ts'
import type { GatewayConfig } from '../config.ts'
import type { RedisClient } from '../redis.ts'
import { activeTracing } from '../tracing.ts'
import type { Envelope } from './envelope.ts'

export interface EventQueueOptions {
  connection: RedisClient
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

/**
 * Most jobs one MULTI carries: Redis runs a transaction without interleaving,
 * so this bounds how long one flush holds Redis (about 50 µs per job).
 */
const MAX_GROUP_JOBS = 200

/**
 * Transactions out at once. One: Redis runs them one after another anyway, and
 * while one is out the next gathers every delivery that arrives meanwhile.
 */
const MAX_IN_FLIGHT = 1

/**
 * Most jobs waiting for a transaction. Past it Redis is not keeping up (or is
 * stalled): new deliveries are answered 503 at once rather than queued behind
 * work whose senders have already been answered.
 */
const MAX_WAITING_JOBS = 10 * MAX_GROUP_JOBS

/** Whether an envelope became a new job or was absorbed by the dedup window. */
export type EnqueueOutcome = 'queued' | 'duplicate'

/** The per-job answers of one transaction: the add's `[err, result]`, and (probed jobs only) whether it existed before. */
interface GroupResults {
  added: [Error | null, unknown][]
  existed: boolean[] | undefined
}

/** Separates the EXISTS answers of probed jobs from the adds' answers, per job. */
function splitProbes (jobs: readonly { probe: boolean }[], results: [Error | null, unknown][]): GroupResults {
  const added: [Error | null, unknown][] = []
  const existed: boolean[] = []
  let k = 0
  for (const job of jobs) {
    if (job.probe) existed.push(Number(results[k++]![1]) > 0)
    else existed.push(false)
    added.push(results[k++]!)
  }
  return { added, existed }
}

/**
 * Deliveries flushed together as one MULTI. The group holds the ack deadline
 * of all its deliveries: one timer, started when the first one joins, instead
 * of one per request. A delivery that joins later gets the rest of that budget
 * (a group only fills while the previous transaction is out, normally a few
 * ms); when it runs out every delivery of the group is answered 503, so none
 * waits longer than the budget.
 */
class Group {
  /** `probe`: also learn whether the job already existed (journal reader); the edge never asks. */
  readonly jobs: { id: string, json: JobJson, probe: boolean }[] = []
  probes = 0
  /** When the group's deliveries stop waiting (the ack deadline from the first one). */
  lastDeadline = 0
  resolve!: (results: GroupResults) => void
  reject!: (err: unknown) => void
  readonly results = new Promise<GroupResults>((resolve, reject) => {
    this.resolve = resolve
    this.reject = reject
  })

  /** The results, or a rejection once the ack budget from the first delivery has passed. */
  readonly settled: Promise<GroupResults>

  constructor (ackTimeoutMs: number) {
    this.settled = withDeadline(this.results, ackTimeoutMs, () => new Error(`enqueue not confirmed within ${ackTimeoutMs} ms`))
    // Every waiter handles a rejection; this keeps an empty group's from being unhandled.
    this.settled.catch(() => {})
  }
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
  /** What BullMQ's `new Job(...).asJSON()` gives for our options, minus the per-event fields. */
  readonly #template: JobJson
  /** Groups not yet sent, oldest first; deliveries join the last one. */
  readonly #waiting: Group[] = []
  /** Transactions sent and not yet answered. */
  #inFlight = 0
  /** A flush is scheduled for the next turn of the event loop. */
  #scheduled = false

  /** The queue as the configuration sets it up (prefix, dedup window, ack budget, attempts and backoff). */
  static fromConfig (config: Pick<GatewayConfig, 'queuePrefix' | 'dedupWindowMs' | 'ackTimeoutMs' | 'worker'>, connection: RedisClient,
    observe?: EventQueueOptions['observe']): EventQueue {
    return new EventQueue({
      connection,
      prefix: config.queuePrefix,
      dedupWindowMs: config.dedupWindowMs,
      ackTimeoutMs: config.ackTimeoutMs,
      attempts: config.worker.attempts,
      backoffMs: config.worker.backoffMs,
      ...(observe !== undefined && { observe })
    })
  }

  constructor (opts: EventQueueOptions) {
    this.#opts = opts
    // Not skipWaitingForReady: with it BullMQ's version check (INFO) runs at once on
    // the fail-fast connection, fails while it is still connecting, and leaves the
    // queue's client rejected for good, so every enqueue after boot answered 503.
    this.queue = new Queue(QUEUE.events, { ...QUEUE_OPTIONS, connection: opts.connection, prefix: opts.prefix, telemetry: activeTracing()?.telemetry })
    // The queue's own 'error' events (lost connection) are answered per request as 503.
    this.queue.on('error', () => {})
    this.#jobOpts = jobOptions(opts.attempts, opts.backoffMs)
    // Built once by BullMQ itself, so its defaults (attempts, normalized backoff,
    // counters) stay BullMQ's; per event only id, data, opts and timestamp change.
    this.#template = new Job(this.queue, 'template', {}, { ...this.#jobOpts, jobId: 'template', deduplication: { id: 'template', ttl: opts.dedupWindowMs } }, 'template').asJSON()
  }

  /**
   * The JobJson BullMQ's `new Job(queue, sourceName, envelope, opts, id).asJSON()`
   * returns, without building a Job (its constructor, option copies and
   * undefined-field sweep cost about as much as serializing the envelope).
   * test/ingest/event-queue-job.test.ts holds it equal to BullMQ's own.
   */
  jobJson (sourceName: string, envelope: Envelope, id: string, timestamp = Date.now()): JobJson {
    return {
      ...this.#template,
      id,
      // The job's name carries the configured source name, so workers need not derive it from the envelope.
      name: sourceName,
      data: JSON.stringify(envelope),
      opts: { ...this.#template.opts, jobId: id, deduplication: { id, ttl: this.#opts.dedupWindowMs } },
      timestamp,
      deduplicationId: id
    }
  }

  /** Queues the envelopes of one delivery to `sourceName` atomically; throws a 503 GatewayError when not confirmed in time. */
  async add (sourceName: string, envelopes: readonly Envelope[]): Promise<void> {
    await this.#addTraced(sourceName, envelopes, false)
  }

  /**
   * Like `add`, and says per envelope whether it was queued or a duplicate
   * (its job or dedup key already there). Costs one EXISTS per envelope in the
   * same MULTI, so only the journal reader asks; the edge's `add` does not.
   */
  async addWithOutcomes (sourceName: string, envelopes: readonly Envelope[]): Promise<EnqueueOutcome[]> {
    return (await this.#addTraced(sourceName, envelopes, true))!
  }

  /**
   * Tracing off (no telemetry on the queue): `#addTimed` itself. On: inside a
   * producer span, like BullMQ's `Queue.add`, whose context every job carries
   * as `opts.telemetry.metadata` so the worker continues the same trace.
   */
  #addTraced (sourceName: string, envelopes: readonly Envelope[], probe: boolean): Promise<EnqueueOutcome[] | undefined> {
    if (this.queue.opts.telemetry === undefined) return this.#addTimed(sourceName, envelopes, probe)
    return this.queue.trace(SpanKind.PRODUCER, 'add', `${this.queue.name}.${sourceName}`,
      (_span, metadata) => this.#addTimed(sourceName, envelopes, probe, metadata)) as Promise<EnqueueOutcome[] | undefined>
  }

  async #addTimed (sourceName: string, envelopes: readonly Envelope[], probe: boolean, traceMetadata?: string): Promise<EnqueueOutcome[] | undefined> {
    const started = process.hrtime.bigint()
    let ok = false
    try {
      // Bounded by the group's ack deadline (one timer per transaction, not per request).
      const outcomes = await this.#addAtomically(sourceName, envelopes, probe, traceMetadata)
      ok = true
      return outcomes
    } catch (err) {
      throw queueUnavailable(err)
    } finally {
      this.#opts.observe?.(Number(process.hrtime.bigint() - started) / 1e9, ok)
    }
  }

  /**
   * Joins the next transaction: deliveries share one MULTI (one write, one
   * round trip, one EXEC for Redis) instead of one MULTI each. While a
   * transaction is in flight the next one fills up, so the busier the edge the
   * larger and fewer its transactions (group commit). A delivery's events stay
   * together in one MULTI, and each delivery resolves only when the results of
   * its own commands came back without error.
   */
  async #addAtomically (sourceName: string, envelopes: readonly Envelope[], probe: boolean, traceMetadata?: string): Promise<EnqueueOutcome[] | undefined> {
    const jobs = envelopes.map(envelope => {
      const id = jobIdFor(envelope.id)
      return { id, json: this.jobJson(sourceName, envelope, id), probe }
    })
    // Where BullMQ's own add puts the producer's trace context (stored as the job option `tm`).
    if (traceMetadata !== undefined) for (const job of jobs) job.json.opts.telemetry = { metadata: traceMetadata }
    if (this.#waitingJobs() + jobs.length > MAX_WAITING_JOBS) throw new Error('enqueue backlog is full; Redis is not keeping up')
    let group = this.#waiting.at(-1)
    if (group === undefined || group.jobs.length + jobs.length > MAX_GROUP_JOBS) {
      group = new Group(this.#opts.ackTimeoutMs)
      group.lastDeadline = Date.now() + this.#opts.ackTimeoutMs
      this.#waiting.push(group)
    }
    const first = group.jobs.length
    group.jobs.push(...jobs)
    if (probe) group.probes += jobs.length
    this.#schedule()
    const { added, existed } = await group.settled
    for (let i = first; i < first + jobs.length; i++) {
      const [err] = added[i]!
      if (err) throw err
    }
    if (!probe) return undefined
    return jobs.map((_job, i) => existed![first + i] ? 'duplicate' : 'queued')
  }

  /** Flushes waiting groups on the next turn (so this turn's deliveries join), while fewer than MAX_IN_FLIGHT are out. */
  #schedule (): void {
    if (this.#scheduled || this.#inFlight >= MAX_IN_FLIGHT || this.#waiting.length === 0) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      while (this.#inFlight < MAX_IN_FLIGHT && this.#waiting.length > 0) {
        const group = this.#waiting.shift()!
        // Everyone in it was already answered 503: writing it now would only
        // delay the deliveries still waiting (Adobe redelivers the others).
        if (group.lastDeadline <= Date.now()) {
          group.reject(new Error('enqueue deadline passed before the transaction was sent'))
          continue
        }
        this.#inFlight++
        void this.#flush(group).then(() => {
          this.#inFlight--
          this.#schedule()
        })
      }
    })
  }

  #waitingJobs (): number {
    let n = 0
    for (const group of this.#waiting) n += group.jobs.length
    return n
  }

  /** Sends one group as a MULTI; never rejects (the group's waiters get the outcome). */
  async #flush (group: Group): Promise<void> {
    try {
      // Bounded like each delivery, from the start (the client itself may not be
      // up yet): a transaction Redis never answers must not hold the in-flight
      // slot, or every later delivery would wait behind it.
      const results = await withDeadline(this.#exec(group), this.#opts.ackTimeoutMs,
        () => new Error(`transaction not confirmed within ${this.#opts.ackTimeoutMs} ms`))
      if (results === null) throw new Error('enqueue transaction was discarded')
      group.resolve(group.probes === 0 ? { added: results, existed: undefined } : splitProbes(group.jobs, results))
    } catch (err) {
      group.reject(err)
    }
  }

  async #exec (group: Group): Promise<[Error | null, unknown][] | null> {
    // BullMQ's addBulk pipelines without MULTI; its backend exposes the
    // transactional insert its flow producer uses, which is what a batch needs.
    const backend = this.queue.backend as unknown as RedisQueueBackend
    // The backend's client wraps the connection so its transactions carry the
    // `runCommand` the backend's scripts are issued through (a raw ioredis MULTI lacks it).
    const client = await backend.client
    // An ioredis MULTI underneath (BullMQ adds `runCommand` to it), so it takes plain commands too.
    const multi = client.multi() as ReturnType<typeof client.multi> & { exists (...keys: string[]): unknown }
    const keys = this.queue.keys
    for (const job of group.jobs) {
      // Atomic with the add that follows: the job (or its dedup key) was there before it, or it is new.
      if (job.probe) multi.exists(`${keys['']}${job.id}`, `${keys.de}:${job.id}`)
      void backend.addJobToTransaction(multi, job.json, job.id)
    }
    return await (multi.exec() as Promise<[Error | null, unknown][] | null>)
  }

  /** Closes the queue; bounded, because BullMQ's close waits forever on a connection that was cut. */
  async close (timeoutMs = 2000): Promise<void> {
    await settleWithin(this.queue.close(), timeoutMs)
  }
}
