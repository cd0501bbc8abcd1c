import { Job } from 'bullmq'
import t from 'tap'
import type { Envelope } from '../../src/ingest/envelope.ts'
import { EventQueue } from '../../src/ingest/event-queue.ts'
import { jobOptions } from '../../src/queues.ts'
import { jobIdFor } from '../../src/queues.ts'
import { createEdgeRedis } from '../../src/redis.ts'
import { REDIS_URL, testRedis, uniquePrefix } from '../helpers/index.ts'

// The edge builds each job's record itself instead of through `new Job().asJSON()`
// (a hot-path cost). It must stay exactly what BullMQ would have built, or a
// BullMQ upgrade could change what lands in Redis without anyone noticing.

const envelope: Envelope = {
  specversion: '1.0',
  id: 'adobe/evt:1',
  source: 'aeg://adobe',
  type: 'com.adobe.lightroom.job-status',
  time: '2026-01-02T03:04:05.000Z',
  datacontenttype: 'application/json',
  jobid: 'job-1',
  jobstatus: 'succeeded',
  receivedat: '2026-01-02T03:04:06.000Z',
  deliveryid: 'req-1',
  sourcekind: 'adobe-io-events',
  data: { event_id: 'evt:1', nested: { list: [1, 'two', null] } }
}

t.test('jobJson equals BullMQ\'s own Job.asJSON for the same envelope and options', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const connection = createEdgeRedis(REDIS_URL)
  const queue = new EventQueue({ connection, prefix, dedupWindowMs: 86_400_000, ackTimeoutMs: 2000, attempts: 7, backoffMs: 1500 })
  t.teardown(async () => {
    await queue.close()
    await connection.quit()
  })
  const id = jobIdFor(envelope.id)
  const timestamp = 1_767_323_045_000
  const job = new Job(queue.queue, 'lightroom', envelope, {
    ...jobOptions(7, 1500),
    jobId: id,
    deduplication: { id, ttl: 86_400_000 }
  }, id)
  job.timestamp = timestamp
  t.strictSame(queue.jobJson('lightroom', envelope, id, timestamp), job.asJSON())
  t.strictSame(JSON.parse(queue.jobJson('lightroom', envelope, id, timestamp).data), envelope, 'the data is the envelope')
})
