import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import type { Test } from 'tap'
import t from 'tap'
import {
  adobeSignedHeaders, destination, type Destination, eventually, fixture, httpServer, keyServer, listeningPort, roleEnv, type RoleProcess, spawnRole, testRedis, uniquePrefix, within, workersReady
} from '../helpers/index.ts'
import { fakeJournal } from '../helpers/fake-journal.ts'
import { eventsQueue } from '../helpers/sources.ts'
import { journalConfig, lightroomEvent, SOURCE, startReaders, statusWhen } from '../workers/journal/support.ts'
import { startTracing } from '../../src/tracing.ts'

const SECRET = 'tracing-forward-secret'

/** One span as an OTLP/HTTP JSON export carries it, with its resource's service. */
interface ExportedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  service: string
  role: string
  attributes: Record<string, unknown>
}

type AnyValue = { stringValue?: string, intValue?: string | number, boolValue?: boolean, doubleValue?: number }
type KeyValue = { key: string, value: AnyValue }

const valueOf = (v: AnyValue): unknown => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue
const attrs = (list: KeyValue[] | undefined): Record<string, unknown> => Object.fromEntries((list ?? []).map(a => [a.key, valueOf(a.value)]))
/** OTLP/JSON ids are hex; tolerate base64 (the protobuf JSON mapping) too. */
const hexId = (id: string | undefined): string => id === undefined || id === '' ? '' : /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex')

/**
 * A local OTLP/HTTP receiver (`POST /v1/traces`, `http/json`): keeps every
 * span, and `until(check)` resolves once the spans received satisfy `check`.
 */
async function otlpReceiver (t: Test) {
  const spans: ExportedSpan[] = []
  const requests: { path: string, contentType: string }[] = []
  const waiters = new Set<() => void>()
  const srv = await httpServer(t, (req, res, body) => {
    requests.push({ path: req.url ?? '', contentType: String(req.headers['content-type']) })
    if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
      res.writeHead(415).end()
      return
    }
    const exported = JSON.parse(body.toString('utf8')) as { resourceSpans: { resource: { attributes: KeyValue[] }, scopeSpans: { spans: any[] }[] }[] }
    for (const rs of exported.resourceSpans) {
      const resource = attrs(rs.resource.attributes)
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          spans.push({
            traceId: hexId(s.traceId),
            spanId: hexId(s.spanId),
            parentSpanId: hexId(s.parentSpanId),
            name: s.name,
            kind: s.kind,
            service: String(resource['service.name']),
            role: String(resource['aeg.role']),
            attributes: attrs(s.attributes)
          })
        }
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    for (const wake of waiters) wake()
  })
  return {
    url: srv.url,
    spans,
    requests,
    async until<T> (check: (spans: ExportedSpan[]) => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
      let wake!: () => void
      const found = new Promise<T>(resolve => {
        wake = () => {
          const value = check(spans)
          if (value !== undefined) resolve(value)
        }
      })
      waiters.add(wake)
      wake()
      try {
        return await within(found, timeoutMs, `${what}; spans so far: ${spans.map(s => `${s.service}:${s.name}`).join(', ')}`)
      } finally {
        waiters.delete(wake)
      }
    }
  }
}

/** The variables that turn tracing on, exporting OTLP/HTTP JSON to `receiver` in batches every 100 ms. */
const exportingTo = (receiver: { url: string }) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_BSP_SCHEDULE_DELAY: '100'
})

/**
 * A Node `--import` hook (through NODE_OPTIONS) that reports on stderr every
 * OpenTelemetry module a process resolves: how the "off" test sees that none is loaded.
 */
async function otelModuleProbe (dir: string): Promise<string> {
  const file = join(dir, 'otel-module-probe.mjs')
  await writeFile(file, `import { registerHooks } from 'node:module'
import { writeSync } from 'node:fs'
registerHooks({
  resolve (specifier, context, nextResolve) {
    const result = nextResolve(specifier, context)
    if (/opentelemetry|bullmq-otel|fastify[\\\\/]otel/.test(result.url)) writeSync(2, 'otel-module-loaded ' + result.url + '\\n')
    return result
  }
})
`)
  return `--import=${pathToFileURL(file).href}`
}

