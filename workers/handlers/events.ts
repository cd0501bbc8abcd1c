import { UnrecoverableError, type Job, type JobsOptions, type Queue } from 'bullmq'
import type { Logger } from 'pino'
import type { DestinationConfig, GatewayConfig } from '../../src/config.ts'
import type { Envelope } from '../../src/ingest/envelope.ts'
import { UNKNOWN_STATUS, type JobStatusStore, type StatusEntry } from '../../src/job-status.ts'
import { jobIdFor, jobOptions, type ForwardJob, type OutputsJob } from '../../src/queues.ts'
import { sourceKind } from '../../src/sources/index.ts'
import type { Deliveries } from '../delivery.ts'

/**
 * An inline attempt that failed, or took longer than `PROMPT_MS`, sends the
 * destination's next events straight to `forward` jobs for `DETOUR_MS` (per
 * worker process): a slow or failing destination must not hold the events
 * worker, and with it the job statuses and downloads of every other event.
 */
const PROMPT_MS = 1000
const DETOUR_MS = 30_000

export interface EventsHandlerDeps {
  config: GatewayConfig
  store: JobStatusStore
  forwardQueue: Queue<ForwardJob>
  outputsQueue: Queue<OutputsJob>
  /** Makes the first attempt of a lone destination's delivery inline (when `config.worker.forwardInline`). */
  deliveries: Deliveries
  log: Logger
}

/** A destination without `match` takes every event; each list given must contain the event's value. */
export function destinationMatches (destination: DestinationConfig, sourceName: string, envelope: Envelope): boolean {
  const match = destination.match
  if (match === undefined) return true
  const has = (list: string[] | undefined, value: string | undefined) => list === undefined || (value !== undefined && list.includes(value))
  return has(match.source, sourceName) && has(match.status, envelope.jobstatus) && has(match.type, envelope.type)
}

/**
 * The `events` queue: records the job status, then forwards the event to
 * each matching destination and queues one `outputs` job.
 *
 * The common case, one matching destination, costs one job: its first
 * attempt is made here (FORWARD_INLINE, on by default). Only when it fails
 * does a `forward` job take over, after the first backoff, with the attempts
 * left, so a failing destination retries on its own as before; and for a
 * while after it failed or answered slowly, its events go to `forward` jobs
 * directly. Several destinations get one `forward` job each, so none waits
 * for another.
 *
 * Every step is idempotent on redelivery: the status store ignores an event
 * id it has seen, a delivery found done is not posted again, and fan-out job
 * ids derive from the envelope id, so BullMQ does not add a job that exists.
 */
export function eventsHandler (deps: EventsHandlerDeps) {
  const { config, store, forwardQueue, outputsQueue, deliveries } = deps
  const opts = jobOptions(config.worker.attempts, config.worker.backoffMs)
  // After a failed inline attempt: the first backoff, then the attempts left (at least one).
  const afterInline = { ...jobOptions(Math.max(1, config.worker.attempts - 1), config.worker.backoffMs), delay: config.worker.backoffMs }

  /** Destinations whose events skip the inline attempt until the time given (ms). */
  const detourUntil = new Map<string, number>()

  /** The inline first attempt: undefined when delivered, else the forward job's extra data and options. */
  async function firstAttempt (envelope: Envelope, name: string): Promise<{ rejected?: string, opts: JobsOptions } | undefined> {
    const started = Date.now()
    try {
      await deliveries.deliver(envelope, name, 1)
      if (Date.now() - started > PROMPT_MS) detourUntil.set(name, Date.now() + DETOUR_MS)
      return undefined
    } catch (err) {
      detourUntil.set(name, Date.now() + DETOUR_MS)
      // Refused for good: the forward job only records it (no second POST, no delay).
      if (err instanceof UnrecoverableError) return { rejected: err.message, opts: { ...opts, attempts: 1 } }
      return { opts: afterInline }
    }
  }

  const inlineFor = (name: string): boolean => {
    if (!config.worker.forwardInline) return false
    const until = detourUntil.get(name)
    if (until === undefined) return true
    if (until > Date.now()) return false
    detourUntil.delete(name)
    return true
  }

  return async function handleEvent (job: Job<Envelope>) {
    const envelope = job.data
    // The edge names each events job after the configured source it came from.
    const source = job.name
    const log = deps.log.child({ eventId: envelope.id, source })

    // Learning Manager events are not Adobe jobs: forwarded, never stored as statuses.
    let status: string | undefined
    if (envelope.jobid !== undefined && envelope.sourcekind !== 'learning-manager') {
      const entry: StatusEntry = { status: envelope.jobstatus ?? UNKNOWN_STATUS, eventId: envelope.id, source, time: envelope.time }
      if (envelope.joberror !== undefined) entry.error = envelope.joberror
      status = await store.record(envelope.jobid, entry)
    }

    const destinations = config.destinations.filter(d => destinationMatches(d, source, envelope))
    let inline: 'delivered' | 'handed over' | undefined
    const name = destinations.length === 1 ? destinations[0]!.name : undefined
    if (name !== undefined && inlineFor(name)) {
      const rest = await firstAttempt(envelope, name)
      inline = rest === undefined ? 'delivered' : 'handed over'
      if (rest !== undefined) {
        const data: ForwardJob = { envelope, destination: name }
        if (rest.rejected !== undefined) data.rejected = rest.rejected
        await forwardQueue.add(name, data, { ...rest.opts, jobId: jobIdFor(envelope.id, name) })
      }
    } else if (destinations.length > 0) {
      await forwardQueue.addBulk(destinations.map(d => ({
        name: d.name,
        data: { envelope, destination: d.name },
        opts: { ...opts, jobId: jobIdFor(envelope.id, d.name) }
      })))
    }

    // With an empty allow-list nothing is downloaded: no job that could only fail.
    const outputs = config.outputs.allowHosts.length > 0 ? sourceKind(envelope.sourcekind).outputs(envelope) : []
    if (outputs.length > 0) {
      const data: OutputsJob = { eventId: envelope.id, outputs }
      if (envelope.jobid !== undefined) data.jobId = envelope.jobid
      await outputsQueue.add('outputs', data, { ...opts, jobId: jobIdFor(envelope.id, 'outputs') })
    }

    // Debug: one info line per event cost about 10 % of the workers' CPU; failures still log at warn/error.
    log.debug({ jobId: envelope.jobid, jobStatus: envelope.jobstatus, statusRecord: status, destinations: destinations.map(d => d.name), inline, outputs: outputs.length }, 'event processed')
    return { status, destinations: destinations.map(d => d.name), ...(inline !== undefined && { inline }), outputs: outputs.length }
  }
}
