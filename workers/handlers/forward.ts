import { UnrecoverableError, type Job } from 'bullmq'
import type { ForwardJob } from '../../src/queues.ts'
import type { Deliveries } from '../delivery.ts'

/**
 * The `forward` queue: one delivery of an envelope to one destination, with
 * BullMQ's retries and backoff around each attempt (see `Deliveries`).
 *
 * A job carrying `rejected` records a first attempt the events job made
 * inline and the destination refused for good: it fails with that reason
 * without posting again, and drops the mark first, so that a retry from
 * Bull Board posts.
 */
export function forwardHandler (deliveries: Deliveries) {
  return async function handleForward (job: Job<ForwardJob>) {
    const { envelope, destination, rejected } = job.data
    if (rejected !== undefined) {
      await job.updateData({ envelope, destination })
      throw new UnrecoverableError(rejected)
    }
    return await deliveries.deliver(envelope, destination, job.attemptsMade + 1)
  }
}
