import type { Job, Queue } from 'bullmq'
import type { Logger } from 'pino'
import type { DestinationConfig, GatewayConfig } from '../../src/config.ts'
import type { Envelope } from '../../src/ingest/envelope.ts'
import { UNKNOWN_STATUS, type JobStatusStore, type StatusEntry } from '../../src/job-status.ts'
import { jobIdFor, jobOptions, type ForwardJob, type OutputsJob } from '../../src/queues.ts'
import { sourceKind } from '../../src/sources/index.ts'

export interface EventsHandlerDeps {
  config: GatewayConfig
  store: JobStatusStore
  forwardQueue: Queue<ForwardJob>
  outputsQueue: Queue<OutputsJob>
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
 * The `events` queue: records the job status, then fans the event out to one
 * `forward` job per matching destination and one `outputs` job. Every step is
 * idempotent on redelivery: the status store ignores an event id it has seen,
 * and fan-out job ids derive from the envelope id, so BullMQ does not add a
 * job that already exists.
 */
export function eventsHandler (deps: EventsHandlerDeps) {
  const { config, store, forwardQueue, outputsQueue } = deps
  const opts = jobOptions(config.worker.attempts, config.worker.backoffMs)

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
    if (destinations.length > 0) {
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
    log.debug({ jobId: envelope.jobid, jobStatus: envelope.jobstatus, statusRecord: status, destinations: destinations.map(d => d.name), outputs: outputs.length }, 'event processed')
    return { status, destinations: destinations.map(d => d.name), outputs: outputs.length }
  }
}
