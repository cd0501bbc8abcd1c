import type { FastifyInstance } from 'fastify'
import { GatewayError } from '../errors.ts'
import type { JobStatusStore } from '../job-status.ts'

const MAX_JOB_ID_LENGTH = 512

/** `GET /jobs/:jobId`: the job-status document the workers keep (404 when unknown). */
export default async function jobs (app: FastifyInstance, opts: { store: JobStatusStore }) {
  app.get<{ Params: { jobId: string } }>('/jobs/:jobId', async (request) => {
    const { jobId } = request.params
    if (jobId.length > MAX_JOB_ID_LENGTH) throw jobNotFound(jobId.slice(0, 64) + '…')
    let status
    try {
      status = await opts.store.get(jobId)
    } catch (err) {
      throw new GatewayError(503, 'AEG_STORE_UNAVAILABLE', 'job status store cannot be read right now; retry later', { cause: err, retryAfter: 5, logLevel: 'warn' })
    }
    if (status === undefined) throw jobNotFound(jobId)
    return status
  })
}

const jobNotFound = (jobId: string) => new GatewayError(404, 'AEG_JOB_NOT_FOUND', `no status is known for job "${jobId}"`)
