import { pino } from 'pino'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { GatewayMetrics } from '../../src/metrics.ts'
import { serveForBench } from './child.ts'

// The gateway edge as `npm run gateway` builds it (with the request and enqueue
// metrics it feeds whenever its admin port is open), configured from the
// environment the bench sets (REDIS_URL, QUEUE_PREFIX, ADOBE_PUBLIC_KEY_BASE_URL,
// GATEWAY_CONFIG, LOG_LEVEL); its log goes to stdout, which the bench points at /dev/null.
const config = loadConfig()
const app = await buildApp(config, { logger: pino(loggerOptions(config.logLevel)).child({ role: 'gateway' }), metrics: new GatewayMetrics() })
await serveForBench(app)
