import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { GatewayConfig } from './config.ts'
import { ConnectionErrorLog } from './connection-errors.ts'
import { EventQueue } from './ingest/event-queue.ts'
import { ValidationChallenge } from './ingest/validation-challenge.ts'
import { JobStatusStore } from './job-status.ts'
import { createHttpApp, requireHost } from './http-server.ts'
import type { GatewayMetrics } from './metrics.ts'
import errorHandler from './plugins/error-handler.ts'
import health from './plugins/health.ts'
import jobs from './plugins/jobs.ts'
import metricsPlugin from './plugins/metrics.ts'
import webhooks from './plugins/webhooks.ts'
import { closeRedis, createEdgeRedis, type RedisClient } from './redis.ts'
import { createSources } from './sources/index.ts'
import { activeTracing } from './tracing.ts'
import { PublicKeyCache } from './verify/public-keys.ts'

export interface AppDeps {
  /** Shared edge connection; created (and closed with the app) when omitted. */
  redis?: RedisClient
  /** A pino logger to use instead of building one from the config. */
  logger?: Logger
  /** Delays of the asynchronous validation fetches (tests shorten them). */
  validationDelaysMs?: readonly number[]
  /** How long a failed public key fetch is remembered before the next try (tests shorten it). */
  keyFailureTtlMs?: number
  /** Series to feed (requests, verification failures, enqueue latency); none when omitted. */
  metrics?: GatewayMetrics
}

/**
 * The public edge: a Fastify instance with every webhook route, ready to
 * listen (or to `inject` in tests). Everything it opens it closes on `close()`.
 */
export async function buildApp (config: GatewayConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = createHttpApp(config, { logger: deps.logger, bodyLimit: config.bodyLimit, requestIdHeader: 'x-request-id' })
  // Only when tracing is on, and first: it wraps the routes and hooks registered after it.
  const tracing = activeTracing()
  if (tracing !== undefined) await app.register(tracing.fastifyPlugin)

  const ownsRedis = deps.redis === undefined
  const redis = deps.redis ?? createEdgeRedis(config)
  // Refused connections are logged once per outage and summarised, not once per retry.
  const connectionErrors = new ConnectionErrorLog(app.log as Logger)
  connectionErrors.watchRedis('redis', redis)
  const keys = new PublicKeyCache({
    baseUrl: config.publicKeyBaseUrl,
    ttlMs: config.keyCacheTtlMs,
    timeoutMs: config.keyFetchTimeoutMs,
    ...(deps.keyFailureTtlMs !== undefined && { failureTtlMs: deps.keyFailureTtlMs }),
    log: app.log as Logger
  })
  const eventQueue = EventQueue.fromConfig(config, redis, deps.metrics?.observeEnqueue)
  const challenge = new ValidationChallenge(config.validation, { delaysMs: deps.validationDelaysMs })

  app.addHook('onClose', async () => {
    challenge.close()
    await eventQueue.close()
    if (ownsRedis) await closeRedis(redis)
    connectionErrors.close()
  })

  await app.register(errorHandler, { bodyLimit: config.bodyLimit })
  await app.register(requireHost)
  if (deps.metrics) await app.register(metricsPlugin, { metrics: deps.metrics, sourceNames: config.sources.map(s => s.name) })
  await app.register(health, { redis })
  await app.register(webhooks, {
    sources: createSources(config.sources, { keys }),
    eventQueue,
    challenge,
    bodyLimit: config.bodyLimit
  })
  await app.register(jobs, { store: new JobStatusStore(redis, config.queuePrefix) })
  return app
}
