import type { Queue, QueueEvents } from 'bullmq'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { withDeadline } from './deadline.ts'
import type { JournalStatus } from './journal-state.ts'

/** Job states reported as queue depth; `failed` is the dead letter state. */
export const DEPTH_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed'] as const

/** Label value for a request whose source is not configured (keeps label cardinality bounded). */
export const UNKNOWN_SOURCE = '(unknown)'

/** A scrape must answer even while Redis does not (queues wait for their connection). */
const DEPTH_TIMEOUT_MS = 2000

export type JobOutcome = 'completed' | 'failed' | 'retried'

/** Reads every journal source's stored state (workers keep it in Redis; the gateway has no other view of it). */
export type JournalStatusReader = () => Promise<Map<string, JournalStatus>>

/**
 * Everything the gateway exposes on `/metrics`, in one registry of its own (not
 * prom-client's global one, so tests and several apps in one process never
 * collide). The public app feeds the request, verification and enqueue series;
 * the admin app feeds queue depth on each scrape and job outcomes from the
 * queues' event streams.
 */
export class GatewayMetrics {
  readonly registry = new Registry()

  /** Webhook requests by configured source and HTTP status code. */
  readonly requests = new Counter({
    name: 'aeg_webhook_requests_total',
    help: 'Webhook requests answered, by source and HTTP status code',
    labelNames: ['source', 'code'] as const,
    registers: [this.registry]
  })

  /** 401s by error code (missing/invalid signature or credentials) and 503 AEG_KEY_UNAVAILABLE. */
  readonly verificationFailures = new Counter({
    name: 'aeg_verification_failures_total',
    help: 'Requests whose proof was refused (401) or could not be checked (503 key unavailable), by source and reason code',
    labelNames: ['source', 'reason'] as const,
    registers: [this.registry]
  })

  /** Time from the enqueue call to Redis confirming the MULTI (or the ack budget running out). */
  readonly enqueueSeconds = new Histogram({
    name: 'aeg_enqueue_duration_seconds',
    help: 'Durable enqueue latency of one delivery (all its events), by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry]
  })

  /** Jobs per queue and state, read from Redis on every scrape. */
  readonly queueJobs: Gauge<'queue' | 'state'>

  /** 1 when the last scrape could read the queues, 0 when Redis did not answer. */
  readonly queueUp: Gauge

  /** Worker attempts that ended, by queue and outcome (from the queues' event streams). */
  readonly jobs = new Counter({
    name: 'aeg_jobs_total',
    help: 'Job attempts finished by workers, by queue and outcome (completed, retried, failed = dead letter)',
    labelNames: ['queue', 'outcome'] as const,
    registers: [this.registry]
  })

  /** Duration of an attempt: from the worker taking the job to it finishing. */
  readonly jobSeconds = new Histogram({
    name: 'aeg_job_duration_seconds',
    help: 'Duration of a job attempt from active to finished, by queue and outcome',
    labelNames: ['queue', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry]
  })

  /** Journal events queued or found duplicate, by source (the workers' counters in Redis, read at scrape time). */
  readonly journalEvents: Counter<'source' | 'outcome'>

  /** Journal read failures by source and reason (gone, unauthorized, token, throttled, server, network, …). */
  readonly journalErrors: Counter<'source' | 'reason'>

  /** How far the journal reader is behind: seconds since the time up to which every journal event is queued. */
  readonly journalLag: Gauge<'source'>

  /** 1 while some worker holds the source's reader lease, 0 when no process reads its journal. */
  readonly journalReader: Gauge<'source'>

  #queues: readonly Queue[] = []
  #depth: Promise<Map<string, Record<string, number>> | undefined> | undefined
  #journalReader: JournalStatusReader | undefined
  #journal: Promise<Map<string, JournalStatus> | undefined> | undefined

