import closeWithGrace from 'close-with-grace'
import { pino, type Logger } from 'pino'
import { ConfigError, configWarnings, loadConfig, secretHeaders, type GatewayConfig } from './config.ts'
import { logDestination, loggerOptions } from './logger.ts'
import { startTracing } from './tracing.ts'

/** What a role's start function hands back: something to close on a signal. */
export interface Closable {
  close (): Promise<unknown>
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
export async function runUntilSignalled (name: string, start: (config: GatewayConfig, log: Logger) => Promise<Closable>) {
  const config = configOrExit()
  const log = pino(loggerOptions(config.logLevel, secretHeaders(config)), logDestination()).child({ role: name })
  for (const warning of configWarnings(config)) log.warn(warning, warning.msg)
  // Before the app and workers are built: they take BullMQ's telemetry option and Fastify's plugin from it.
  let stopTracing: (() => Promise<void>) | undefined
  try {
    stopTracing = await startTracing(name, log)
  } catch (err) {
    process.stderr.write(`invalid tracing configuration: ${(err as Error).message}\n`)
    process.exit(1)
  }
  let running: Closable | undefined
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    await running?.close()
    // Last, so the spans of the jobs finished while closing are exported too.
    await stopTracing?.()
    log.info('stopped')
  })
  try {
    running = await start(config, log)
  } catch (err) {
    log.fatal({ err }, `${name} failed to start`)
    process.exit(1)
  }
}
