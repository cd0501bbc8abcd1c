import Type, { type Static } from 'typebox'
import { Name } from '../../schemas/common.ts'
import { batchTooLarge, invalidPayload, recipientMismatch } from '../errors.ts'
import { normalizeStatus, str, type Delivery, type EventFacts } from '../ingest/envelope.ts'
import { describeError, validator } from '../schemas.ts'
import { verifyAdobeProof } from '../verify/adobe-signature.ts'
import { MAX_BATCH, dig, type OutputRef, type Source, type SourceKind } from './source.ts'

/** Where a source reads the I/O Events journal (pull) to catch what the webhook missed. */
export const JournalSchema = Type.Object({
  url: Type.String({ format: 'uri', pattern: '^https?://[^/?#\\s]+', description: 'Journaling API endpoint of the event registration (shown in the Adobe Developer Console).' }),
  imsOrgId: Type.String({ minLength: 1, description: 'IMS organization id of the registration (`...@AdobeOrg`).' }),
  start: Type.Enum(['latest', 'oldest'], { default: 'latest', description: 'Where a reader without a saved position starts: `latest` (only new events) or `oldest` (everything the journal still holds, 7 days).' })
}, { additionalProperties: false, description: 'Read the registration\'s journal as well as receiving the webhook; needs the top-level `oauth` block.' })

export type JournalConfig = Static<typeof JournalSchema>

const configSchema = Type.Object({
  name: Name,
  kind: Type.Literal('adobe-io-events'),
  clientId: Type.Optional(Type.String({ minLength: 1, description: 'Client id of the registration\'s project; events whose recipient client id differs are refused with 403. Unset: the recipient is not checked.' })),
  clientSecret: Type.Optional(Type.String({ minLength: 1, writeOnly: true, description: 'Client secret; enables the legacy x-adobe-signature HMAC as a second accepted proof (digital signatures are always checked).' })),
  verify: Type.Enum(['signature', 'none'], { default: 'signature', description: '`none` turns signature checks off: only for local tests.' }),
  journal: Type.Optional(JournalSchema)
}, { additionalProperties: false, description: 'Any Adobe I/O Events provider: Lightroom and Photoshop job status, Dynamic Graphics Render, InDesign, Creative Cloud assets. Requests are proven by Adobe\'s digital signatures.' })

type Config = Static<typeof configSchema>
type Event = Record<string, unknown>

const validateEvent = validator<Event>('adobe-io-events')

/**
 * Any Adobe I/O Events provider: Lightroom and Photoshop job status (legacy
 * `event_id` envelope), Dynamic Graphics Render and InDesign (CloudEvents,
 * single or batched), Creative Cloud assets (XDM).
 */
