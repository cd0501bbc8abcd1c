import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { Queue } from 'bullmq'
import Fastify from 'fastify'
import { serveForBench } from '../servers/child.ts'

/**
 * The naive baseline: what someone writes in an afternoon from the Adobe and
 * BullMQ docs. Fastify's getting-started setup (`logger: true`), the body kept
 * as a Buffer for the signature, RSA-SHA256 checked against the public key
 * (fetched once per path and kept in a Map), JSON.parse, then one
 * `queue.add` per request with the event id as job id. No batches, no
 * normalization, no schema, no dedup window, no timeouts.
 */
const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const keyBase = process.env.ADOBE_PUBLIC_KEY_BASE_URL ?? 'https://static.adobeioevents.com'
const queue = new Queue('events', {
  connection: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) },
  prefix: process.env.QUEUE_PREFIX ?? 'bull'
})

const keys = new Map<string, KeyObject>()
async function publicKey (path: string): Promise<KeyObject> {
  let key = keys.get(path)
  if (key === undefined) {
    const res = await fetch(keyBase + path)
    key = createPublicKey(await res.text())
    keys.set(path, key)
  }
  return key
}

const app = Fastify({ logger: process.env.NAIVE_LOGGER !== 'off' })
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

app.post('/webhooks/:source', async (request, reply) => {
  const raw = request.body as Buffer
  const h = request.headers
  let valid = false
  for (const n of [1, 2]) {
    const sig = h[`x-adobe-digital-signature-${n}`]
    const path = h[`x-adobe-public-key${n}-path`]
    if (typeof sig === 'string' && typeof path === 'string' &&
      verify('RSA-SHA256', raw, await publicKey(path), Buffer.from(sig, 'base64'))) { valid = true; break }
  }
  if (!valid) return reply.code(401).send({ error: 'invalid signature' })
  const event = JSON.parse(raw.toString('utf8'))
  await queue.add('event', event, { jobId: event.event_id ?? event.eventid })
  return { received: 1 }
})

await serveForBench(app, [queue])
