import { createHmac } from 'node:crypto'
import { Worker } from 'bullmq'
import { readyForBench } from '../servers/child.ts'

/**
 * The naive pipeline's worker: a plain BullMQ worker on the naive edge's
 * `events` queue that POSTs each job's data to one destination with `fetch`,
 * signed per Standard Webhooks (`webhook-id` = the job id). BullMQ's defaults
 * otherwise (its retention, its event stream), no status store, no logging;
 * the same concurrency as the gateway's workers, so neither waits on the other.
 */
const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const url = process.env.NAIVE_DESTINATION_URL!
const secret = process.env.NAIVE_DESTINATION_SECRET!
const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret)

const worker = new Worker('events', async (job) => {
  const body = JSON.stringify(job.data)
  const timestamp = Math.floor(Date.now() / 1000)
  const signature = createHmac('sha256', key).update(`${job.id}.${timestamp}.${body}`).digest('base64')
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': job.id!, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` },
    body
  })
  await res.arrayBuffer()
  if (!res.ok) throw new Error(`destination answered ${res.status}`)
}, {
  connection: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379), maxRetriesPerRequest: null },
  prefix: process.env.QUEUE_PREFIX ?? 'bull',
  concurrency: Number(process.env.NAIVE_CONCURRENCY ?? 64)
})
await worker.waitUntilReady()
readyForBench(worker)
