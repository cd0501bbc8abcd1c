import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Envelope } from '../../src/ingest/envelope.ts'

const parsed = new Map<string, unknown>()

/** A seed fixture as a fresh object (tests may change ids without affecting others). */
export function fixture<T = any> (path: string): T {
  if (!parsed.has(path)) parsed.set(path, JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')))
  return structuredClone(parsed.get(path)) as T
}

/**
 * The Lightroom job-status event of the seed fixture (legacy I/O Events
 * envelope) with its own event id: the body tests, the bench and the
 * simulator sign. `jobId` defaults to `job-<eventId>`; `clientId` sets the
 * recipient; `bare` drops the output links (nothing for a worker to fetch).
 */
export function lightroomEvent (eventId: string, opts: { jobId?: string, clientId?: string, bare?: boolean } = {}): any {
  const event = fixture('adobe-io-events/lightroom-job-status.json')
  event.event_id = eventId
  event.event.body.jobId = opts.jobId ?? `job-${eventId}`
  if (opts.bare === true) {
    event.event.body.outputs = [{ input: 'input.dng', status: 'succeeded' }]
    delete event.event.body._links
  }
  if (opts.clientId !== undefined) event.recipient_client_id = opts.clientId
  return event
}

/** `lightroomEvent` as the raw body Adobe signs. */
export const lightroomBody = (eventId: string, opts: { jobId?: string, clientId?: string, bare?: boolean } = {}): string =>
  JSON.stringify(lightroomEvent(eventId, opts))

/** Dynamic Graphics Render CloudEvents reporting one job through `statuses`, each with its own event id, addressed to `clientId`. */
export function dgrJobEvents (jobId: string, statuses: string[], clientId: string): any[] {
  return statuses.map(status => {
    const event = fixture('adobe-io-events/dgr-single.json')
    event.eventid = randomUUID()
    event.recipientclientid = clientId
    event.data.value = { ...event.data.value, job_id: jobId, status }
    return event
  })
}

/** A minimal valid envelope of source `source` with dedup key `key` (for the queue alone, no source kind involved). */
export function minimalEnvelope (source: string, key: string): Envelope {
  const now = new Date().toISOString()
  return {
    specversion: '1.0',
    id: `${source}/${key}`,
    source: `aeg://${source}`,
    type: 'com.adobe.lightroom.job-status',
    time: now,
    datacontenttype: 'application/json',
    receivedat: now,
    deliveryid: 'req-1',
    sourcekind: 'adobe-io-events',
    data: { event_id: key }
  }
}