export const adobeIoEvents: SourceKind<Config> = {
  kind: 'adobe-io-events',
  configSchema,

  create (config, deps): Source {
    return {
      name: config.name,
      kind: 'adobe-io-events',
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
  // Adobe repeats the event id and code in headers; they only describe a single-event body.
  const headerId = single ? str(delivery.headers['x-adobe-event-id']) : undefined
  const headerCode = single ? str(delivery.headers['x-adobe-event-code'], 200) : undefined
  // The schema accepts an event matching any of the three shapes; branch on the
  // shape actually present (string fields), never on a key merely existing.
  const type = str(event.type, 256)
  const ceId = str(event.id)
  if (str(event.specversion) !== undefined && type !== undefined && ceId !== undefined && str(event.source, 4096) !== undefined) {
    const value = dig(event, 'data', 'value')
    return {
      // Webhooks spell it `eventid`; journal-shaped CloudEvents (InDesign) `event_id`.
      key: str(event.eventid) ?? str(event.event_id) ?? headerId ?? ceId,
      type,
      time: str(event.time),
      jobId: str(dig(value, 'job_id')) ?? str(dig(value, 'jobId')),
      status: normalizeStatus(dig(value, 'status')) ?? statusFromState(dig(value, 'state')) ?? statusFromState(type),
      statusUrl: str(dig(value, 'status_url'), 4096) ?? str(dig(value, 'statusUrl'), 4096),
      data: event
    }
  }
  const legacyId = str(event.event_id)
  if (legacyId !== undefined && dig(event, 'event') !== null && typeof dig(event, 'event') === 'object') {
    const header = dig(event, 'event', 'header')
    const body = dig(event, 'event', 'body')
    const eventCode = str(dig(header, 'eventCode'), 200) ?? str(dig(header, '_adobeio', 'eventCode'), 200) ??
      headerCode ?? str(dig(event, 'event', '@type'), 200) ?? 'event'
    return {
      key: legacyId,
      type: typeFromEventCode(eventCode),
      time: str(dig(event, 'event', 'activitystreams:published')),
      jobId: str(dig(body, 'jobId')),
      status: normalizeStatus(dig(body, 'status')) ?? statusFromOutputs(dig(body, 'outputs')),
      statusUrl: str(dig(body, '_links', 'self', 'href'), 4096),
      data: event
    }
  }
  const xdmId = str(event['@id'])
  if (xdmId === undefined || str(event['@type'], 200) === undefined) {
    throw invalidPayload('event has no usable id: expected a CloudEvent (specversion, id, type, source), an event_id envelope or an XDM event (@id, @type)')
  }
  return {
    key: headerId ?? xdmId,
    type: typeFromEventCode(headerCode ?? xdmEventCode(event)),
    time: str(event['activitystreams:published']),
    data: event
  }
}

/** `lightroom-job-status` → `com.adobe.lightroom.job-status`; other codes keep their name. */
function typeFromEventCode (code: string): string {
  const job = /^(.+)-job-status$/.exec(code)
  return job ? `com.adobe.${job[1]}.job-status` : `com.adobe.io-events.${code}`
}

/**
 * The event code of an XDM event when no `x-adobe-event-code` header says it:
 * `xdmCreated` on an `xdmAsset` is Creative Cloud's `asset_created`.
 */
function xdmEventCode (event: Event): string {
  const verb = String(event['@type'])
  const object = str(event['xdmEventEnvelope:objectType'], 100)
  if (!/^xdm[A-Z]/.test(verb)) return verb
  const action = verb.slice(3).replace(/[A-Z]/g, (c, i: number) => (i > 0 ? '_' : '') + c.toLowerCase())
  return object !== undefined && /^xdm[A-Z]\w*$/.test(object)
    ? `${object.slice(3).replace(/[A-Z]/g, (c, i: number) => (i > 0 ? '_' : '') + c.toLowerCase())}_${action}`
    : action
}

/** Overall status of a Lightroom/Photoshop job from its outputs: failed if any failed. */
function statusFromOutputs (outputs: unknown): string | undefined {
  if (!Array.isArray(outputs) || outputs.length === 0) return undefined
  const statuses = outputs.map(o => normalizeStatus(dig(o, 'status')))
  if (statuses.includes('failed')) return 'failed'
  if (statuses.every(s => s === 'succeeded')) return 'succeeded'
  return 'running'
}

/** Job-level states, as InDesign names them in `type` and `data.value.state`. */
const JOB_STATES = new Set(['queued', 'not_started', 'pending', 'submitted', 'running', 'in_progress', 'processing',
  'completed', 'complete', 'succeeded', 'success', 'done', 'failed', 'failure', 'error', 'cancelled', 'canceled'])

/**
 * A job status from a state word (`COMPLETED`, `…job.succeeded`, `job_failed`).
 * InDesign also streams per-step states (`ASSET_DOWNLOAD_FAILED`,
 * `ENGINE_PROCESSING_COMPLETED`): the job itself is still running then, and
 * only the job-level `COMPLETED`/`FAILED` that follows is terminal.
 */
function statusFromState (raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw === '' || raw.length > 256) return undefined
  const last = (raw.split(/[.:/]/).pop() ?? '').toLowerCase().replace(/-/g, '_')
  const word = last.replace(/^job_/, '')
  if (JOB_STATES.has(word)) return normalizeStatus(word)
  if (/^[a-z]+(_[a-z]+)*_(started|completed|succeeded|failed)$/.test(last)) return 'running'
  return undefined
}
