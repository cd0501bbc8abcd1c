import type { Telemetry } from 'bullmq'
import type { FastifyPluginCallback } from 'fastify'
import type { Logger } from 'pino'

/**
 * OpenTelemetry tracing, configured only by the standard `OTEL_*` variables
 * (docs/tracing.md). Off unless an OTLP endpoint is set: then nothing of
 * OpenTelemetry is imported, no hook or option is added anywhere, and
 * {@link withSpan} is a direct call. Every OpenTelemetry module is imported
 * dynamically by {@link startTracing}, so this module costs nothing when off.
 */

/** The part of a span the code under trace may touch. */
export interface SpanHandle {
  setAttribute (key: string, value: string | number | boolean): void
  /** Writes this span's W3C `traceparent` (and `tracestate`) into `headers` and returns them. */
  inject (headers: Record<string, string>): Record<string, string>
}

/** Span kinds used here (OpenTelemetry's, by name). */
export type SpanKindName = 'internal' | 'client'

/** What a running tracer offers the rest of the process. */
export interface Tracing {
  /** BullMQ's `telemetry` option, for every Queue and Worker: jobs carry the trace context. */
  readonly telemetry: Telemetry
  /** `@fastify/otel`'s plugin: one span per request (health probes left out). */
  readonly fastifyPlugin: FastifyPluginCallback
  /** Runs `fn` in a new span, child of the active one; a throw marks the span as an error. */
  span<T>(name: string, kind: SpanKindName, attributes: SpanAttributes, fn: (span: SpanHandle) => Promise<T>): Promise<T>
  /** Flushes the spans not yet exported, then stops exporting. */
  shutdown (): Promise<void>
}

let active: Tracing | undefined

/** The tracer of this process, when tracing is on. */
export function activeTracing (): Tracing | undefined {
  return active
}

/** Whether the standard variables ask for traces: an OTLP endpoint is set and the SDK is not disabled. */
export function tracingRequested (env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return false
  return [env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, env.OTEL_EXPORTER_OTLP_ENDPOINT].some(v => v !== undefined && v.trim() !== '')
}

/** Span attributes. */
export type SpanAttributes = Record<string, string | number | boolean>

/**
 * Runs `fn` inside a span when tracing is on; otherwise calls it with no span
 * (one variable read: `attributes` is not even called).
 */
export function withSpan<T> (name: string, kind: SpanKindName, attributes: () => SpanAttributes, fn: (span: SpanHandle | undefined) => Promise<T>): Promise<T> {
  return active === undefined ? fn(undefined) : active.span(name, kind, attributes(), fn)
}

/**
 * Starts exporting traces when the standard variables ask for it (see
 * {@link tracingRequested}); `role` becomes the `service.name` unless
 * `OTEL_SERVICE_NAME` says otherwise, and is always the `aeg.role` resource
 * attribute. Resolves to the shutdown (flush) function, or undefined when off.
 * Throws on a protocol this build cannot export with (`grpc`).
 */
export async function startTracing (role: string, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<(() => Promise<void>) | undefined> {
  if (!tracingRequested(env)) return undefined
  const { startSdk } = await import('./tracing-sdk.ts')
  active = await startSdk(role, log, env)
  const tracing = active
  return async () => {
    await tracing.shutdown()
    if (active === tracing) active = undefined
  }
}
