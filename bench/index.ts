/**
 * `npm run bench`: everything on this machine, one table, all rows from one run.
 *
 *   1 bare Fastify POST route (the ceiling)
 *   2 naive edge (bench/baselines/naive-edge.ts)
 *   3 gateway edge, RSA-signed single events
 *   4 gateway edge, RSA-signed batches of 20 (events/s)
 *   5 end to end: POST → queue → workers → forwarded (signed) to a local
 *     destination, open loop at 1,000 events/s; retained Redis bytes after the drain
 *   5b the same with output downloads on (the outputs job's cost, on its own line)
 *   6 the naive pipeline (naive edge + naive BullMQ worker), same rate
 *   7 e2e capacity: the gateway and its workers, closed loop
 *
 * Each server under test runs in its own child process; autocannon, the key
 * server and the destination run here. Every row writes under its own private
 * QUEUE_PREFIX, deleted at the end. Not a test: it asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { openSync, mkdtempSync, writeFileSync, rmSync, mkdirSync, readFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { jobIdFor } from '../src/queues.ts'
import { DESTINATION_SECRET, destinationServer, keyServer, signingKeys } from './peers.ts'
import { signedDeliveries, type SignedDelivery } from './signing.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
/** Autocannon runs whole seconds. */
const ROUND_SECONDS = Math.max(1, Math.round(SECONDS / ROUNDS))
/**
 * Row 5's most requests in flight (kept-alive connections). As many as rows
 * 1–4: 10 capped what could be offered once latency grew past a few ms.
 */
const E2E_CONNECTIONS = Number(process.env.BENCH_E2E_CONNECTIONS ?? CONNECTIONS)
/** Signed bodies are prepared up front (RSA signing is the slow part); a row stops early if it runs out. */
const SINGLES = Number(process.env.BENCH_SINGLES ?? 120_000)
const BATCHES = Number(process.env.BENCH_BATCHES ?? 12_000)
const BATCH_SIZE = 20
/** Rows 5, 5b and 6: the fixed open-loop rate of the goals. */
const E2E_RATE = Number(process.env.BENCH_E2E_RATE ?? 1000)
/** Longest wait after the load for the accepted events to be forwarded (rows 5–7). */
const DRAIN_SECONDS = Number(process.env.BENCH_DRAIN_SECONDS ?? 60)
/** Row 7: events sent closed loop to measure the e2e capacity. */
const CAPACITY_EVENTS = Number(process.env.BENCH_CAPACITY_EVENTS ?? 15_000)
/** BENCH_ROWS=1,3 runs only those rows (while working on one); all by default. */
const ROWS = new Set((process.env.BENCH_ROWS ?? '1,2,3,4,5,5b,6,7').split(',').map(r => r.trim()))
const runs = (row: string) => ROWS.has(row)
/**
 * BENCH_COMPARE=<checkout> adds row 3b: the gateway of another checkout of this
 * repository (e.g. `git worktree add /tmp/before HEAD~1`), interleaved with row
 * 3 round by round, so an optimization is measured against its "before" under
 * the same background load.
 */
const COMPARE_ENV: Record<string, string> = Object.fromEntries((process.env.BENCH_COMPARE_ENV ?? '').split(/\s+/).filter(Boolean).map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
/** BENCH_COMPARE_ENV="LOG_LEVEL=warn …" alone compares this checkout with itself under those settings. */
const COMPARE_DIR = process.env.BENCH_COMPARE ?? (process.env.BENCH_COMPARE_ENV ? ROOT : undefined)
/** BENCH_PROFILE=<dir> writes a CPU profile of each child process there. */
const PROFILE_DIR = process.env.BENCH_PROFILE
const SOURCE = 'adobe'
const PATH = `/webhooks/${SOURCE}`

const runId = randomBytes(4).toString('hex')
const prefixOf = (row: string) => `{aegb-${runId}-${row}}`
const out: string[] = []
const say = (line = '') => { out.push(line); process.stdout.write(line + '\n') }
const children = new Set<ChildProcess>()

// ---------------------------------------------------------------- processes

interface Child { port: number, pid: number, close (): Promise<void> }

/** User + system CPU time of a process so far, in ms (Linux /proc; 0 elsewhere). */
function cpuMs (pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 Hz).
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

const devNull = openSync('/dev/null', 'w')

/** Starts `node <file>` with `env`, resolves once it reported ready over IPC. */
async function startChild (file: string, env: Record<string, string>): Promise<Child> {
  const profile = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []
  const child = spawn(process.execPath, [...profile, isAbsolute(file) ? file : join(ROOT, file)], {
    cwd: isAbsolute(file) ? dirname(dirname(dirname(file))) : ROOT,
    env: { ...process.env, ...env },
    // Logs go to /dev/null: their cost (serialization, write) stays in the measurement.
    stdio: ['ignore', devNull, 'inherit', 'ipc']
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { ready?: boolean, port?: number }) => m.ready ? resolve(m.port ?? 0) : reject(new Error(`${file}: unexpected message`)))
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)))
  })
  return {
    port,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
}

