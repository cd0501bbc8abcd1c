import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import { Queue, QueueEvents } from 'bullmq'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { ConfigError, type GatewayConfig } from './config.ts'
import { ConnectionErrorLog } from './connection-errors.ts'
import { GatewayError, adminAuthRequired } from './errors.ts'
import { createHttpApp, requireHost } from './http-server.ts'
import { GatewayMetrics, watchJobOutcomes } from './metrics.ts'
import errorHandler from './plugins/error-handler.ts'
import health from './plugins/health.ts'
import { QUEUE, QUEUE_OPTIONS } from './queues.ts'
import { settleWithin } from './deadline.ts'
import { closeRedis, createEdgeRedis, createWorkerRedis, type RedisClient } from './redis.ts'
import { verifyCredentials } from './verify/credentials.ts'
import { JournalPositions, journalSources, type JournalStatus } from './journal-state.ts'

export const BULL_BOARD_PATH = '/admin/queues'

/** Bull Board's requests are small JSON actions. */
const ADMIN_BODY_LIMIT = 1024 * 1024

/** Whether the admin port may open, and with which protection. */
export type AdminAccess =
  | { open: true, auth: { username: string, password: string } | undefined }
  | { open: false, reason: string }

/**
 * The admin port serves queue contents and lets an operator retry jobs, so it
 * opens only with credentials, or when authentication is explicitly turned off.
 */
export function adminAccess (config: GatewayConfig): AdminAccess {
  const { user, password, auth } = config.admin
  if (auth === 'off') return { open: true, auth: undefined }
  if (user === undefined || password === undefined) {
    return { open: false, reason: 'ADMIN_USER and ADMIN_PASSWORD are not set (set them, or ADMIN_AUTH=off to serve the admin port without authentication)' }
  }
  return { open: true, auth: { username: user, password } }
}

export interface AdminDeps {
  /** Connection for the admin's queue reads; created (and closed with the app) when omitted. */
  redis?: RedisClient
  logger?: Logger
  /** The registry `/metrics` serves; the gateway shares it with the public app. */
  metrics?: GatewayMetrics
  /** Read the queues' event streams into job outcome series (default true). */
  watchJobs?: boolean
  /** Stream id the readers start after: `$` (default) counts only jobs finishing from now on. */
  jobEventsFrom?: string
}

/**
 * The admin app for `ADMIN_PORT`: probes without auth; `/metrics` and Bull Board
 * (every queue, with retry of failed jobs) behind HTTP basic auth.
 */
export async function buildAdminApp (config: GatewayConfig, deps: AdminDeps = {}): Promise<FastifyInstance> {
  const access = adminAccess(config)
  if (!access.open) throw new ConfigError(`admin port: ${access.reason}`)

  const app = createHttpApp(config, { logger: deps.logger?.child({ port: 'admin' }), bodyLimit: ADMIN_BODY_LIMIT })

  const ownsRedis = deps.redis === undefined
  const redis = deps.redis ?? createEdgeRedis(config, { connectionName: 'aeg-admin' })
  // Refused connections are logged once per outage and summarised, not once per retry.
  const connectionErrors = new ConnectionErrorLog(app.log as Logger)
  connectionErrors.watchRedis('redis', redis)
  const metrics = deps.metrics ?? new GatewayMetrics()

  const queues = Object.values(QUEUE).map(name => {
    // Not skipWaitingForReady: BullMQ's version check would then run before the
    // fail-fast connection is up and leave the queue unusable for good.
    const queue = new Queue(name, { ...QUEUE_OPTIONS, connection: redis, prefix: config.queuePrefix })
    // A queue re-emits its connection's errors: one component, so an outage is one line.
    connectionErrors.watch('redis', queue)
    return queue
  })
  metrics.watchQueues(queues)
  const journals = journalSources(config).map(s => s.name)
  const positions = new JournalPositions(redis, config.queuePrefix)
  const readJournals = async () => new Map<string, JournalStatus>(await Promise.all(journals.map(async name => [name, await positions.status(name)] as const)))
  if (journals.length > 0) metrics.watchJournals(readJournals)

  // Each event stream is read with a blocking XREAD, so each needs a connection of its own.
  const streams: { events: QueueEvents, connection: RedisClient }[] = []
  if (deps.watchJobs ?? true) {
    for (const name of Object.values(QUEUE)) {
      const connection = createWorkerRedis(config, { connectionName: 'aeg-admin-events' })
      connectionErrors.watchRedis('redis:job-events', connection)
      const events = new QueueEvents(name, { connection, prefix: config.queuePrefix, lastEventId: deps.jobEventsFrom })
      connectionErrors.watch('redis:job-events', events)
      watchJobOutcomes(events, name, metrics)
      streams.push({ events, connection })
    }
  }

  app.addHook('onClose', async () => {
    await Promise.all(streams.map(async ({ events, connection }) => {
      await events.close().catch(() => {})
      connection.disconnect()
    }))
    await settleWithin(Promise.all(queues.map(q => q.close())), 2000)
    if (ownsRedis) await closeRedis(redis)
    connectionErrors.close()
  })

  await app.register(errorHandler, { bodyLimit: ADMIN_BODY_LIMIT })
  await app.register(requireHost)
  await app.register(health, { redis })

  await app.register(async function protectedRoutes (scope) {
    if (access.auth !== undefined) scope.addHook('onRequest', basicAuth(access.auth))

    scope.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      const text = await metrics.text()
      return reply.type(metrics.registry.contentType).send(text)
    })

    // Where each journal reader stands: stored position and next link, counters, lag, who reads it.
    scope.get('/admin/journal', async () => {
      try {
        return { sources: Object.fromEntries(await readJournals()) }
      } catch (err) {
        throw new GatewayError(503, 'AEG_REDIS_UNAVAILABLE', 'journal state cannot be read: Redis did not answer', { cause: err })
      }
    })

    const board = new FastifyAdapter()
    createBullBoard({
      queues: queues.map(q => new BullMQAdapter(q, { allowRetries: true })),
      serverAdapter: board,
      options: { uiConfig: { boardTitle: 'Adobe job events' } }
    })
    board.setBasePath(BULL_BOARD_PATH)
    await scope.register(board.registerPlugin(), { prefix: BULL_BOARD_PATH })
  })

  if (access.auth === undefined) app.log.warn('admin port serves Bull Board and metrics without authentication (ADMIN_AUTH=off)')
  return app
}

const CHALLENGE = 'Basic realm="aeg-admin", charset="UTF-8"'

/** HTTP basic auth, compared in constant time; the challenge header lets browsers prompt. */
function basicAuth (credentials: { username: string, password: string }) {
  const auth = { type: 'basic' as const, ...credentials }
  const noBody = Buffer.alloc(0)
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      verifyCredentials(auth, noBody, request.headers)
    } catch (err) {
      void reply.header('www-authenticate', CHALLENGE)
      if (err instanceof GatewayError) throw adminAuthRequired(err.code)
      throw err
    }
  }
}
