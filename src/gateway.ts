import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { FastifyInstance } from 'fastify'
import { BULL_BOARD_PATH, adminAccess, buildAdminApp } from './admin.ts'
import { buildApp } from './app.ts'
import type { GatewayConfig } from './config.ts'
import { GatewayMetrics } from './metrics.ts'

export interface RunningGateway {
  app: FastifyInstance
  /** The admin app, when its port was allowed to open. */
  admin: FastifyInstance | undefined
  /**
   * Graceful stop: both ports stop accepting (requests arriving on kept-alive
   * connections get 503 + `Connection: close`), in-flight requests finish (each
   * is acked only after its enqueue was confirmed), then queues and Redis close.
   */
  close (): Promise<void>
}

/**
 * Builds and starts the public edge and, when credentials allow, the admin
 * port; resolves once both listen. Without admin credentials the public port
 * still serves and a warning says why the admin port did not open.
 */
export async function startGateway (config: GatewayConfig, log: Logger): Promise<RunningGateway> {
  const access = adminAccess(config)
  const metrics = access.open ? new GatewayMetrics() : undefined
  const app = await buildApp(config, { logger: log, metrics })
  let admin: FastifyInstance | undefined
  // Once closing, answers carry `Connection: close`: a kept-alive connection ends
  // with its in-flight response instead of holding the process open until its
  // keep-alive timeout (Node closes only the connections idle at close()).
  let closing = false
  app.addHook('onSend', async (_request, reply) => { if (closing) void reply.header('connection', 'close') })
  try {
    if (access.open) admin = await buildAdminApp(config, { logger: log, metrics })
    else log.warn({ adminPort: config.adminPort }, `admin port not opened: ${access.reason}`)
    await app.listen({ port: config.port, host: config.host })
    await admin?.listen({ port: config.adminPort, host: config.host })
  } catch (err) {
    await Promise.allSettled([app.close(), admin?.close()])
    throw err
  }
  return {
    app,
    admin,
    async close () {
      closing = true
      await Promise.all([
        app.close().then(() => log.debug('public port closed')),
        admin?.close().then(() => log.debug('admin port closed'))
      ])
    }
  }
}

/** Local development: where Bull Board is and which variables log in to it (their names, never the password). */
export function logBullBoard (config: GatewayConfig, gateway: RunningGateway, log: Logger) {
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host
  const port = (gateway.admin?.server.address() as AddressInfo | null)?.port ?? config.adminPort
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${BULL_BOARD_PATH}`
  if (gateway.admin === undefined) {
    log.info({ url }, `Bull Board is off: set ADMIN_USER and ADMIN_PASSWORD (8+ characters) and restart to open it at ${url}`)
  } else if (config.admin.auth === 'off') {
    log.info({ url }, `Bull Board: open ${url} (no login: ADMIN_AUTH=off)`)
  } else {
    log.info({ url, user: config.admin.user }, `Bull Board: open ${url} and log in with ADMIN_USER and ADMIN_PASSWORD`)
  }
}
