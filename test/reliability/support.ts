import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import type { Test } from 'tap'
import { ADMIN, adobeHmacHeaders, adobeSignedHeaders, destination as helperDestination, eventually, keyServer, lightroomBody, listeningPort, REDIS_URL, type RoleProcess, spawnRole, workersReady } from '../helpers/index.ts'

export const CLIENT_ID = 'reliability-client'
export const CLIENT_SECRET = 'reliability-client-secret'
export const FORWARD_SECRET = 'reliability-forward-secret'

/** The forwarding destination of the stack: every request recorded by `webhook-id`, its signature checked. */
export const destination = (t: Test, opts: { delayMs?: number, holdAt?: number[] } = {}) =>
  helperDestination(t, {
    secret: FORWARD_SECRET,
    record: false,
    // `holdAt`: 1-based ordinals of POSTs never answered (the worker that sent each is to die waiting).
    respond: n => opts.holdAt?.includes(n) === true ? 'hang' : { status: 204, delayMs: opts.delayMs ?? 0 }
  })

/** A Lightroom job-status event (the seed) addressed to our client, without output links. */
export const eventBody = (eventId: string, jobId = `job-${eventId}`): string => lightroomBody(eventId, { jobId, clientId: CLIENT_ID, bare: true })

export type Signing = 'rsa' | 'hmac'
export const signedHeaders = (body: string, signing: Signing): Record<string, string> =>
  signing === 'rsa' ? adobeSignedHeaders(body) : adobeHmacHeaders(body, CLIENT_SECRET)

/** Envelope id the edge derives for an event of the `lightroom` source. */
export const envelopeId = (eventId: string) => `lightroom/${eventId}`

/**
 * POSTs one delivery and resolves with its HTTP status, or the network error
 * code when no answer came (never throws).
 */
export async function deliver (url: string, body: string, headers: Record<string, string>): Promise<string> {
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) })
    await res.arrayBuffer()
    return String(res.status)
  } catch (err) {
    return (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
  }
}

/** Tally of answers by status. */
export class Answers {
  readonly byStatus = new Map<string, number>()
  readonly accepted: string[] = []
  add (eventId: string, status: string) {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1)
    if (status === '200') this.accepted.push(eventId)
  }

  count (status: string) { return this.byStatus.get(status) ?? 0 }
  get total () { return [...this.byStatus.values()].reduce((a, b) => a + b, 0) }
  /** Statuses other than those allowed. */
  others (allowed: string[]) { return [...this.byStatus.keys()].filter(s => !allowed.includes(s)) }
  toString () { return JSON.stringify(Object.fromEntries(this.byStatus)) }
}

export interface Stack {
  env: Record<string, string>
  gateway: RoleProcess
  url: string
  port: number
  workers: RoleProcess[]
  /** Starts one more worker process and waits until it is ready. */
  startWorker (extraEnv?: Record<string, string>): Promise<RoleProcess>
}

/**
 * The product as it runs in production, without Docker: one gateway process
 * and `workers` worker processes from their entry points, a local key server,
 * one source `lightroom` (digital signatures, and the legacy HMAC since the
 * client secret is set) and one destination taking every event.
 */
