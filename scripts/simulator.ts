import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fixture } from '../test/helpers/fixtures.ts'
import { serveKeys as serveSigningKeys, type KeyServer } from '../test/helpers/peers.ts'
import { adobeSignatureHeaders, rsaSignature, signingKey, type SigningKeys } from '../test/helpers/signing.ts'

/** What the simulator can send, and the source kind each one belongs to. */
export const SAMPLE_KINDS = {
  lightroom: 'adobe-io-events',
  photoshop: 'adobe-io-events',
  dgr: 'adobe-io-events',
  indesign: 'adobe-io-events',
  'cc-asset': 'adobe-io-events',
  'pdf-services': 'pdf-services',
  'learning-manager': 'learning-manager'
} as const

export type SampleKind = keyof typeof SAMPLE_KINDS
export type SampleStatus = 'succeeded' | 'failed' | 'running'

export const isSampleKind = (value: string): value is SampleKind => Object.hasOwn(SAMPLE_KINDS, value)

/** Source names of the README's example config (and `adobe`, the source served without a config file). */
export function defaultSourceName (kind: SampleKind): string {
  const sourceKind = SAMPLE_KINDS[kind]
  return sourceKind === 'pdf-services' ? 'pdf' : sourceKind === 'learning-manager' ? 'alm' : 'adobe'
}

export interface SampleOptions {
  status: SampleStatus
  /** Events per delivery (Adobe I/O Events batch, Learning Manager events[]); PDF Services sends this many callbacks. */
  batch: number
  /** Written as the events' recipient client id; left out when not given. */
  clientId?: string
}

/**
 * Request bodies for one run, built from the seed fixtures with fresh ids:
 * one body per POST (PDF Services has no batches, so `batch` callbacks).
 */
export function sampleBodies (kind: SampleKind, opts: SampleOptions): unknown[] {
  const { status, batch } = opts
  const many = <T>(make: (i: number) => T): T[] => Array.from({ length: batch }, (_, i) => make(i))
  const asDelivery = (events: unknown[]) => [events.length === 1 ? events[0] : events]
  switch (kind) {
    case 'lightroom':
    case 'photoshop':
      return asDelivery(many(() => legacyJobStatus(kind, status)))
    case 'dgr': {
      // One job reporting progress: every event but the last is `running`.
      const jobId = randomUUID()
      return asDelivery(many(i => dgrEvent(jobId, i === batch - 1 ? status : 'running', opts.clientId)))
    }
    case 'indesign': {
      const jobId = randomUUID()
      const final = status === 'succeeded' ? 'COMPLETED' : status === 'failed' ? 'FAILED' : 'RUNNING'
      const steps = ['QUEUED', 'ASSETS_DOWNLOAD_STARTED', 'ASSETS_DOWNLOAD_COMPLETED', 'ENGINE_PROCESSING_STARTED', 'RUNNING', 'ENGINE_PROCESSING_COMPLETED', 'ASSETS_UPLOAD_COMPLETED']
      return asDelivery(many(i => inDesignEvent(jobId, i === batch - 1 ? final : steps[i % steps.length]!, opts.clientId)))
    }
    case 'cc-asset':
      return asDelivery(many(() => ({ ...fixture<Record<string, unknown>>('adobe-io-events/cc-asset-created-xdm.json'), '@id': randomUUID(), 'activitystreams:published': new Date().toISOString() })))
    case 'pdf-services':
      return many(() => {
        const body = fixture(status === 'failed' ? 'pdf-services/failed.json' : 'pdf-services/done.json')
        body.jobID = randomUUID()
        return body
      })
    case 'learning-manager': {
      const seed = fixture('learning-manager/course-enrollment.json')
      const [template] = seed.events
      seed.events = many(i => ({ ...template, eventId: randomUUID(), timestamp: i % 2 === 0 ? Date.now() : new Date().toISOString() }))
      return [seed]
    }
  }
}

function legacyJobStatus (kind: 'lightroom' | 'photoshop', status: SampleStatus) {
  const event = fixture(`adobe-io-events/${kind}-job-status.json`)
  const jobId = randomUUID()
  event.event_id = randomUUID()
  event.event.header.msgId = randomUUID()
  event.event.body.jobId = jobId
  // Failed: the second of two outputs failed, which fails the job.
  const [output] = event.event.body.outputs
  event.event.body.outputs = status === 'failed' ? [output, { ...output, status: 'failed' }] : [{ ...output, status }]
  event.event.body._links.self.href = event.event.body._links.self.href.replace(/[^/]+$/, jobId)
  return event
}