function killAll () {
  for (const c of children) c.kill('SIGKILL')
}
process.once('SIGINT', () => { killAll(); process.exit(130) })
process.once('SIGTERM', () => { killAll(); process.exit(143) })

// ---------------------------------------------------------------- load

interface LoadResult {
  seconds: number
  ok: number
  errors: number
  statusCodes: Record<string, number>
  latencies: number[]
  raw: autocannon.Result | undefined
}

interface LoadOptions {
  port: number
  seconds: number
  connections: number
  /** Each request takes the next delivery (unique event ids); the run stops when they are used up. */
  pool?: { deliveries: SignedDelivery[], next: number, cycle?: boolean }
  overallRate?: number
  onSend?: (delivery: SignedDelivery) => void
}

async function load (opts: LoadOptions): Promise<LoadResult> {
  const { pool } = opts
  const remaining = pool && !pool.cycle ? pool.deliveries.length - pool.next : Infinity
  if (remaining < opts.connections) throw new Error('out of signed bodies: raise BENCH_SINGLES / BENCH_BATCHES')
  const latencies: number[] = []
  let finish!: (err: unknown, result: autocannon.Result) => void
  const done = new Promise<autocannon.Result>((resolve, reject) => { finish = (err, result) => err ? reject(err) : resolve(result) })
  const instance = autocannon({
    url: `http://127.0.0.1:${opts.port}`,
    connections: opts.connections,
    duration: opts.seconds,
    ...(remaining !== Infinity ? { maxOverallRequests: remaining } : {}),
    ...(opts.overallRate ? { overallRate: opts.overallRate, ignoreCoordinatedOmission: true } : {}),
    timeout: 10,
    requests: [{
      method: 'POST',
      path: PATH,
      ...(pool
        ? {
            setupRequest: (req: autocannon.Request) => {
              // Cycling is for the bare route (it keeps nothing); otherwise past the
              // end (only in-flight stragglers) the last one is resent.
              const i = pool.next++
              const delivery = pool.deliveries[pool.cycle ? i % pool.deliveries.length : Math.min(i, pool.deliveries.length - 1)]!
              opts.onSend?.(delivery)
              return { ...req, body: delivery.body, headers: delivery.headers }
            }
          }
        : {})
    }]
  }, (err, result) => finish(err, result))
  // Autocannon's own histogram has 1 ms resolution; keep exact ones for the table.
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
  })
  const raw = await done
  const statusCodes = Object.fromEntries(Object.entries(raw.statusCodeStats ?? {}).map(([code, s]) => [code, (s as { count: number }).count]))
  return {
    seconds: raw.duration,
    ok: raw['2xx'],
    errors: raw.non2xx + raw.errors + raw.timeouts,
    statusCodes,
    latencies,
    raw
  }
}

interface PacedOptions {
  port: number
  seconds: number
  /** Requests per second, sent evenly spaced (open loop). */
  rate: number
  /** Most requests in flight (kept-alive connections); more wait for one, their wait counted. */
  connections: number
  pool: { deliveries: SignedDelivery[], next: number }
  onSend: (delivery: SignedDelivery, scheduledAt: number) => void
}

/**
 * Open-loop load at an even rate, for row 5. Autocannon's `overallRate` lets
 * every connection send its whole per-second quota back to back at the start
 * of each second and then idle: at half the edge's capacity that is half a
 * second of full-speed load per second, so the ack latencies it reports are
 * those of a saturated edge. Here request i is due at start + i/rate, and its
 * latency is counted from that due time (a request that waits for a free
 * connection has the wait in its latency: no coordinated omission).
 */
