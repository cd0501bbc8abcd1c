import type { FastifyInstance, FastifyRequest } from 'fastify'
import sjson from 'secure-json-parse'
import { bodyTooLarge, challengeMissing, challengeTooLong, invalidJson, invalidPayload, unknownSource, unsupportedMediaType } from '../errors.ts'
import type { Delivery } from '../ingest/envelope.ts'
import type { EventQueue } from '../ingest/event-queue.ts'
import { normalize } from '../ingest/normalize.ts'
import type { ValidationChallenge } from '../ingest/validation-challenge.ts'
import type { Source } from '../sources/index.ts'

export const ACCEPTED_CONTENT_TYPES = ['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json']
const MAX_CHALLENGE_LENGTH = 1024
/**
 * Deepest nesting of arrays/objects accepted in a body. Adobe's events nest a
 * dozen levels; a body nested thousands deep parses (V8's parser is iterative)
 * but overflows the stack of every recursive step after it (JSON.stringify on
 * enqueue), which would turn a client's mistake into a 5xx retried forever.
 */
export const MAX_JSON_DEPTH = 64

export interface WebhooksOptions {
  sources: Map<string, Source>
  eventQueue: EventQueue
  challenge: ValidationChallenge
  bodyLimit: number
}

declare module 'fastify' {
  interface FastifyRequest { aegSource?: Source }
}

type WebhookRequest = FastifyRequest<{ Params: { source: string }, Querystring: { challenge?: string } }>

/**
 * `GET|POST /webhooks/:source`. The checks run in the contract's order:
 * source (404) → content type (415) → size (413) → proof on the raw bytes
 * (401/503) → parse and shape (400) → recipient (403) → durable enqueue (503)
 * → 200. Nothing is parsed before it is authenticated.
 */
export default async function webhooks (app: FastifyInstance, opts: WebhooksOptions) {
  const { sources, eventQueue, challenge, bodyLimit } = opts

  // Route-scoped raw body: the body stays a Buffer so signatures are checked on
  // the exact bytes Adobe signed; JSON is parsed later, once, after the proof.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(ACCEPTED_CONTENT_TYPES, { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body))
  app.addContentTypeParser('*', (request, _payload, done) => done(unsupportedMediaType(request.headers['content-type'])))

  const lookupSource = async (request: WebhookRequest) => {
    const source = sources.get(request.params.source)
    if (source === undefined) throw unknownSource(request.params.source)
    request.aegSource = source
  }

  app.get('/webhooks/:source', { onRequest: lookupSource }, async (request: WebhookRequest, reply) => {
    const value = request.query.challenge
    if (typeof value !== 'string' || value === '') throw challengeMissing()
    if (value.length > MAX_CHALLENGE_LENGTH) throw challengeTooLong(MAX_CHALLENGE_LENGTH)
    void reply.header('x-content-type-options', 'nosniff').header('cache-control', 'no-store')
    if (acceptsJsonOnly(request.headers.accept)) return reply.type('application/json').send({ challenge: value })
    return reply.type('text/plain; charset=utf-8').send(value)
  })

  app.post('/webhooks/:source', {
    // Callback style: an async hook costs a promise and a microtask turn per request.
    onRequest: (request: WebhookRequest, _reply, done) => {
      const source = sources.get(request.params.source)
      if (source === undefined) return done(unknownSource(request.params.source))
      request.aegSource = source
      const type = request.headers['content-type']
      if (!ACCEPTED_CONTENT_TYPES.includes(mediaType(type))) return done(unsupportedMediaType(type))
      const declared = Number(request.headers['content-length'])
      if (declared > bodyLimit) return done(bodyTooLarge(bodyLimit))
      done()
    }
  }, async (request: WebhookRequest, reply) => {
    const source = request.aegSource!
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    const proof = source.verify(rawBody, request.headers)
    if (proof !== undefined) await proof

    let body: unknown
    try {
      body = sjson.parse(rawBody, undefined, { protoAction: 'error', constructorAction: 'error' })
    } catch (err) {
      throw (err as Error).message.includes('forbidden') ? invalidPayload('body contains a forbidden prototype key') : invalidJson()
    }
    if (nestedDeeperThan(body, MAX_JSON_DEPTH)) throw invalidPayload(`body is nested more than ${MAX_JSON_DEPTH} levels deep`)

    const delivery: Delivery = {
      sourceName: source.name,
      headers: request.headers,
      receivedAt: new Date().toISOString(),
      requestId: request.id
    }
    const normalized = normalize(source, body, delivery)
    if (normalized.kind === 'validation') {
      challenge.schedule(normalized.url, request.log)
      return reply.send({ validation: 'scheduled' })
    }
    const { envelopes } = normalized
    await eventQueue.add(source.name, envelopes)
    request.log.info({ source: source.name, eventIds: envelopes.map(e => e.id) }, 'accepted')
    return reply.send(source.ack(envelopes.length))
  })
}

/** Whether parsed JSON nests arrays/objects deeper than `max`; iterative, so any depth is safe to check. */
export function nestedDeeperThan (value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    if (node === null || typeof node !== 'object') continue
    if (depth >= max) return true
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1])
    }
  }
  return false
}

function mediaType (header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase()
}

/** True when the client accepts JSON but neither plain text nor anything. */
function acceptsJsonOnly (accept: string | undefined): boolean {
  if (accept === undefined) return false
  const types = accept.split(',').map(t => mediaType(t))
  return types.includes('application/json') && !types.some(t => t === 'text/plain' || t === '*/*' || t === 'text/*')
}
