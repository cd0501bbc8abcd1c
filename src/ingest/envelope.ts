import type { IncomingHttpHeaders } from 'node:http'
import type { SourceConfig } from '../config.ts'
import { validator, describeError } from '../schemas.ts'
import { invalidPayload } from '../errors.ts'

/** One normalized event: a CloudEvents 1.0 structured object (schemas/envelope.schema.json). */
export interface Envelope {
  specversion: '1.0'
  /** `<source name>/<dedup key>`: the idempotency key of every side effect. */
  id: string
  source: string
  type: string
  time: string
  subject?: string
  datacontenttype: 'application/json'
  jobid?: string
  jobstatus?: string
  statusurl?: string
  /** The provider's error code for a failed job (e.g. PDF Services `INVALID_PROVIDER_NAME`). */
  joberror?: string
  receivedat: string
  retrycount?: number
  deliveryid: string
  sourcekind: SourceConfig['kind']
  data: unknown
}

/** What the edge knows about one HTTP delivery, before it is parsed. */
export interface Delivery {
  sourceName: string
  headers: IncomingHttpHeaders
  receivedAt: string
  requestId: string
}

/** The per-event facts a source kind extracts; the rest is filled in here. */
export interface EventFacts {
  key: string
  type: string
  time?: string
  jobId?: string
  status?: string
  statusUrl?: string
  /** The provider's error code when the job failed. */
  error?: string
  data: unknown
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])
export const isTerminalStatus = (status: string | undefined): boolean => status !== undefined && TERMINAL.has(status)

const STATUS_WORDS: Record<string, string> = {
  done: 'succeeded',
  succeeded: 'succeeded',
  success: 'succeeded',
  successful: 'succeeded',
  completed: 'succeeded',
  complete: 'succeeded',
  finished: 'succeeded',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  errored: 'failed',
  running: 'running',
  in_progress: 'running',
  inprogress: 'running',
  processing: 'running',
  started: 'running',
  pending: 'pending',
  queued: 'pending',
  submitted: 'pending',
  not_started: 'pending',
  cancelled: 'cancelled',
  canceled: 'cancelled'
}

/** Adobe's many status spellings (`done`, `in-progress`, `Succeeded`…) to one vocabulary. */
export function normalizeStatus (raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw === '') return undefined
  const word = raw.trim().toLowerCase().replace(/[\s-]+/g, '_')
  return STATUS_WORDS[word] ?? (/^[a-z][a-z_-]*$/.test(word) ? word : undefined)
}

const validateEnvelope = validator<Envelope>('envelope')

/** Builds and validates the envelope of one event of a delivery. */
export function buildEnvelope (delivery: Delivery, kind: SourceConfig['kind'], facts: EventFacts): Envelope {
  const retry = delivery.headers['x-adobe-retry-count']
  const retrycount = typeof retry === 'string' && /^\d{1,6}$/.test(retry) ? Number(retry) : undefined
  const envelope: Envelope = {
    specversion: '1.0',
    id: `${delivery.sourceName}/${facts.key}`,
    source: `aeg://${delivery.sourceName}`,
    type: facts.type,
    time: toIsoTime(facts.time) ?? delivery.receivedAt,
    datacontenttype: 'application/json',
    receivedat: delivery.receivedAt,
    deliveryid: delivery.requestId,
    sourcekind: kind,
    data: facts.data
  }
  if (facts.jobId !== undefined) {
    envelope.subject = facts.jobId
    envelope.jobid = facts.jobId
  }
  if (facts.status !== undefined) envelope.jobstatus = facts.status
  if (facts.statusUrl !== undefined) envelope.statusurl = facts.statusUrl
  if (facts.error !== undefined) envelope.joberror = facts.error
  if (retrycount !== undefined) envelope.retrycount = retrycount
  if (!validateEnvelope(envelope)) throw invalidPayload(`event cannot be normalized: ${describeError(validateEnvelope.errors, 'envelope')}`)
  return envelope
}

/** ISO-8601 from an ISO string or epoch milliseconds/seconds; undefined if neither. */
export function toIsoTime (value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const ms = value < 1e11 ? value * 1000 : value
    const d = new Date(ms)
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
  }
  if (typeof value === 'string' && value !== '') {
    if (/^\d+$/.test(value)) return toIsoTime(Number(value))
    const d = new Date(value)
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
  }
  return undefined
}

/** A short string field, or undefined. */
export function str (value: unknown, max = 512): string | undefined {
  return typeof value === 'string' && value !== '' && value.length <= max ? value : undefined
}