async function pacedLoad (o: PacedOptions): Promise<LoadResult> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: o.connections })
  const latencies: number[] = []
  const statusCodes: Record<string, number> = {}
  let ok = 0
  let errors = 0
  const total = Math.min(Math.round(o.rate * o.seconds), o.pool.deliveries.length - o.pool.next)
  const start = performance.now()
  const inFlight = new Set<Promise<void>>()
  const send = (due: number) => {
    const delivery = o.pool.deliveries[o.pool.next++]!
    o.onSend(delivery, due)
    const done = new Promise<void>(resolve => {
      const req = httpRequest({ host: '127.0.0.1', port: o.port, path: PATH, method: 'POST', agent, headers: { ...delivery.headers, 'content-length': delivery.body.byteLength } }, res => {
        res.resume()
        res.once('end', () => {
          const status = res.statusCode ?? 0
          statusCodes[status] = (statusCodes[status] ?? 0) + 1
          if (status >= 200 && status < 300) {
            ok++
            latencies.push(performance.now() - due)
          } else {
            errors++
          }
          resolve()
        })
      })
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
      req.once('error', () => { errors++; resolve() })
      req.end(delivery.body)
    })
    inFlight.add(done)
    void done.then(() => inFlight.delete(done))
  }
  let sent = 0
  while (sent < total) {
    const now = performance.now()
    const due = Math.min(total, Math.floor((now - start) / 1000 * o.rate) + 1)
    for (; sent < due; sent++) send(start + sent / o.rate * 1000)
    // A 1 ms timer: the due requests of each millisecond go out together.
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  await Promise.all(inFlight)
  agent.destroy()
  return { seconds: (performance.now() - start) / 1000, ok, errors, statusCodes, latencies, raw: undefined }
}

// ---------------------------------------------------------------- figures

function percentile (sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

function latencyFigures (values: number[]) {
  const sorted = Float64Array.from(values).sort()
  const arr = Array.from(sorted)
  return { p50: percentile(arr, 50), p99: percentile(arr, 99), max: arr.at(-1) }
}

const ms = (v: number | undefined) => v === undefined ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1)

interface Row {
  name: string
  rate: number | undefined
  unit: string
  ack: ReturnType<typeof latencyFigures> | undefined
  e2e: ReturnType<typeof latencyFigures> | undefined
  errors: number | undefined
  bytesPerEvent: number | undefined
  note?: string
}

/**
 * Redis bytes per retained event, from MEMORY USAGE of a sample of what one
 * accepted event leaves behind: its job hash, its dedup key (gateway only)
 * and its share of the wait list.
 */
async function bytesPerEvent (redis: Redis, prefix: string, jobIds: string[], withDedup: boolean): Promise<number | undefined> {
  const sample = jobIds.slice(0, 200)
  if (sample.length === 0) return undefined
  const usage = async (key: string) => Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') ?? 0)
  let sum = 0
  let found = 0
  for (const id of sample) {
    const job = await usage(`${prefix}:events:${id}`)
    if (job === 0) continue
    found++
    sum += job
    if (withDedup) sum += await usage(`${prefix}:events:de:${id}`)
  }
  if (found === 0) return undefined
  const waitLen = await redis.llen(`${prefix}:events:wait`)
  const waitShare = waitLen > 0 ? await usage(`${prefix}:events:wait`) / waitLen : 0
  return sum / found + waitShare
}

/** Redis server CPU (user + sys) so far, in ms; counts every client of this Redis. */
async function redisCpuMs (redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000
}

async function usedMemory (redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)
}

async function deletePrefix (redis: Redis, pattern: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) deleted += await redis.del(...keys)
  } while (cursor !== '0')
  return deleted
}

// ---------------------------------------------------------------- rows