function dgrEvent (jobId: string, status: SampleStatus, clientId: string | undefined) {
  const event = fixture('adobe-io-events/dgr-single.json')
  Object.assign(event, { id: randomUUID(), eventid: randomUUID(), time: new Date().toISOString() })
  event.data.key = randomUUID()
  event.data.value = { ...event.data.value, job_id: jobId, status, status_url: event.data.value.status_url.replace(/[^/]+$/, jobId) }
  return withRecipient(event, clientId)
}

function inDesignEvent (jobId: string, state: string, clientId: string | undefined) {
  const [event] = fixture('adobe-io-events/indesign-batch.json')
  const eventId = randomUUID()
  Object.assign(event, { id: randomUUID(), eventid: randomUUID(), type: state, time: new Date().toISOString() })
  event.data.key = eventId
  event.data.value = { jobId, eventId, state, timestamp: Date.now() }
  return withRecipient(event, clientId)
}

function withRecipient (event: Record<string, unknown>, clientId: string | undefined) {
  delete event.recipient_client_id
  if (clientId === undefined) delete event.recipientclientid
  else event.recipientclientid = clientId
  return event
}

/** The simulator's own pair of Adobe-style signing keys, kept on disk so a gateway's key cache stays valid across runs. */
export type SimulatorKeys = SigningKeys

export const KEY_PATHS = ['/simulator/keys/pub-key-sim-1.pem', '/simulator/keys/pub-key-sim-2.pem'] as const

/** Loads the keys from `dir`, generating them (RSA 2048) on first use. */
export function simulatorKeys (dir: string): SimulatorKeys {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const [key1, key2] = KEY_PATHS.map((path, i) => {
    const file = join(dir, `simulator-key-${i + 1}.pem`)
    let pem: string
    try {
      pem = readFileSync(file, 'utf8')
    } catch {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
      try {
        writeFileSync(file, pem, { mode: 0o600, flag: 'wx' })
      } catch (err) {
        // Another simulator created it first: use that one, so both sign alike.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        pem = readFileSync(file, 'utf8')
      }
    }
    return signingKey(path, createPrivateKey(pem))
  })
  return { key1: key1!, key2: key2! }
}

/**
 * A local stand-in for static.adobeioevents.com serving the simulator's public
 * keys; the gateway trusts it once ADOBE_PUBLIC_KEY_BASE_URL is its URL.
 */
export function serveKeys (keys: SimulatorKeys, port: number, host = '127.0.0.1'): Promise<KeyServer> {
  return serveSigningKeys(keys, { port, host })
}

/** How a request proves itself to the gateway. */
export type Credentials =
  | { type: 'adobe-signature', keys: SimulatorKeys }
  | { type: 'adobe-hmac', clientSecret: string }
  | { type: 'header', header: string, value: string }
  | { type: 'basic', username: string, password: string }
  | { type: 'hmac', header: string, secret: string, algorithm: string, encoding: 'base64' | 'hex', prefix: string }
  | { type: 'none' }

/** Headers that authenticate `raw` (the exact bytes sent). */
export function authHeaders (raw: string, credentials: Credentials): Record<string, string> {
  switch (credentials.type) {
    case 'adobe-signature': {
      const { keys } = credentials
      return adobeSignatureHeaders(keys, rsaSignature(raw, keys.key1.privateKey), rsaSignature(raw, keys.key2.privateKey))
    }
    case 'adobe-hmac':
      return { 'x-adobe-signature': createHmac('sha256', credentials.clientSecret).update(raw).digest('base64') }
    case 'header':
      return { [credentials.header]: credentials.value }
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` }
    case 'hmac':
      return { [credentials.header]: credentials.prefix + createHmac(credentials.algorithm, credentials.secret).update(raw).digest(credentials.encoding) }
    case 'none':
      return {}
  }
}

/** Adobe I/O Events headers that describe one single-event delivery. */
export function deliveryHeaders (kind: SampleKind, body: unknown): Record<string, string> {
  if (SAMPLE_KINDS[kind] !== 'adobe-io-events') return {}
  const headers: Record<string, string> = { 'x-adobe-delivery-id': randomUUID() }
  if (!Array.isArray(body) && kind === 'cc-asset') {
    headers['x-adobe-event-code'] = 'asset_created'
    headers['x-adobe-event-id'] = String((body as Record<string, unknown>)['@id'])
  }
  return headers
}