  constructor () {
    collectDefaultMetrics({ register: this.registry, prefix: 'aeg_' })
    const metrics = this
    // Both gauges are filled from one read per scrape (prom-client collects them concurrently).
    this.queueUp = new Gauge({
      name: 'aeg_queue_up',
      help: '1 when the last scrape read the queue depths from Redis, 0 when it could not',
      registers: [this.registry],
      async collect () {
        this.set((await metrics.#readDepth()) === undefined ? 0 : 1)
      }
    })
    this.queueJobs = new Gauge({
      name: 'aeg_queue_jobs',
      help: 'Jobs in each queue by state (failed = dead letter), read at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect () {
        const depth = await metrics.#readDepth()
        // Redis away: no stale depths (aeg_queue_up says why).
        this.reset()
        for (const [queue, counts] of depth ?? []) {
          for (const state of DEPTH_STATES) this.set({ queue, state }, counts[state] ?? 0)
        }
      }
    })
    // Counters owned by the workers (HINCRBY in Redis): each scrape sets them to the stored totals.
    this.journalEvents = new Counter({
      name: 'aeg_journal_events_total',
      help: 'Journal events read, by source and outcome (queued, or duplicate: already queued by the webhook path or an earlier read)',
      labelNames: ['source', 'outcome'] as const,
      registers: [this.registry],
      async collect () {
        const journals = await metrics.#readJournals()
        this.reset()
        for (const [source, s] of journals ?? []) {
          this.inc({ source, outcome: 'queued' }, s.queued)
          this.inc({ source, outcome: 'duplicate' }, s.duplicate)
        }
      }
    })
    this.journalErrors = new Counter({
      name: 'aeg_journal_errors_total',
      help: 'Journal read failures by source and reason (gone = position expired, unauthorized, token, throttled, server, network, invalid_response, invalid_event, enqueue, redis)',
      labelNames: ['source', 'reason'] as const,
      registers: [this.registry],
      async collect () {
        const journals = await metrics.#readJournals()
        this.reset()
        for (const [source, s] of journals ?? []) {
          for (const [reason, n] of Object.entries(s.errors)) this.inc({ source, reason }, n)
        }
      }
    })
    this.journalLag = new Gauge({
      name: 'aeg_journal_lag_seconds',
      help: 'Seconds since the time up to which every journal event is queued (the newest event read, or the last time the journal had nothing newer); grows while the reader is behind, failing or stopped',
      labelNames: ['source'] as const,
      registers: [this.registry],
      async collect () {
        const journals = await metrics.#readJournals()
        this.reset()
        for (const [source, s] of journals ?? []) if (s.lagSeconds !== null) this.set({ source }, s.lagSeconds)
      }
    })
    this.journalReader = new Gauge({
      name: 'aeg_journal_reader_up',
      help: '1 while a worker process holds the source\'s journal reader lease, 0 when none reads it',
      labelNames: ['source'] as const,
      registers: [this.registry],
      async collect () {
        const journals = await metrics.#readJournals()
        this.reset()
        for (const [source, s] of journals ?? []) this.set({ source }, s.reader === null ? 0 : 1)
      }
    })
  }

  /** Where each scrape reads the journal series from (none without journal sources). */
  watchJournals (read: JournalStatusReader): void {
    this.#journalReader = read
  }

  /** Queues whose depth each scrape reports. */
  watchQueues (queues: readonly Queue[]): void {
    this.#queues = queues
  }

  /** An `EventQueue` observer: records how long one enqueue took. */
  readonly observeEnqueue = (seconds: number, ok: boolean): void => {
    this.enqueueSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds)
  }

  /** Prometheus text exposition of every series. */
  async text (): Promise<string> {
    return await this.registry.metrics()
  }

  /** Every journal source's state, or undefined when Redis did not answer in time; one read shared by the journal series. */
  #readJournals (): Promise<Map<string, JournalStatus> | undefined> {
    this.#journal ??= this.#fetchJournals().finally(() => { this.#journal = undefined })
    return this.#journal
  }

  async #fetchJournals (): Promise<Map<string, JournalStatus> | undefined> {
    if (this.#journalReader === undefined) return new Map()
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        this.#journalReader(),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(reject, DEPTH_TIMEOUT_MS, new Error('journal state timed out')) })
      ])
    } catch {
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  /** Job counts per queue, or undefined when Redis did not answer in time; one read shared by concurrent callers. */
  #readDepth (): Promise<Map<string, Record<string, number>> | undefined> {
    this.#depth ??= this.#fetchDepth().finally(() => { this.#depth = undefined })
    return this.#depth
  }

  async #fetchDepth (): Promise<Map<string, Record<string, number>> | undefined> {
    if (this.#queues.length === 0) return new Map()
    try {
      const counts = await withDeadline(Promise.all(this.#queues.map(q => q.getJobCounts(...DEPTH_STATES))), DEPTH_TIMEOUT_MS,
        () => new Error('queue depth timed out'))
      return new Map(this.#queues.map((q, i) => [q.name, counts[i]!]))
    } catch {
      return undefined
    }
  }
}

/** Most attempts that may be in flight at once before the oldest starts are forgotten. */
const MAX_TRACKED_ATTEMPTS = 50_000

/**
 * Turns one queue's event stream into job outcome and duration series. The
 * stream ids are Redis timestamps, so an attempt's duration is the id of its
 * `completed` / `failed` / `delayed` event minus that of its `active` event:
 * no extra Redis reads per job, and the clock is Redis's, not ours.
 *
 * Every gateway replica reads the whole stream, so these counters are
 * cluster-wide on each replica: aggregate them with `max`, not `sum`.
 */
export function watchJobOutcomes (events: QueueEvents, queueName: string, metrics: GatewayMetrics): void {
  const started = new Map<string, number>()
  const finish = (jobId: string, streamId: string, outcome: JobOutcome) => {
    const start = started.get(jobId)
    if (start === undefined) {
      // A retry is only known as such when this replica saw the attempt start.
      if (outcome === 'retried') return
    } else {
      started.delete(jobId)
      metrics.jobSeconds.observe({ queue: queueName, outcome }, Math.max(0, streamTime(streamId) - start) / 1000)
    }
    metrics.jobs.inc({ queue: queueName, outcome })
  }
  events.on('active', ({ jobId }, id) => {
    if (started.size >= MAX_TRACKED_ATTEMPTS) started.delete(started.keys().next().value!)
    started.set(jobId, streamTime(id))
  })
  events.on('completed', ({ jobId }, id) => finish(jobId, id, 'completed'))
  events.on('failed', ({ jobId }, id) => finish(jobId, id, 'failed'))
  // A failed attempt with attempts left goes back to delayed (backoff) or waiting.
  events.on('delayed', ({ jobId }, id) => finish(jobId, id, 'retried'))
  events.on('waiting', ({ jobId, prev }, id) => { if (prev === 'failed' || prev === 'active') finish(jobId, id, 'retried') })
}

/** Milliseconds of a Redis stream id (`<ms>-<seq>`). */
function streamTime (id: string): number {
  return Number(id.split('-', 1)[0])
}
