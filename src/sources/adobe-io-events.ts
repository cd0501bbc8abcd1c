import type { SourceConfig } from '../config.ts'
import { batchTooLarge, invalidPayload, recipientMismatch } from '../errors.ts'
import { normalizeStatus, str, type Delivery, type Envelope, type EventFacts } from '../ingest/envelope.ts'
import { describeError, validator } from '../schemas.ts'
import { verifyAdobeProof } from '../verify/adobe-signature.ts'
import { MAX_BATCH, dig, type OutputRef, type Source, type SourceKind } from './source.ts'

type Config = Extract<SourceConfig, { kind: 'adobe-io-events' }>
type Event = Record<string, unknown>

const validateEvent = validator<Event>('adobe-io-events')

/**
 * Any Adobe I/O Events provider: Lightroom and Photoshop job status (legacy
 * `event_id` envelope), Dynamic Graphics Render and InDesign (CloudEvents,
 * single or batched), Creative Cloud assets (XDM).
 */
export const adobeIoEvents: SourceKind<Config> = {
  kind: 'adobe-io-events',

  create (config, deps): Source {
    return {
      name: config.name,
      kind: 'adobe-io-events',
      secretHeaders: [],
      verify (rawBody, headers) {
        if (config.verify === 'none') return
        return verifyAdobeProof(rawBody, headers, { keys: deps.keys, clientSecret: config.clientSecret })
      },
      parse (body, delivery) {
        if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'validationUrl' in body) {
          const url = str((body as Event).validationUrl, 4096)
          if (url === undefined) throw invalidPayload('validationUrl must be a non-empty string')
          return { kind: 'validation', url }
        }
        const events = Array.isArray(body) ? body : [body]
        if (events.length === 0) throw invalidPayload('batch is empty')
        if (events.length > MAX_BATCH) throw batchTooLarge(events.length, MAX_BATCH)
        const facts = events.map((event, i) => {
          if (!validateEvent(event)) {
            throw invalidPayload(`not an Adobe I/O Events event: ${describeError(validateEvent.errors, Array.isArray(body) ? `/${i}` : '')}`)
          }
          return event
        })
        // Recipient check only once every event is known to be well-formed.
        for (const event of facts) {
          const recipient = event.recipientclientid ?? event.recipient_client_id
          if (recipient !== undefined && config.clientId !== undefined && recipient !== config.clientId) throw recipientMismatch()
        }
        return { kind: 'events', events: facts.map(e => toFacts(e, delivery, !Array.isArray(body))) }
      },
      ack: (accepted) => ({ received: accepted })
    }
  },

  outputs (envelope) {
    if (envelope.jobstatus !== 'succeeded') return []
    const outputs = dig(envelope.data, 'event', 'body', 'outputs')
    if (Array.isArray(outputs)) {
      return outputs.flatMap((output, i): OutputRef[] => {
        if (normalizeStatus(dig(output, 'status')) !== 'succeeded') return []
        const self = dig(output, '_links', 'self')
        const links = Array.isArray(self) ? self : [self]
        return links.flatMap((link, j) => {
          const href = str(dig(link, 'href'), 8192)
          return href !== undefined && /^https?:\/\//.test(href) ? [{ url: href, name: `output-${i}${links.length > 1 ? `-${j}` : ''}` }] : []
        })
      })
    }
    return envelope.statusurl !== undefined && /^https?:\/\//.test(envelope.statusurl)
      ? [{ url: envelope.statusurl, name: 'status.json', oauth: true }]
      : []
  }
}

function toFacts (event: Event, delivery: Delivery, single: boolean): EventFacts {
  const headerId = single ? str(delivery.headers['x-adobe-event-id']) : undefined
  if ('specversion' in event) {
    const value = dig(event, 'data', 'value')
    const type = event.type as string
    return {
      key: str(event.eventid) ?? headerId ?? (event.id as string),
      type,
      time: str(event.time),
      jobId: str(dig(value, 'job_id')) ?? str(dig(value, 'jobId')),
      status: normalizeStatus(dig(value, 'status')) ?? statusFromType(type),
      statusUrl: str(dig(value, 'status_url'), 4096) ?? str(dig(value, 'statusUrl'), 4096),
      data: event
    }
  }
  if ('event_id' in event) {
    const header = dig(event, 'event', 'header')
    const body = dig(event, 'event', 'body')
    const eventCode = str(dig(header, 'eventCode')) ?? str(dig(header, '_adobeio', 'eventCode')) ?? str(dig(event, 'event', '@type'), 200) ?? 'event'
    return {
      key: event.event_id as string,
      type: typeFromEventCode(eventCode),
      time: str(dig(event, 'event', 'activitystreams:published')),
      jobId: str(dig(body, 'jobId')),
      status: normalizeStatus(dig(body, 'status')) ?? statusFromOutputs(dig(body, 'outputs')),
      statusUrl: str(dig(body, '_links', 'self', 'href'), 4096),
      data: event
    }
  }
  return {
    key: headerId ?? (event['@id'] as string),
    type: typeFromEventCode(event['@type'] as string),
    time: str(event['activitystreams:published']),
    data: event
  }
}

/** `lightroom-job-status` → `com.adobe.lightroom.job-status`; other codes keep their name. */
function typeFromEventCode (code: string): string {
  const job = /^(.+)-job-status$/.exec(code)
  return job ? `com.adobe.${job[1]}.job-status` : `com.adobe.io-events.${code}`
}

/** Overall status of a Lightroom/Photoshop job from its outputs: failed if any failed. */
function statusFromOutputs (outputs: unknown): string | undefined {
  if (!Array.isArray(outputs) || outputs.length === 0) return undefined
  const statuses = outputs.map(o => normalizeStatus(dig(o, 'status')))
  if (statuses.includes('failed')) return 'failed'
  if (statuses.every(s => s === 'succeeded')) return 'succeeded'
  return 'running'
}

/** InDesign announces job states in the event type: `…job.succeeded`, `…job_failed`. */
function statusFromType (type: string): string | undefined {
  const last = type.split(/[.:/]/).pop() ?? ''
  const word = /(?:^|_)(succeeded|completed|done|failed|running|started|queued|pending|cancelled|canceled)$/.exec(last.toLowerCase())
  return word ? normalizeStatus(word[1]) : undefined
}