export async function startStack (t: Test, opts: { prefix: string, redisUrl?: string, destinationUrl: string, workers?: number, env?: Record<string, string>, gatewayEnv?: Record<string, string> }): Promise<Stack> {
  const keys = await keyServer(t)
  const dir = await mkdtemp(join(tmpdir(), 'aeg-reliability-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'gateway.config.json')
  await writeFile(configFile, JSON.stringify({
    sources: [{ name: 'lightroom', kind: 'adobe-io-events', clientId: '${RELIABILITY_CLIENT_ID}', clientSecret: '${RELIABILITY_CLIENT_SECRET}' }],
    destinations: [{ name: 'downstream', url: opts.destinationUrl, secret: '${RELIABILITY_FORWARD_SECRET}' }],
    outputs: { dir: join(dir, 'outputs') }
  }))
  const env = {
    REDIS_URL: opts.redisUrl ?? REDIS_URL,
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    QUEUE_PREFIX: opts.prefix,
    GATEWAY_CONFIG: configFile,
    ADOBE_PUBLIC_KEY_BASE_URL: keys.url,
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    RELIABILITY_CLIENT_ID: CLIENT_ID,
    RELIABILITY_CLIENT_SECRET: CLIENT_SECRET,
    RELIABILITY_FORWARD_SECRET: FORWARD_SECRET,
    JOB_BACKOFF_MS: '100',
    ...opts.env
  }
  const gateway = spawnRole(t, 'src/bin/gateway.ts', { ...env, ...opts.gatewayEnv })
  const workers: RoleProcess[] = []
  const startWorker = async (extraEnv: Record<string, string> = {}) => {
    const worker = spawnRole(t, 'src/bin/worker.ts', { ...env, ...extraEnv })
    workers.push(worker)
    await worker.waitForLog(workersReady, 30_000)
    return worker
  }
  const port = await listeningPort(gateway, 'gateway')
  await Promise.all(Array.from({ length: opts.workers ?? 1 }, () => startWorker()))
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200)
  return { env, gateway, port, url: `http://127.0.0.1:${port}/webhooks/lightroom`, workers, startWorker }
}

/**
 * The live V8 heap of a role process started with `--inspect=127.0.0.1:0`, in
 * bytes: a full collection through its inspector, then `heapUsed`.
 */
export async function heapAfterGc (role: RoleProcess): Promise<number> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(role.stderr())?.[1]
  if (url === undefined) throw new Error('the process has no inspector (start it with --inspect=127.0.0.1:0)')
  const ws = new WebSocket(url)
  try {
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject })
    let next = 0
    const call = (method: string, params: object = {}) => new Promise<Record<string, any>>((resolve, reject) => {
      const id = ++next
      ws.addEventListener('message', function answer (e) {
        const msg = JSON.parse(String(e.data)) as { id?: number, result?: Record<string, any>, error?: unknown }
        if (msg.id !== id) return
        ws.removeEventListener('message', answer)
        if (msg.error !== undefined) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`))
        else resolve(msg.result!)
      })
      ws.send(JSON.stringify({ id, method, params }))
    })
    await call('HeapProfiler.collectGarbage')
    const { result } = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true })
    return Number(result.value)
  } finally {
    ws.close()
  }
}

/** Resident set size of a process in KiB, from /proc (Linux). */
export function rssKiB (pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m === null) throw new Error(`no VmRSS for ${pid}`)
  return Number(m[1])
}

/** CPU time (user + system) a process has used, in seconds, from /proc (Linux). */
export function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export const MiB = (bytes: number) => (bytes / 1048576).toFixed(1)

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
export async function pool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++)
  }))
}

/**
 * What the keys under a prefix hold, by kind (queue keys, dedup keys, job
 * statuses, forward markers): key count and bytes, the bytes estimated from
 * MEMORY USAGE of up to `sample` keys of each kind.
 */
export async function retainedByKind (redis: Redis, prefix: string, sample = 200): Promise<Record<string, { keys: number, bytes: number }>> {
  const kinds = new Map<string, string[]>()
  const counts = new Map<string, number>()
  const kindOf = (key: string) => {
    const rest = key.slice(prefix.length + 1)
    if (/^[a-z]+:de:/.test(rest)) return 'dedup'
    if (rest.startsWith('job:')) return 'job status'
    if (rest.startsWith('forwarded:')) return 'forward marker'
    const queue = /^([a-z]+):[^:]{20,}$/.test(rest)
    return queue ? 'job hashes' : 'queue structures'
  }
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const kind = kindOf(key)
      const some = kinds.get(kind) ?? []
      if (some.length < sample) some.push(key)
      kinds.set(kind, some)
      counts.set(kind, (counts.get(kind) ?? 0) + 1)
    }
  } while (cursor !== '0')
  const result: Record<string, { keys: number, bytes: number }> = {}
  for (const [kind, keys] of kinds) {
    const sizes = await Promise.all(keys.map(k => redis.memory('USAGE', k).then(n => Number(n ?? 0))))
    const avg = sizes.reduce((a, b) => a + b, 0) / sizes.length
    result[kind] = { keys: counts.get(kind)!, bytes: Math.round(avg * counts.get(kind)!) }
  }
  return result
}
