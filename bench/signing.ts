import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { fixture, lightroomEvent } from '../test/helpers/fixtures.ts'
import { adobeSignatureHeaders, type SigningKeys } from '../test/helpers/signing.ts'

/** One request the load generator sends: the exact bytes and Adobe's headers. */
export interface SignedDelivery {
  body: Buffer
  headers: Record<string, string>
  /** Envelope ids the gateway will give the events (`<source>/<event id>`). */
  eventIds: string[]
}

const dgr = fixture<Record<string, unknown>[]>('adobe-io-events/dgr-batch.json')[0]!

/**
 * A Lightroom job-status event (legacy I/O Events envelope) with its own event
 * id, reporting its own job (Lightroom sends one completion event per job, so
 * every event leaves a job status behind, as in production), whose output is
 * at `outputsUrl` (the bench's local destination serves it; downloaded only
 * where the bench turns outputs on).
 */
export function singleEvent (eventId: string, outputsUrl = 'http://127.0.0.1:9/outputs'): unknown {
  const event = lightroomEvent(eventId, { jobId: `job-${eventId}` })
  event.event.body.outputs[0]._links.self[0].href = `${outputsUrl}/${eventId}.jpg`
  return event
}

/** A Dynamic Graphics Render CloudEvent (the batched shape) with its own event id. */
export function batchEvent (eventId: string): unknown {
  return { ...dgr, id: eventId, eventid: eventId }
}

// Signing runs in worker threads: RSA-2048 signing costs ~0.3 ms per body,
// verifying ~0.02 ms, so tens of thousands of bodies are prepared in parallel.
const SIGNER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPrivateKey, sign } = require('node:crypto')
const key = createPrivateKey(workerData.pem)
parentPort.on('message', (bodies) => {
  parentPort.postMessage(bodies.map(b => sign('RSA-SHA256', Buffer.from(b), key).toString('base64')))
})
`

async function signAll (pem: string, bodies: string[]): Promise<string[]> {
  const threads = Math.max(1, availableParallelism())
  const per = Math.ceil(bodies.length / threads)
  const parts = await Promise.all(Array.from({ length: threads }, async (_, i) => {
    const slice = bodies.slice(i * per, (i + 1) * per)
    const worker = new Worker(SIGNER, { eval: true, workerData: { pem } })
    try {
      return await new Promise<string[]>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
        worker.postMessage(slice)
      })
    } finally {
      await worker.terminate()
    }
  }))
  return parts.flat()
}

/**
 * `count` deliveries of `perDelivery` events each (1 = a single event object,
 * more = a JSON array batch), every event id unique, signed as Adobe signs:
 * RSA-SHA256 over the raw body with key 1. Signature 2 carries a well-formed
 * signature of other bytes: both the gateway and the naive edge accept on the
 * first valid signature, so a second valid one would never be checked and
 * would only double the bench's preparation time.
 */
export async function signedDeliveries (keys: SigningKeys, opts: { count: number, perDelivery: number, runId: string, sourceName: string, outputsUrl?: string }): Promise<SignedDelivery[]> {
  const ids: string[][] = []
  const bodies: string[] = []
  for (let i = 0; i < opts.count; i++) {
    if (opts.perDelivery === 1) {
      const id = `${opts.runId}-s${i}`
      ids.push([id])
      bodies.push(JSON.stringify(singleEvent(id, opts.outputsUrl)))
    } else {
      const batch = Array.from({ length: opts.perDelivery }, (_, j) => `${opts.runId}-b${i}-${j}`)
      ids.push(batch)
      bodies.push(JSON.stringify(batch.map(batchEvent)))
    }
  }
  const signatures = await signAll(keys.key1.privatePem, bodies)
  const [other] = await signAll(keys.key2.privatePem, ['not this body'])
  return bodies.map((body, i) => ({
    body: Buffer.from(body),
    headers: { 'content-type': 'application/json', ...adobeSignatureHeaders(keys, signatures[i]!, other!) },
    eventIds: ids[i]!.map(id => `${opts.sourceName}/${id}`)
  }))
}