const loadedOtelModules = (role: RoleProcess): string[] =>
  role.stderr().split('\n').filter(l => l.startsWith('otel-module-loaded ')).map(l => l.slice('otel-module-loaded '.length))

/**
 * The SDK, exporters and instrumentations: everything but `@opentelemetry/api`,
 * which prom-client (the admin port's metrics) has always required; without an
 * SDK registered every call into it is a no-op.
 */
const loadedOtelSdk = (role: RoleProcess): string[] => loadedOtelModules(role).filter(url => !url.includes('/@opentelemetry/api/'))

/** The gateway and one worker as processes (their production entry points) with `extraEnv`, a destination behind them. */
async function startStack (t: Test, extraEnv: Record<string, string>) {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const keys = await keyServer(t)
  const dest = await destination(t, { secret: SECRET })
  // Where the event's output is downloaded from (an Adobe storage URL in production).
  const downloads: { traceparent: string | undefined }[] = []
  const files = await httpServer(t, (req, res) => {
    downloads.push({ traceparent: req.headers.traceparent as string | undefined })
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end('jpeg bytes')
  })
  const dir = await mkdtemp(join(tmpdir(), 'aeg-tracing-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'gateway.config.json')
  await writeFile(configFile, JSON.stringify({
    sources: [{ name: 'lightroom', kind: 'adobe-io-events', clientId: 'lightroom-client' }],
    destinations: [{ name: 'orders', url: `${dest.url}/hooks/orders?token=path-secret`, secret: '${FORWARD_SECRET}' }],
    outputs: { dir: join(dir, 'outputs'), allowHosts: ['127.0.0.1'], allowHttp: true }
  }))
  const env = {
    ...roleEnv({ prefix, configFile, keysUrl: keys.url }),
    FORWARD_SECRET: SECRET,
    NODE_OPTIONS: await otelModuleProbe(dir),
    ...extraEnv
  }
  const gateway = spawnRole(t, 'src/bin/gateway.ts', env)
  const worker = spawnRole(t, 'src/bin/worker.ts', env)
  const port = await listeningPort(gateway, 'gateway')
  await worker.waitForLog(workersReady)
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200)
  return { gateway, worker, port, dest, files: { url: files.url, downloads } }
}

/** Sends one signed Lightroom event with one output to download from `filesUrl`, and waits for its forward. */
async function sendOneEvent (t: Test, port: number, dest: Destination, filesUrl: string, eventId: string) {
  const event = fixture('adobe-io-events/lightroom-job-status.json')
  event.event_id = eventId
  event.event.body.jobId = `job-${eventId}`
  event.event.body.outputs = [{ input: 'input.dng', status: 'succeeded', _links: { self: [{ href: `${filesUrl}/rendition.jpg?sig=presigned` }] } }]
  delete event.event.body._links
  event.recipient_client_id = 'lightroom-client'
  const body = JSON.stringify(event)
  const res = await fetch(`http://127.0.0.1:${port}/webhooks/lightroom`, { method: 'POST', headers: adobeSignedHeaders(body), body })
  t.equal(res.status, 200, 'event acknowledged')
  await dest.arrivals.reach(1)
  t.ok(dest.received[0]!.signed, 'the forward is signed')
  return dest.received[0]!
}

t.test('with an OTLP endpoint: one trace from the webhook request through the queue to the forward, which carries it on', async t => {
  const receiver = await otlpReceiver(t)
  const { gateway, worker, port, dest, files } = await startStack(t, {
    ...exportingTo(receiver),
    WORKER_STALLED_INTERVAL_MS: '200'
  })
  const forward = await sendOneEvent(t, port, dest, files.url, 'traced-1')

  // Every span of the event's path, in one trace: the gateway's request, its enqueue, the worker's jobs and the POST.
  const traceparent = String(forward.headers.traceparent)
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(traceparent)
  t.ok(match, `the forward carries a W3C traceparent (${traceparent})`)
  const [, traceId, parentId] = match ?? []
  const inTrace = await receiver.until(spans => {
    const trace = spans.filter(s => s.traceId === traceId)
    const has = (service: string, name: (n: string) => boolean) => trace.some(s => s.service === service && name(s.name))
    const complete = has('aeg-gateway', n => n === 'POST /webhooks/:source') &&
      has('aeg-gateway', n => n === 'add events.lightroom') &&
      has('aeg-worker', n => n === 'process events') &&
      has('aeg-worker', n => n === 'POST') &&
      has('aeg-worker', n => n === 'process outputs') &&
      has('aeg-worker', n => n === 'download')
    return complete ? trace : undefined
  }, 'the whole trace of the event')

  const request = inTrace.find(s => s.name === 'POST /webhooks/:source')!
  t.equal(request.attributes['http.route'], '/webhooks/:source', 'the request span is the webhook route')
  t.equal(request.parentSpanId, '', 'the webhook request starts the trace')
  t.equal(request.role, 'gateway')
  const post = inTrace.find(s => s.name === 'POST')!
  t.equal(post.spanId, parentId, 'the destination continues from the POST span itself')
  t.equal(post.attributes['http.response.status_code'], 204)
  t.equal(post.attributes['server.port'], dest.port)
  t.notOk(JSON.stringify(post.attributes).includes('path-secret'), 'the span does not record the destination URL\'s path or query')
  t.equal(post.role, 'worker')

  // Parent links hold the path together: each span's parent is in the trace (except the root).
  const ids = new Set(inTrace.map(s => s.spanId))
  t.same(inTrace.filter(s => s.parentSpanId !== '' && !ids.has(s.parentSpanId)).map(s => s.name), [], 'no span of the trace has a parent outside it')
  const byId = new Map(inTrace.map(s => [s.spanId, s]))
  const ancestors = (s: ExportedSpan): string[] => s.parentSpanId === '' ? [] : [byId.get(s.parentSpanId)!.name, ...ancestors(byId.get(s.parentSpanId)!)]
  const postPath = ancestors(post)
  // One destination: the events job makes the POST itself (FORWARD_INLINE), so no forward job is in between.
  t.ok(postPath[0] === 'process events' && postPath.includes('add events.lightroom') && postPath.at(-1) === 'POST /webhooks/:source',
    `the POST descends from the events job, the enqueue and the request (${postPath.join(' < ')})`)

  const download = inTrace.find(s => s.name === 'download')!
  t.equal(download.attributes['aeg.output.outcome'], 'saved', 'the download span records the outcome')
  t.ok(ancestors(download).includes('process outputs') && ancestors(download).includes('process events'), `the download descends from the outputs job and the events job (${ancestors(download).join(' < ')})`)
  t.same(files.downloads.map(d => d.traceparent), [undefined], 'the download request to the storage host carries no traceparent')

  t.ok(loadedOtelSdk(gateway).some(url => url.includes('@opentelemetry/sdk-trace')), 'the probe sees the SDK loaded when tracing is on')

  t.equal(await gateway.stop(), 0)
  t.equal(await worker.stop(), 0)
  // Stopping flushed every span; the worker ran its stalled-job checks every 200 ms since it started, and none is a trace of its own.
  t.same(receiver.spans.filter(s => s.parentSpanId === '' && s.name.startsWith('moveStalledJobsToWait')).map(s => s.name), [], 'no root span for a stalled-job check')
})

t.test('through a forward job (FORWARD_INLINE=off), with OTEL_SERVICE_NAME: the job and its POST in the event\'s trace, the roles told apart by aeg.role', async t => {
  const receiver = await otlpReceiver(t)
  const { gateway, worker, port, dest, files } = await startStack(t, {
    ...exportingTo(receiver),
    OTEL_SERVICE_NAME: 'acme-adobe-events',
    FORWARD_INLINE: 'off'
  })
  const forward = await sendOneEvent(t, port, dest, files.url, 'traced-forward-job')
  const [, traceId, parentId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(forward.headers.traceparent)) ?? []
  t.ok(traceId, `the forward carries a W3C traceparent (${String(forward.headers.traceparent)})`)
  const trace = await receiver.until(spans => {
    const trace = spans.filter(s => s.traceId === traceId)
    const names = new Set(trace.map(s => s.name))
    return ['POST /webhooks/:source', 'process events', 'process forward', 'POST'].every(n => names.has(n)) ? trace : undefined
  }, 'the trace through the forward job')
  const byId = new Map(trace.map(s => [s.spanId, s]))
  const ancestors = (s: ExportedSpan): string[] => s.parentSpanId === '' ? [] : [byId.get(s.parentSpanId)!.name, ...ancestors(byId.get(s.parentSpanId)!)]
  const post = trace.find(s => s.name === 'POST')!
  t.equal(post.spanId, parentId, 'the destination continues from the forward job\'s POST span')
  const path = ancestors(post)
  t.ok(path[0] === 'process forward' && path.includes('process events') && path.at(-1) === 'POST /webhooks/:source',
    `the POST descends from the forward job, the events job and the request (${path.join(' < ')})`)
  t.same([...new Set(trace.map(s => s.service))], ['acme-adobe-events'], 'service.name is OTEL_SERVICE_NAME in both processes')
  t.same([...new Set(trace.map(s => s.role))].sort(), ['gateway', 'worker'], 'aeg.role tells the processes apart')
  t.equal(await gateway.stop(), 0)
  t.equal(await worker.stop(), 0)
})

t.test('without an OTLP endpoint: no OpenTelemetry SDK is loaded and the forward carries no traceparent', async t => {
  const { gateway, worker, port, dest, files } = await startStack(t, {})
  const forward = await sendOneEvent(t, port, dest, files.url, 'untraced-1')
  t.equal(forward.headers.traceparent, undefined, 'no traceparent')
  t.equal(await gateway.stop(), 0)
  t.equal(await worker.stop(), 0)
  t.same(loadedOtelSdk(gateway), [], 'the gateway loaded no OpenTelemetry SDK, exporter or instrumentation')
  t.same(loadedOtelSdk(worker), [], 'the worker loaded no OpenTelemetry SDK, exporter or instrumentation')
})

t.test('OTEL_SDK_DISABLED=true wins over an endpoint: nothing exported, even at the shutdown flush', async t => {
  const receiver = await otlpReceiver(t)
  const { gateway, worker, port, dest, files } = await startStack(t, {
    OTEL_SDK_DISABLED: 'true',
    ...exportingTo(receiver)
  })
  const forward = await sendOneEvent(t, port, dest, files.url, 'disabled-1')
  t.equal(forward.headers.traceparent, undefined, 'no traceparent')
  // Had tracing been on, stopping would have flushed every span to the receiver.
  t.equal(await gateway.stop(), 0)
  t.equal(await worker.stop(), 0)
  t.same(receiver.requests, [], 'the receiver got no request')
  t.same(loadedOtelSdk(worker), [], 'the worker loaded no OpenTelemetry SDK, exporter or instrumentation')
})

t.test('journal reader (in this process): a span per page request, whose events\' jobs carry its trace', async t => {
  const receiver = await otlpReceiver(t)
  // The exporter reads its endpoint and the batch delay from process.env.
  const saved = { ...process.env }
  Object.assign(process.env, exportingTo(receiver))
  t.teardown(() => {
    for (const name of Object.keys(exportingTo(receiver))) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  })
  const stopTracing = (await startTracing('worker', pino({ level: 'silent' })))!
  t.teardown(stopTracing)

  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const fake = await fakeJournal(t, { pageSize: 2, retryAfterSeconds: null })
  for (const id of ['j-1', 'j-2']) fake.publish(lightroomEvent(id))
  const config = journalConfig(fake, prefix, 'oldest')
  const queue = eventsQueue(t, prefix)
  // Built after tracing started, so its EventQueue (the edge's) traces the enqueue.
  startReaders(t, config)
  await statusWhen(config, redis, s => s.queued === 2)

  const [page, add] = await receiver.until(spans => {
    const add = spans.find(s => s.name === `add events.${SOURCE}`)
    const page = add && spans.find(s => s.name === 'journal page' && s.spanId === add.parentSpanId)
    return page && add ? [page, add] as const : undefined
  }, 'a journal page span with an enqueue under it')
  t.equal(page.attributes['aeg.source'], SOURCE)
  t.equal(page.role, 'worker')
  t.equal(add.traceId, page.traceId)
  const jobs = await queue.queue.getJobs(['waiting'], 0, -1, true)
  t.equal(jobs.length, 2)
  for (const job of jobs) {
    const metadata = JSON.parse(job.opts.telemetry?.metadata ?? '{}') as { traceparent?: string }
    t.match(metadata.traceparent, new RegExp(`^00-${page.traceId}-${add.spanId}-01$`), `job ${job.id} carries the enqueue span's context (BullMQ's opts.telemetry.metadata)`)
  }
})
