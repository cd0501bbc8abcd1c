import type { FastifyInstance } from 'fastify'
import { redisAnswers, type RedisClient } from '../redis.ts'
import { notReady } from '../errors.ts'

/** Orchestrator probes, without auth: `/healthz` (process up), `/readyz` (Redis answers). */
export default async function health (app: FastifyInstance, opts: { redis: RedisClient }) {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }))
  app.get('/readyz', { logLevel: 'warn' }, async () => {
    if (await redisAnswers(opts.redis)) return { status: 'ready' }
    throw notReady()
  })
}
