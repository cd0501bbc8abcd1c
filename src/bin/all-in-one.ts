import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { BULL_BOARD_PATH } from '../admin.ts'
import type { GatewayConfig } from '../config.ts'
import { startGateway, type RunningGateway } from '../gateway.ts'
import { runUntilSignalled } from '../lifecycle.ts'
import { startWorkers } from '../../workers/start.ts'

/**
 * `npm start`: the whole product on one machine — the gateway and one worker
 * in one process against REDIS_URL. In production run the roles separately
 * (`npm run gateway`, `npm run worker` × N) or with docker compose.
 */
await runUntilSignalled('aeg', async (config, log) => {
  const gateway = await startGateway(config, log.child({ part: 'gateway' }))
  const workers = await startWorkers(config, log.child({ part: 'worker' }))
  logBullBoard(config, gateway, log)
  return {
    async close () {
      // Stop taking webhooks first, then let the worker finish what is in flight.
      await gateway.close()
      await workers.close()
    }
  }
})

/** Local development: where Bull Board is and which variables log in to it (their names, never the password). */
function logBullBoard (config: GatewayConfig, gateway: RunningGateway, log: Logger) {
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
