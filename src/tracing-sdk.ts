import { context, diag, DiagLogLevel, propagation, SpanKind, SpanStatusCode, trace, type DiagLogger } from '@opentelemetry/api'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, NodeTracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace-node'
import { BullMQOtel, BullMQOTelSpan } from 'bullmq-otel'
import type { Telemetry } from 'bullmq'
import type { FastifyPluginCallback } from 'fastify'
import type { Logger } from 'pino'
import type { SpanHandle, Tracing } from './tracing.ts'

/**
 * The OpenTelemetry SDK behind src/tracing.ts, imported only when tracing is
 * on. The SDK reads the standard variables itself (endpoint, headers,
 * timeout, sampler, batch delays, resource attributes); this module only picks
 * the exporter for the protocol and names the service.
 */

const TRACER_NAME = 'adobe-job-events-gateway'
/** Kubernetes and compose probe these every few seconds: a trace each would bury the events' traces. */
const PROBE_PATHS = new Set(['/healthz', '/readyz'])
/**
 * BullMQ operations a worker runs on its own (the periodic stalled-job check,
 * per queue). Outside a trace each would start a trace of its own every
 * stalled interval, holding nothing about any event.
 */
const IDLE_OPERATIONS = ['moveStalledJobsToWait ']

/** `http/protobuf` (the OpenTelemetry default) or `http/json`; traces-specific variable first. */
function protocolOf (env: NodeJS.ProcessEnv): 'http/protobuf' | 'http/json' {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() || env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() || 'http/protobuf').toLowerCase()
  if (protocol === 'http/protobuf' || protocol === 'http/json') return protocol
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; use http/protobuf or http/json (an OpenTelemetry Collector can relay to gRPC)`)
}

async function exporterFor (protocol: 'http/protobuf' | 'http/json'): Promise<SpanExporter> {
  // Each exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT and _COMPRESSION itself.
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
}

/** The SDK's own warnings and errors (a failed export, say) as JSON log lines. */
function diagLogger (log: Logger): DiagLogger {
  return {
    error: (msg, ...args) => log.error({ args }, msg),
    warn: (msg, ...args) => log.warn({ args }, msg),
    info: () => {},
    debug: () => {},
    verbose: () => {}
  }
}

/** BullMQ telemetry through bullmq-otel, minus the periodic checks' root spans (see IDLE_OPERATIONS). */
function bullmqTelemetry (): Telemetry {
  const telemetry = new BullMQOtel({ tracerName: TRACER_NAME })
  const tracer = telemetry.tracer
  const quiet = new BullMQOTelSpan(trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }))
  return {
    contextManager: telemetry.contextManager,
    tracer: {
      startSpan (name, options, ctx) {
        // No parent given and none active: a check on its own, not part of any event's trace.
        if (ctx === undefined && IDLE_OPERATIONS.some(op => name.startsWith(op)) && trace.getSpan(context.active()) === undefined) return quiet
        return tracer.startSpan(name, options, ctx)
      }
    }
  }
}

/** Starts the SDK (global tracer provider, W3C trace context propagation) and returns what the process uses of it. */
export async function startSdk (role: string, log: Logger, env: NodeJS.ProcessEnv): Promise<Tracing> {
  const otelLog = log.child({ component: 'opentelemetry' })
  diag.setLogger(diagLogger(otelLog), DiagLogLevel.WARN)
  const protocol = protocolOf(env)
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': role === 'aeg' ? 'aeg' : `aeg-${role}`, 'aeg.role': role }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults above.
    .merge(detectResources({ detectors: [envDetector] }))
  const provider = new NodeTracerProvider({
    resource,
    // The sampler comes from OTEL_TRACES_SAMPLER / _ARG, the batch timings from OTEL_BSP_*.
    spanProcessors: [new BatchSpanProcessor(await exporterFor(protocol))]
  })
  // Registers AsyncLocalStorage context and the W3C traceparent/baggage propagators globally.
  provider.register()

  const fastifyOtel = new FastifyOtelInstrumentation({
    // One span per request and one for its handler; a span per lifecycle hook would outnumber them.
    instrumentHooks: false,
    // Named as HTTP server spans are (`POST /webhooks/:source`) rather than the plugin's plain `request`.
    requestHook: (span: { updateName (name: string): unknown }, request: { method: string, routeOptions: { url?: string } }) => {
      if (request.routeOptions.url !== undefined) span.updateName(`${request.method} ${request.routeOptions.url}`)
    },
    ignorePaths: (route: { url?: string }) => route.url !== undefined && PROBE_PATHS.has(route.url)
  })
  const tracer = trace.getTracer(TRACER_NAME)
  otelLog.info({ protocol, serviceName: resource.attributes['service.name'], sampler: env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on' }, 'tracing on: exporting spans over OTLP')

  return {
    telemetry: bullmqTelemetry(),
    fastifyPlugin: fastifyOtel.plugin() as unknown as FastifyPluginCallback,
    async span (name, kind, attributes, fn) {
      return await tracer.startActiveSpan(name, { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes }, async (span) => {
        const spanContext = context.active()
        const handle: SpanHandle = {
          setAttribute: (key, value) => { span.setAttribute(key, value) },
          inject: (headers) => {
            propagation.inject(spanContext, headers)
            return headers
          }
        }
        try {
          return await fn(handle)
        } catch (err) {
          span.recordException(err as Error)
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message })
          throw err
        } finally {
          span.end()
        }
      })
    },
    async shutdown () {
      await provider.shutdown().catch((err: unknown) => otelLog.warn({ err }, 'spans not flushed at shutdown'))
      // Unregistered, so a later start in the same process (tests) registers afresh.
      trace.disable()
      context.disable()
      propagation.disable()
    }
  }
}
