import { createHmac } from 'node:crypto'
import { UnrecoverableError } from 'bullmq'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../src/config.ts'
import type { Envelope } from '../src/ingest/envelope.ts'
import { jobIdFor } from '../src/queues.ts'
import type { RedisClient } from '../src/redis.ts'
import { isTimeout, type DestinationClient, type DestinationAnswer } from './destination-client.ts'

const USER_AGENT = 'adobe-job-events-gateway/0.1'

/**
 * The Standard Webhooks signature header value for one delivery:
 * `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`. A `whsec_` secret is
 * base64 key bytes; any other secret is used as its UTF-8 bytes.
 */
export function standardWebhookSignature (secret: string, id: string, timestamp: number, body: string): string {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/**
 * Redis key of one delivery (envelope id, destination): `sending:<attempt>`
 * while a POST is on the wire (expires with the request timeout), then the
 * destination's 2xx status for the dedup window.
 */
export const forwardedKey = (prefix: string, envelopeId: string, destination: string) =>
  `${prefix}:forwarded:${jobIdFor(envelopeId, destination)}`

const SENDING = 'sending:'

/**
 * One step before the POST: returns the recorded status when the delivery is
 * done, otherwise marks it as being sent and returns nil. It writes in the
 * same step, so a Redis that refuses writes (full) refuses it and no POST goes out.
 * KEYS: delivery key; ARGV: `sending:<attempt>`, its lifetime in ms
 */
const BEGIN_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, ${SENDING.length}) ~= '${SENDING}' then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`

interface DeliveryCommands {
  aegBeginDelivery (key: string, sending: string, ttlMs: number): Promise<string | null>
}

export interface DeliveriesDeps {
  config: GatewayConfig
  redis: RedisClient
  log: Logger
  /** How long a delivery is remembered as done (suppresses a repeat POST). */
  doneTtlSeconds: number
  /** Kept-alive connections to the destinations. */
  client: DestinationClient
}

/** What one attempt achieved: sent now, or found done by an earlier one. */
export type Delivered = { delivered: 'now', status: number } | { delivered: 'earlier' }

/**
 * One attempt to deliver an envelope to one destination: POST it, signed
 * (Standard Webhooks). 2xx = done; 429, 5xx, timeout and connection errors
 * throw an Error (worth retrying); any other answer throws an
 * UnrecoverableError with the status and a body excerpt.
 *
 * Each delivery (envelope id, destination) has one Redis key: marked as
 * being sent before the POST, its status once a 2xx came back; an attempt
 * finding a status does not POST again. A crash after the POST and before the
 * record repeats that one POST with the same `webhook-id` (at-least-once):
 * receivers deduplicate on it, as Standard Webhooks asks. No POST is sent
 * unless Redis took the write just before, so a Redis that refuses writes
 * (full) stops forwards instead of repeating them.
 */
export class Deliveries {
  readonly #deps: DeliveriesDeps
  readonly #redis: RedisClient & DeliveryCommands

  constructor (deps: DeliveriesDeps) {
    this.#deps = deps
    this.#redis = deps.redis as RedisClient & DeliveryCommands
    if (typeof this.#redis.aegBeginDelivery !== 'function') this.#redis.defineCommand('aegBeginDelivery', { numberOfKeys: 1, lua: BEGIN_SCRIPT })
  }

  /** Attempt number `attempt` (1-based, for the logs and the marker) of delivering `envelope` to destination `name`. */
  async deliver (envelope: Envelope, name: string, attempt: number): Promise<Delivered> {
    const { config } = this.#deps
    const log = this.#deps.log.child({ eventId: envelope.id, destination: name })
    const destination = config.destinations.find(d => d.name === name)
    if (destination === undefined) throw new UnrecoverableError(`destination "${name}" is no longer configured`)

    const doneKey = forwardedKey(config.queuePrefix, envelope.id, name)
    const timeoutMs = destination.timeoutMs ?? config.worker.forwardTimeoutMs
    if (await this.#redis.aegBeginDelivery(doneKey, `${SENDING}${attempt}`, timeoutMs + 1000) !== null) {
      log.debug('already forwarded; not posting again')
      return { delivered: 'earlier' }
    }

    const body = JSON.stringify(envelope)
    const timestamp = Math.floor(Date.now() / 1000)
    const started = Date.now()
    let answer: DestinationAnswer
    try {
      // Standard Webhooks senders do not follow redirects: a 3xx is a misconfigured URL.
      answer = await this.#deps.client.post(destination.url, {
        'content-type': 'application/cloudevents+json',
        'user-agent': USER_AGENT,
        'webhook-id': envelope.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': standardWebhookSignature(destination.secret, envelope.id, timestamp, body)
      }, body, timeoutMs)
    } catch (err) {
      const reason = isTimeout(err) ? `no answer within ${timeoutMs} ms` : `connection failed: ${causeOf(err)}`
      log.warn({ attempt, reason }, 'forward failed; will retry')
      throw new Error(`destination ${name}: ${reason}`)
    }

    const status = answer.status
    if (status >= 200 && status < 300) {
      await this.#redis.set(doneKey, String(status), 'EX', this.#deps.doneTtlSeconds)
      // Debug, like 'event processed': per-event success lines are the workers' largest avoidable cost.
      log.debug({ status, ms: Date.now() - started, attempt }, 'forwarded')
      return { delivered: 'now', status }
    }

    const reason = `destination ${name} answered ${status}: ${answer.excerpt ?? '(empty body)'}`
    if (status === 429 || status >= 500) {
      log.warn({ status, attempt }, 'forward refused; will retry')
      throw new Error(reason)
    }
    log.error({ status }, 'forward rejected; not retrying')
    throw new UnrecoverableError(reason)
  }
}

function causeOf (err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message
}
