import { pino } from 'pino'
import t from 'tap'
import { httpServer } from './helpers/index.ts'
import { activeTracing, startTracing, tracingRequested, withSpan } from '../src/tracing.ts'

/** src/tracing.ts in this process: which variables turn tracing on, and the protocols it exports with. */

const silent = pino({ level: 'silent' })

t.test('tracing is on only with an OTLP endpoint, and OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none turn it off', async t => {
  t.equal(tracingRequested({}), false, 'no variable')
  t.equal(tracingRequested({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), false, 'no endpoint')
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }), false, 'an empty endpoint (a blank line of .env)')
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true)
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true)
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }), false)
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }), false)
  t.equal(await startTracing('worker', silent, {}), undefined, 'off: nothing started')
  t.equal(activeTracing(), undefined)
  let called = 0
  t.equal(await withSpan('x', 'internal', () => { throw new Error('attributes are not computed when off') }, async (span) => { called++; return span }), undefined,
    'off: withSpan calls straight through, with no span')
  t.equal(called, 1)
})

t.test('a gRPC protocol is refused with the variable named (this build exports over HTTP only)', async t => {
  await t.rejects(startTracing('worker', silent, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    /OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported/)
})

t.test('http/protobuf (the default protocol): a span is exported as protobuf to <endpoint>/v1/traces, flushed by the shutdown function', async t => {
  const requests: { path: string, contentType: string, bytes: number }[] = []
  const receiver = await httpServer(t, (req, res, body) => {
    requests.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), bytes: body.length })
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
  })
  // The exporters read the endpoint from process.env themselves.
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url
  t.teardown(() => {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved
  })
  const stop = await startTracing('worker', silent, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  t.ok(stop, 'started')
  t.ok(activeTracing(), 'the process has a tracer')
  const headers = await withSpan('unit', 'client', () => ({ 'aeg.test': true }), async (span) => span!.inject({}))
  t.match(headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'inject writes a W3C traceparent')
  await stop!()
  t.equal(activeTracing(), undefined, 'stopped')
  t.same(requests.map(r => [r.path, r.contentType]), [['/v1/traces', 'application/x-protobuf']], 'one protobuf export at the shutdown flush')
  t.ok(requests[0]!.bytes > 0)
})

t.test('OTEL_TRACES_SAMPLER is the SDK\'s: always_off exports nothing, and the traceparent says "not sampled"', async t => {
  let exports = 0
  const receiver = await httpServer(t, (_req, res) => { exports++; res.writeHead(200).end() })
  const saved = { endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, sampler: process.env.OTEL_TRACES_SAMPLER }
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url
  process.env.OTEL_TRACES_SAMPLER = 'always_off'
  t.teardown(() => {
    for (const [name, value] of [['OTEL_EXPORTER_OTLP_ENDPOINT', saved.endpoint], ['OTEL_TRACES_SAMPLER', saved.sampler]] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  const stop = await startTracing('gateway', silent, process.env)
  const headers = await withSpan('unsampled', 'client', () => ({}), async (span) => span!.inject({}))
  t.match(headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'flag 00: the destination can follow the decision')
  await stop!()
  t.equal(exports, 0, 'nothing exported, even at the shutdown flush')
})
