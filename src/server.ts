import closeWithGrace from 'close-with-grace'
import { pino, type Logger } from 'pino'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type GatewayConfig } from './config.ts'
import { loggerOptions } from './logger.ts'

/** Builds and starts the public edge; resolves once it listens. */
export async function startGateway (config: GatewayConfig, log: Logger) {
  const app = await buildApp(config, { logger: log })
  await app.listen({ port: config.port, host: config.host })
  return app
}

/**
 * Loads the configuration or ends the process with one line naming the bad
 * setting (exit 1, no stack trace).
 */
export function configOrExit (): GatewayConfig {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`invalid configuration: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}

/** Runs `start`, then closes what it returned on SIGTERM/SIGINT within the shutdown budget. */
export async function runUntilSignalled (name: string, start: (config: GatewayConfig, log: Logger) => Promise<{ close(): Promise<unknown> }>) {
  const config = configOrExit()
  const log = pino(loggerOptions(config.logLevel)).child({ role: name })
  let running: { close(): Promise<unknown> } | undefined
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    await running?.close()
    log.info('stopped')
  })
  try {
    running = await start(config, log)
  } catch (err) {
    log.fatal({ err }, `${name} failed to start`)
    process.exit(1)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runUntilSignalled('gateway', startGateway)
}
