import { pino } from 'pino'
import { loadConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { startWorkers } from '../../workers/start.ts'
import { readyForBench } from './child.ts'

// The workers exactly as `npm run worker` starts them, from the same
// environment and config file as the bench's gateway.
const config = loadConfig()
const running = await startWorkers(config, pino(loggerOptions(config.logLevel)).child({ role: 'worker' }))
readyForBench(running)
