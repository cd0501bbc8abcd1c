import type { FastifyInstance } from 'fastify'
import { redisAnswers, type RedisClient } from '../redis.ts'
import { errorBody } from './error-handler.ts'

/** Orchestrator probes, without auth: `/healthz` (process up), `/readyz` (Redis answers). */
export default async function health (app: FastifyInstance, opts: { redis: RedisClient }) {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }))
  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    if (await redisAnswers(opts.redis)) return { status: 'ready' }
    return reply.code(503).header('retry-after', '5').send(errorBody('AEG_NOT_READY', 'Redis does not answer'))
  })
}
