import { pino } from 'pino'
import { loadConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { startTracing } from '../../src/tracing.ts'
import { startWorkers } from '../../workers/start.ts'
import { readyForBench } from './child.ts'

// The workers exactly as `npm run worker` starts them, from the same
// environment and config file as the bench's gateway (tracing, too, only with an OTLP endpoint).
const config = loadConfig()
const log = pino(loggerOptions(config.logLevel)).child({ role: 'worker' })
await startTracing('worker', log)
const running = await startWorkers(config, log)
readyForBench(running)