async function main () {
  const started = Date.now()
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const tmp = mkdtempSync(join(tmpdir(), 'aeg-bench-'))
  const keys = signingKeys()
  const keyHost = await keyServer(keys)
  const destination = await destinationServer()
  const rows: Row[] = []
  const notes: string[] = []
  const lines: { edge?: string, e2e?: string, p99?: number, outputs?: string, capacity?: number } = {}
  let retainedBytes: number | undefined
  let naiveRetained: number | undefined

  const redisInfo = await redis.info('server')
  const redisVersion = /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? '?'
  say(`# aeg bench ${new Date().toISOString()}`)
  say(`# machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, Redis ${redisVersion} at ${REDIS_URL}`)
  // Other work on the machine takes cores from every row; the ratios hold up better than the absolute rates.
  say(`# load average at start (1/5/15 min): ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
  say(`# rows 1–4: ${ROUND_SECONDS * ROUNDS} s each in ${ROUNDS} interleaved rounds after ${WARMUP_SECONDS} s warm-up, ${CONNECTIONS} connections; row 5: ${SECONDS} s, ${E2E_CONNECTIONS} connections; run ${runId}`)

  const t = Date.now()
  const singles = await signedDeliveries(keys, { count: SINGLES, perDelivery: 1, runId, sourceName: SOURCE, outputsUrl: `${destination.url}/outputs` })
  const batches = runs('4') ? await signedDeliveries(keys, { count: BATCHES, perDelivery: BATCH_SIZE, runId, sourceName: SOURCE }) : []
  say(`# signed ${SINGLES} single and ${BATCHES} batch bodies in ${((Date.now() - t) / 1000).toFixed(1)} s`)

  const gatewayConfig = join(tmp, 'gateway.config.json')
  writeFileSync(gatewayConfig, JSON.stringify({
    sources: [{ name: SOURCE, kind: 'adobe-io-events' }],
    destinations: [{ name: 'bench-destination', url: `${destination.url}/adobe-jobs`, secret: 'bench-forward-secret' }],
    outputs: { dir: join(tmp, 'outputs') }
  }))
  mkdirSync(join(tmp, 'outputs'))
  const gatewayEnv = (row: string): Record<string, string> => ({
    REDIS_URL,
    QUEUE_PREFIX: prefixOf(row),
    ADOBE_PUBLIC_KEY_BASE_URL: keyHost.url,
    GATEWAY_CONFIG: gatewayConfig,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    ADMIN_AUTH: 'off'
  })

  // Rows 1–4 run interleaved: every server is up for the whole phase and each
  // gets ROUNDS turns of SECONDS/ROUNDS, so a burst of background load on this
  // machine hits all of them alike and the ratios stay comparable.
  interface Measured {
    key: string
    name: string
    unit: string
    perRequest: number
    server: Child
    pool: NonNullable<LoadOptions['pool']>
    prefix?: string
    jobIdOf?: (envelopeId: string) => string
    total: { ok: number, seconds: number, errors: number, latencies: number[], statusCodes: Record<string, number>, cpuMs: number, loadCpuMs: number, redisCpuMs: number, firstMeasured: number }
  }
  const measured: Measured[] = []
  const add = async (key: string, name: string, file: string, env: Record<string, string>, extra: Partial<Measured> & Pick<Measured, 'pool'>) => {
    if (!runs(key)) return
    const server = await startChild(file, env)
    measured.push({ key, name, unit: 'req/s', perRequest: 1, server, ...extra, total: { ok: 0, seconds: 0, errors: 0, latencies: [], statusCodes: {}, cpuMs: 0, loadCpuMs: 0, redisCpuMs: 0, firstMeasured: 0 } })
  }

  try {
    // 1 — bare Fastify, sent the very same signed requests (so the load
    // generator does the same work per request in every row)
    await add('1', '1 bare Fastify POST → 200', 'bench/servers/bare.ts', {}, { pool: { deliveries: singles, next: 0, cycle: true } })
    // 2 — the naive edge
    await add('2', '2 naive edge (RSA + queue.add)', 'bench/baselines/naive-edge.ts',
      { REDIS_URL, QUEUE_PREFIX: prefixOf('r2'), ADOBE_PUBLIC_KEY_BASE_URL: keyHost.url },
      { pool: { deliveries: singles, next: 0 }, prefix: prefixOf('r2'), jobIdOf: id => id.slice(SOURCE.length + 1) })
    // 3 — the gateway, single events (each its own event id)
    await add('3', '3 gateway, RSA, single events', 'bench/servers/gateway.ts', gatewayEnv('r3'),
      { pool: { deliveries: singles, next: 0 }, prefix: prefixOf('r3'), jobIdOf: id => jobIdFor(id) })
    if (COMPARE_DIR !== undefined && runs('3')) {
      await add('3', `3b gateway of ${COMPARE_DIR} ${process.env.BENCH_COMPARE_ENV ?? ''}`.trim(), join(COMPARE_DIR, 'bench/servers/gateway.ts'), { ...gatewayEnv('r3b'), ...COMPARE_ENV },
        { key: '3b', pool: { deliveries: singles, next: 0 }, prefix: prefixOf('r3b'), jobIdOf: id => jobIdFor(id) })
    }
    // 4 — the gateway, batches of 20
    await add('4', `4 gateway, RSA, batches of ${BATCH_SIZE}`, 'bench/servers/gateway.ts', gatewayEnv('r4'),
      { pool: { deliveries: batches, next: 0 }, prefix: prefixOf('r4'), jobIdOf: id => jobIdFor(id), unit: 'events/s', perRequest: BATCH_SIZE })

    for (const m of measured) {
      if (WARMUP_SECONDS > 0) await load({ port: m.server.port, seconds: WARMUP_SECONDS, connections: CONNECTIONS, pool: m.pool })
      m.total.firstMeasured = m.pool.next
    }
    const mem0 = await usedMemory(redis)
    for (let round = 0; round < ROUNDS; round++) {
      for (const m of measured) {
        if (!m.pool.cycle && m.pool.deliveries.length - m.pool.next < CONNECTIONS) continue
        const cpu0 = cpuMs(m.server.pid)
        const own0 = process.cpuUsage()
        const redis0 = await redisCpuMs(redis)
        const r = await load({ port: m.server.port, seconds: ROUND_SECONDS, connections: CONNECTIONS, pool: m.pool })
        m.total.cpuMs += cpuMs(m.server.pid) - cpu0
        const own = process.cpuUsage(own0)
        m.total.loadCpuMs += (own.user + own.system) / 1000
        m.total.redisCpuMs += await redisCpuMs(redis) - redis0
        m.total.ok += r.ok
        m.total.seconds += r.seconds
        m.total.errors += r.errors
        for (const v of r.latencies) m.total.latencies.push(v)
        for (const [code, n] of Object.entries(r.statusCodes)) m.total.statusCodes[code] = (m.total.statusCodes[code] ?? 0) + n
      }
    }
    const memDelta = await usedMemory(redis) - mem0
    let queued = 0
    for (const m of measured) {
      const t = m.total
      const sent = m.pool.cycle ? [] : m.pool.deliveries.slice(t.firstMeasured, m.pool.next)
      const bytes = m.prefix && m.jobIdOf ? await bytesPerEvent(redis, m.prefix, sent.flatMap(d => d.eventIds).map(m.jobIdOf), m.key !== '2') : undefined
      if (m.prefix) queued += t.ok * m.perRequest
      const perReq = (cpu: number) => (cpu * 1000 / Math.max(1, t.ok)).toFixed(0)
      rows.push({ name: m.name, rate: t.ok * m.perRequest / t.seconds, unit: m.unit, ack: latencyFigures(t.latencies), e2e: undefined, errors: t.errors, bytesPerEvent: bytes })
      notes.push(`row ${m.key}: ${t.ok} requests ok in ${t.seconds.toFixed(1)} s, status ${JSON.stringify(t.statusCodes)}, CPU µs/request: server ${perReq(t.cpuMs)}, Redis ${perReq(t.redisCpuMs)}, load generator ${perReq(t.loadCpuMs)}` +
        (!m.pool.cycle && m.pool.next >= m.pool.deliveries.length ? ' (ran out of signed bodies: raise BENCH_SINGLES / BENCH_BATCHES)' : ''))
    }
    if (queued > 0) notes.push(`rows 2–4: Redis used_memory grew ${(memDelta / 1048576).toFixed(1)} MiB for ${queued} queued events (${(memDelta / queued).toFixed(0)} B/event, includes other clients of this Redis)`)
    for (const m of measured) await m.server.close()

    const edgeCpu = (key: string) => {
      const m = measured.find(x => x.key === key)
      return m && m.total.ok > 0 ? (m.total.cpuMs + m.total.redisCpuMs) * 1000 / (m.total.ok * m.perRequest) : undefined
    }
    lines.edge = ratioOf(edgeCpu('3'), edgeCpu('2'))
    if (edgeCpu('3') !== undefined && edgeCpu('2') !== undefined) notes.push(`edge CPU µs/event (server + Redis): gateway ${edgeCpu('3')!.toFixed(0)}, naive ${edgeCpu('2')!.toFixed(0)}`)

    // 5–7 — end to end, each event forwarded to the local destination, signed.
    const e2ePool = { deliveries: singles, next: 0 }
    const workersConfig = (outputs: boolean) => {
      const file = join(tmp, `workers-${outputs ? 'outputs' : 'plain'}.config.json`)
      writeFileSync(file, JSON.stringify({
        sources: [{ name: SOURCE, kind: 'adobe-io-events' }],
        destinations: [{ name: 'bench-destination', url: `${destination.url}/adobe-jobs`, secret: DESTINATION_SECRET }],
        outputs: outputs ? { dir: join(tmp, 'outputs'), allowHosts: [`127.0.0.1:${destination.port}`], allowHttp: true } : { dir: join(tmp, 'outputs') }
      }))
      return file
    }
    const gatewayPipeline = (row: string, outputs: boolean): PipelineProcess[] => {
      const env = { ...gatewayEnv(row), GATEWAY_CONFIG: workersConfig(outputs) }
      return [{ label: 'gateway', file: 'bench/servers/gateway.ts', env }, { label: 'workers', file: 'bench/servers/workers.ts', env }]
    }
    const forwardIdOfGateway = (id: string) => id
    let gatewayE2e: PipelineResult | undefined
    let naiveE2e: PipelineResult | undefined
    if (runs('5')) {
      gatewayE2e = await pipeline({
        name: `5 end to end at ${E2E_RATE} events/s`,
        processes: gatewayPipeline('r5', false),
        rate: E2E_RATE,
        pool: e2ePool,
        destination,
        forwardIdOf: forwardIdOfGateway,
        redis,
        notes,
        after: async forwarded => { retainedBytes = await retention(redis, prefixOf('r5'), forwarded, notes, 'row 5') }
      })
      rows.push({ ...gatewayE2e.row, bytesPerEvent: retainedBytes })
      lines.p99 = gatewayE2e.row.e2e?.p99
    }
    if (runs('6')) {
      const env = { REDIS_URL, QUEUE_PREFIX: prefixOf('r6'), ADOBE_PUBLIC_KEY_BASE_URL: keyHost.url, NAIVE_DESTINATION_URL: `${destination.url}/naive`, NAIVE_DESTINATION_SECRET: DESTINATION_SECRET }
      naiveE2e = await pipeline({
        name: `6 naive pipeline at ${E2E_RATE} events/s`,
        processes: [{ label: 'naive edge', file: 'bench/baselines/naive-edge.ts', env }, { label: 'naive worker', file: 'bench/baselines/naive-worker.ts', env }],
        rate: E2E_RATE,
        pool: e2ePool,
        destination,
        forwardIdOf: id => id.slice(SOURCE.length + 1),
        redis,
        notes,
        after: async forwarded => { naiveRetained = await retention(redis, prefixOf('r6'), forwarded, notes, 'row 6') }
      })
      rows.push({ ...naiveE2e.row, bytesPerEvent: naiveRetained })
    }
    if (gatewayE2e && naiveE2e) {
      const total = (r: PipelineResult) => Object.values(r.cpu).reduce((a, b) => a + b, 0)
      lines.e2e = ratioOf(total(gatewayE2e), total(naiveE2e))
      if (gatewayE2e.lost + naiveE2e.lost > 0) lines.e2e += ` (not every event was forwarded within ${DRAIN_SECONDS} s: CPU per event is not comparable)`
    }
    if (runs('5') && runs('5b')) {
      const withOutputs = await pipeline({ name: `5b end to end with output downloads at ${E2E_RATE} events/s`, processes: gatewayPipeline('r5b', true), rate: E2E_RATE, pool: e2ePool, destination, forwardIdOf: forwardIdOfGateway, redis, notes })
      const cost = (k: string) => ((withOutputs.cpu[k] ?? 0) - (gatewayE2e!.cpu[k] ?? 0)).toFixed(0)
      lines.outputs = (withOutputs.lost > 0 ? `(${withOutputs.lost} events not forwarded within ${DRAIN_SECONDS} s) ` : '') + `outputs job (one 2-byte download per event, over row 5): workers ${cost('workers')} µs/event, Redis ${cost('Redis')} µs/event`
    }
    if (runs('7')) {
      const capacity = await pipeline({ name: `7 e2e capacity (closed loop, ${CAPACITY_EVENTS} events)`, processes: gatewayPipeline('r7', false), closedEvents: CAPACITY_EVENTS, pool: e2ePool, destination, forwardIdOf: forwardIdOfGateway, redis, notes })
      rows.push(capacity.row)
      lines.capacity = capacity.forwardsPerSecond
    }
    if (destination.badSignatures > 0) notes.push(`destination: ${destination.badSignatures} forwards with a signature that did not verify`)
  } finally {
    killAll()
    await keyHost.close()
    await destination.close()
    const deleted = await deletePrefix(redis, `{aegb-${runId}-*`)
    await redis.quit()
    rmSync(tmp, { recursive: true, force: true })
    notes.push(`cleanup: ${deleted} Redis keys under {aegb-${runId}-*} deleted, child processes stopped`)
  }

  printTable(rows)
  say(`ratio edge CPU/event gateway/naive: ${lines.edge ?? 'n/a'}`)
  say(`ratio e2e CPU/event gateway/naive: ${lines.e2e ?? 'n/a'}`)
  say(`e2e p99 at ${E2E_RATE} events/s: ${lines.p99 === undefined ? 'n/a' : lines.p99.toFixed(0)} ms`)
  say(`e2e capacity: ${lines.capacity === undefined ? 'n/a' : lines.capacity.toFixed(0)} forwards/s (closed loop)`)
  say(lines.outputs ?? 'outputs job: n/a (rows 5 and 5b)')
  say()
  for (const n of notes) say(`# ${n}`)
  say(`# load average at end (1/5/15 min): ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
  say(`# total ${((Date.now() - started) / 1000).toFixed(0)} s`)

  const dir = join(ROOT, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'latest.txt'), out.join('\n') + '\n')
}

interface PipelineProcess { label: string, file: string, env: Record<string, string> }

interface PipelineOptions {
  name: string
  processes: PipelineProcess[]
  /** Open loop at this many events/s for SECONDS; without it, closed loop (autocannon) over `closedEvents` events. */
  rate?: number
  closedEvents?: number
  pool: { deliveries: SignedDelivery[], next: number }
  destination: Awaited<ReturnType<typeof destinationServer>>
  /** The `webhook-id` the pipeline forwards an event under. */
  forwardIdOf: (envelopeId: string) => string
  redis: Redis
  notes: string[]
  /** Runs after the drain, before the processes stop (retention). */
  after?: (forwarded: number) => Promise<void>
}

interface PipelineResult {
  row: Row
  /** Accepted events not forwarded within the drain time: then the CPU per event covers unfinished work. */
  lost: number
  /** CPU µs per forwarded event: each process by label, and Redis. */
  cpu: Record<string, number>
  forwardsPerSecond: number
}

/**
 * Runs a pipeline (edge + workers, each a child process) against the local
 * destination: paced (open loop, latency from each request's due time) or
 * closed loop, then waits (bounded) until every accepted event was forwarded.
 * CPU per event: each process and Redis, from the first request to the last forward.
 */
async function pipeline (o: PipelineOptions): Promise<PipelineResult> {
  const started: Child[] = []
  try {
    for (const p of o.processes) started.push(await startChild(p.file, p.env))
  } catch (err) {
    for (const c of started) await c.close()
    o.notes.push(`${o.name} not run: ${(err as Error).message}`)
    return { row: { name: o.name, rate: undefined, unit: 'events/s', ack: undefined, e2e: undefined, errors: undefined, bytesPerEvent: undefined, note: 'not run' }, lost: 0, cpu: {}, forwardsPerSecond: 0 }
  }
  try {
    const sentAt = new Map<string, number>()
    const onSend = (d: SignedDelivery, due: number) => { sentAt.set(o.forwardIdOf(d.eventIds[0]!), due) }
    const cpu0 = started.map(c => cpuMs(c.pid))
    const redis0 = await redisCpuMs(o.redis)
    const t0 = performance.now()
    const r = o.rate !== undefined
      ? await pacedLoad({ port: started[0]!.port, seconds: SECONDS, rate: o.rate, connections: E2E_CONNECTIONS, pool: o.pool, onSend })
      : await load({ port: started[0]!.port, seconds: 120, connections: CONNECTIONS, pool: { deliveries: o.pool.deliveries.slice(o.pool.next, o.pool.next + o.closedEvents!), next: 0 }, onSend: d => onSend(d, performance.now()) })
    if (o.rate === undefined) o.pool.next += o.closedEvents!
    const arrived = () => { let n = 0; for (const id of sentAt.keys()) if (o.destination.arrivals.has(id)) n++; return n }
    const deadline = Date.now() + DRAIN_SECONDS * 1000
    while (arrived() < r.ok && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    const cpu: Record<string, number> = {}
    const forwarded = arrived()
    const perEvent = (ms: number) => ms * 1000 / Math.max(1, forwarded)
    started.forEach((c, i) => { cpu[o.processes[i]!.label] = perEvent(cpuMs(c.pid) - cpu0[i]!) })
    cpu.Redis = perEvent(await redisCpuMs(o.redis) - redis0)
    const e2e: number[] = []
    let last = t0
    for (const [id, at] of sentAt) {
      const arrivedAt = o.destination.arrivals.get(id)
      if (arrivedAt === undefined) continue
      e2e.push(arrivedAt - at)
      if (arrivedAt > last) last = arrivedAt
    }
    const forwardsPerSecond = forwarded / ((last - t0) / 1000)
    const lost = r.ok - forwarded
    const total = Object.values(cpu).reduce((a, b) => a + b, 0)
    o.notes.push(`${o.name}: CPU µs/event from the first request to the last forward: ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; total ${total.toFixed(0)}`)
    o.notes.push(`${o.name}: ${o.rate !== undefined ? `offered ${o.rate} events/s evenly spaced (open loop, at most ${E2E_CONNECTIONS} connections)` : `closed loop, ${CONNECTIONS} connections`}; ${r.ok} ok in ${r.seconds.toFixed(1)} s, status ${JSON.stringify(r.statusCodes)}, ` +
      `${forwarded} forwarded (${forwardsPerSecond.toFixed(0)} forwards/s to the last one)${lost > 0 ? `, ${lost} not forwarded within ${DRAIN_SECONDS} s` : ''}`)
    await o.after?.(forwarded)
    return {
      row: { name: o.name, rate: o.rate !== undefined ? r.ok / SECONDS : forwardsPerSecond, unit: o.rate !== undefined ? 'events/s' : 'forwards/s', ack: latencyFigures(r.latencies), e2e: latencyFigures(e2e), errors: r.errors + Math.max(0, lost), bytesPerEvent: undefined },
      lost: Math.max(0, lost),
      cpu,
      forwardsPerSecond
    }
  } finally {
    for (const c of started) await c.close()
  }
}

/** Waits (bounded) until the gateway's queues have no job left to run, so retention is measured at rest. */
async function settled (redis: Redis, prefix: string): Promise<void> {
  const deadline = Date.now() + 20_000
  const busy = async () => {
    let n = 0
    for (const q of ['events', 'forward', 'outputs']) {
      n += await redis.llen(`${prefix}:${q}:wait`) + await redis.llen(`${prefix}:${q}:active`) + await redis.zcard(`${prefix}:${q}:delayed`)
    }
    return n
  }
  while (await busy() > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
}

/**
 * What Redis keeps once every event was processed: MEMORY USAGE of every key
 * under the row's prefix, by kind, divided by the events processed. Bounded
 * structures (completed jobs kept by count, event streams) are included: on
 * a short run they weigh more per event than on a long one.
 */
async function retention (redis: Redis, prefix: string, processed: number, notes: string[], label: string): Promise<number | undefined> {
  if (processed === 0) return undefined
  await settled(redis, prefix)
  const kinds: Record<string, { keys: number, bytes: number }> = {}
  let total = 0
  let cursor = '0'
  // Braces are not special in SCAN patterns; the prefix matches as written.
  const escaped = prefix
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${escaped}:*`, 'COUNT', 1000)
    cursor = next
    const pipe = redis.pipeline()
    for (const k of keys) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')
    const sizes = keys.length > 0 ? await pipe.exec() : []
    keys.forEach((k, i) => {
      const rest = k.slice(prefix.length + 1)
      const kind = /^job:/.test(rest)
        ? 'job status'
        : /^forwarded:/.test(rest)
          ? 'forward markers'
          : /^[a-z]+:de:/.test(rest)
            ? 'dedup'
            : /^[a-z]+:[A-Za-z0-9_-]{32}(:logs)?$/.test(rest) ? 'job hashes' : 'queue structures'
      const bytes = Number(sizes![i]![1] ?? 0)
      kinds[kind] ??= { keys: 0, bytes: 0 }
      kinds[kind].keys++
      kinds[kind].bytes += bytes
      total += bytes
    })
  } while (cursor !== '0')
  const dedupTtl = await (async () => {
    const [, keys] = await redis.scan('0', 'MATCH', `${escaped}:events:de:*`, 'COUNT', 1000)
    return keys[0] !== undefined ? await redis.pttl(keys[0]) : -2
  })()
  notes.push(`${label} retained after drain, per processed event (${processed}): ${(total / processed).toFixed(0)} B = ` +
    Object.entries(kinds).map(([k, v]) => `${k} ${(v.bytes / processed).toFixed(0)} (${v.keys} keys)`).join(', ') +
    `; dedup TTL ${(dedupTtl / 3_600_000).toFixed(1)} h`)
  return total / processed
}

const ratioOf = (a?: number, b?: number) => a !== undefined && b ? (a / b).toFixed(2) : undefined

function printTable (rows: Row[]) {
  const header = ['row', 'rate', 'ack p50 ms', 'ack p99 ms', 'ack max ms', 'e2e p50 ms', 'e2e p99 ms', 'errors', 'Redis B/event']
  const body = rows.map(r => [
    r.name,
    r.rate === undefined ? (r.note ?? '–') : `${r.rate.toFixed(0)} ${r.unit}`,
    ms(r.ack?.p50), ms(r.ack?.p99), ms(r.ack?.max),
    ms(r.e2e?.p50), ms(r.e2e?.p99),
    r.errors === undefined ? '–' : String(r.errors),
    r.bytesPerEvent === undefined ? '–' : r.bytesPerEvent.toFixed(0)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)))
  const line = (cells: string[]) => '| ' + cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join(' | ') + ' |'
  say()
  say(line(header))
  say('|' + widths.map((w, i) => i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':').join('|') + '|')
  for (const b of body) say(line(b))
  say()
  const rate = (n: string) => rows.find(r => r.name.startsWith(n))?.rate
  const ratio = (a?: number, b?: number) => a !== undefined && b ? (a / b).toFixed(2) : 'n/a'
  say(`ratio gateway/bare: ${ratio(rate('3'), rate('1'))}`)
  say(`ratio gateway/naive: ${ratio(rate('3'), rate('2'))}`)
  say()
}

await main()
