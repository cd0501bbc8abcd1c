import type { FastifyInstance } from 'fastify'
import { jobNotFound, storeUnavailable } from '../errors.ts'
import type { JobStatusStore } from '../job-status.ts'

const MAX_JOB_ID_LENGTH = 512

/** `GET /jobs/:jobId`: the job-status document the workers keep (404 when unknown). */
export default async function jobs (app: FastifyInstance, opts: { store: JobStatusStore }) {
  app.get<{ Params: { jobId: string } }>('/jobs/:jobId', async (request) => {
    const { jobId } = request.params
    if (jobId.length > MAX_JOB_ID_LENGTH) throw jobNotFound(jobId.slice(0, 64) + '…')
    let status
    try {
      if (!opts.store.available) throw new Error('redis connection is not ready')
      status = await opts.store.get(jobId)
    } catch (err) {
      throw storeUnavailable(err)
    }
    if (status === undefined) throw jobNotFound(jobId)
    return status
  })
}
