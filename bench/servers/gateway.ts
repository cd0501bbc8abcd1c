import { pino } from 'pino'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { GatewayMetrics } from '../../src/metrics.ts'
import { startTracing } from '../../src/tracing.ts'
import { serveForBench } from './child.ts'

// The gateway edge as `npm run gateway` builds it (with the request and enqueue
// metrics it feeds whenever its admin port is open), configured from the
// environment the bench sets (REDIS_URL, QUEUE_PREFIX, ADOBE_PUBLIC_KEY_BASE_URL,
// GATEWAY_CONFIG, LOG_LEVEL, and OTEL_* as the entry reads them: tracing is off
// unless BENCH_COMPARE_ENV sets an endpoint); its log goes to stdout, which the
// bench points at /dev/null.
const config = loadConfig()
const log = pino(loggerOptions(config.logLevel)).child({ role: 'gateway' })
await startTracing('gateway', log)
const app = await buildApp(config, { logger: log, metrics: new GatewayMetrics() })
await serveForBench(app)
