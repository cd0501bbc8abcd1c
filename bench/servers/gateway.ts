import { pino } from 'pino'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { serveForBench } from './child.ts'

// The gateway edge exactly as `npm run gateway` builds it, configured from the
// environment the bench sets (REDIS_URL, QUEUE_PREFIX, ADOBE_PUBLIC_KEY_BASE_URL,
// GATEWAY_CONFIG, LOG_LEVEL); its log goes to stdout, which the bench points at /dev/null.
const config = loadConfig()
const app = await buildApp(config, { logger: pino(loggerOptions(config.logLevel)).child({ role: 'gateway' }) })
await serveForBench(app)
