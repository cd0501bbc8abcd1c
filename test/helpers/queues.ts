import { QueueEvents, type Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { REDIS_URL } from './redis.ts'
import { within } from './wait.ts'

/**
 * Resolves once every one of `jobIds` has completed in `queue`, from the
 * queue's own event stream (QueueEvents, read from the start of the stream so
 * a completion before the call counts too: not for a job id that completes
 * twice). Fails after `timeoutMs` naming the jobs still missing.
 */
export async function jobsCompleted (queue: Queue, jobIds: string[], timeoutMs = 30_000): Promise<void> {
  // A connection of its own (QueueEvents blocks on it), to the queue's Redis.
  const base: unknown = queue.opts.connection
  const connection = base instanceof Redis ? base.duplicate() : new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const events = new QueueEvents(queue.name, { connection, prefix: queue.opts.prefix, lastEventId: '0-0' })
  const missing = new Set(jobIds)
  const done = new Promise<void>(resolve => {
    if (missing.size === 0) resolve()
    events.on('completed', ({ jobId }) => {
      missing.delete(jobId)
      if (missing.size === 0) resolve()
    })
  })
  try {
    await within(done, timeoutMs, `${queue.name}: jobs not completed`).catch((err: Error) => {
      throw new Error(`${err.message}: ${[...missing].slice(0, 10).join(', ')}`)
    })
  } finally {
    await events.close()
    connection.disconnect()
  }
}
