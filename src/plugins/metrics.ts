import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { GatewayError } from '../errors.ts'
import { UNKNOWN_SOURCE, type GatewayMetrics } from '../metrics.ts'

const WEBHOOK_ROUTE = '/webhooks/:source'

/**
 * Request and verification series for the public app. Registered before the
 * routes (hooks apply to routes added after them) and without encapsulation,
 * so every webhook route is counted. Only configured source names become label
 * values: a scan of random paths cannot grow the series without bound.
 */
export default fp(async function metrics (app: FastifyInstance, opts: { metrics: GatewayMetrics, sourceNames: readonly string[] }) {
  const known = new Set(opts.sourceNames)
  const sourceOf = (request: FastifyRequest) => {
    const name = (request.params as { source?: string } | undefined)?.source
    return name !== undefined && known.has(name) ? name : UNKNOWN_SOURCE
  }

  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url !== WEBHOOK_ROUTE) return
    opts.metrics.requests.inc({ source: sourceOf(request), code: String(reply.statusCode) })
  })

  // onError sees the GatewayError itself (the answer only has its status code).
  app.addHook('onError', async (request, _reply, error) => {
    if (!(error instanceof GatewayError)) return
    if (error.statusCode === 401 || error.code === 'AEG_KEY_UNAVAILABLE') {
      opts.metrics.verificationFailures.inc({ source: sourceOf(request), reason: error.code })
    }
  })
}, { name: 'aeg-metrics' })
