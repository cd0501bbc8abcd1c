import { createHmac, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { signingKeys, type SigningKeys } from './signing.ts'
import { Latch } from './wait.ts'

/**
 * The gateway's peers as local HTTP servers: Adobe's key host and a
 * customer's destination. The plain functions need no tap (the bench and the
 * simulator close their servers themselves); the `(t, …)` ones close at teardown.
 */

/** A local HTTP server and how to stop it. */
export interface LocalServer {
  server: Server
  url: string
  port: number
  close (): Promise<void>
}

/** A request handler that gets the whole body. */
export type BodyHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

/** A real HTTP server (127.0.0.1 and a free port unless told) calling `handler` with the whole body. */
export async function localServer (handler: BodyHandler, opts: { port?: number, host?: string } = {}): Promise<LocalServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks)))
  })
  const host = opts.host ?? '127.0.0.1'
  server.listen(opts.port ?? 0, host)
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    server,
    url: `http://${host}:${port}`,
    port,
    close: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

/** `localServer`, closed at teardown. */
export async function httpServer (t: Test, handler: BodyHandler): Promise<LocalServer> {
  const srv = await localServer(handler)
  t.teardown(() => srv.close())
  return srv
}

/** How the key server answers: normally, or as a broken key host would. */
export type KeyServerMode = 'ok' | '404' | '500' | 'garbage' | 'hang'

/** A key server's switch and counters. */
export interface KeyServer extends LocalServer {
  state: { mode: KeyServerMode, hits: Map<string, number> }
  totalHits (): number
}

/**
 * A local stand-in for static.adobeioevents.com serving the two public keys
 * (GET only). `state.hits` counts requests per path; `state.mode` switches it
 * to failing answers.
 */
export async function serveKeys (keys: SigningKeys, opts: { port?: number, host?: string } = {}): Promise<KeyServer> {
  const state = { mode: 'ok' as KeyServerMode, hits: new Map<string, number>() }
  const byPath = new Map([[keys.key1.path, keys.key1.pem], [keys.key2.path, keys.key2.pem]])
  const srv = await localServer((req, res) => {
    const path = req.url ?? ''
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1)
    if (state.mode === 'hang') return
    if (state.mode === '500') { res.writeHead(500).end('down'); return }
    if (state.mode === 'garbage') { res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n'); return }
    const pem = state.mode === 'ok' && req.method === 'GET' ? byPath.get(path) : undefined
    if (pem === undefined) { res.writeHead(404).end('not found'); return }
    res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pem)
  }, opts)
  return { ...srv, state, totalHits: () => [...state.hits.values()].reduce((a, b) => a + b, 0) }
}

/** `serveKeys` with the tests' shared keys, closed at teardown. */
export async function keyServer (t: Test, keys = signingKeys()): Promise<KeyServer> {
  const srv = await serveKeys(keys)
  t.teardown(() => srv.close())
  return srv
}

/** One request a destination received. */
export interface Received {
  headers: IncomingMessage['headers']
  body: string
  /** True when `webhook-signature` verifies with the destination's secret (false without a secret). */
  signed: boolean
  /** performance.now() when it arrived (this process's clock). */
  at: number
}

/** How a destination answers its n-th request (1-based): a status, a status and body, a delayed status, or never ('hang'). */
export type Answer = number | 'hang' | [number, string] | { status: number, delayMs: number }

/** A recording destination: what it received, by `webhook-id`, and a latch on arrivals. */
export interface Destination extends LocalServer {
  received: Received[]
  /** Requests per `webhook-id`. */
  posts: Map<string, number>
  /** `webhook-id`s whose request arrived and is not answered yet. */
  pending: Set<string>
  /** `webhook-id`s of the requests left unanswered ('hang'). */
  held: string[]
  /** Requests whose signature did not verify (with a secret). */
  readonly badSignatures: number
  /** Requests beyond the first for each `webhook-id`. */
  readonly repeats: number
  readonly total: number
  /** Counts every request; `arrivals.reach(n)` resolves on the n-th. */
  arrivals: Latch
  /** The `webhook-id` of every request, in order. */
  ids (): string[]
}

/**
 * A customer's destination: records every request (its Standard Webhooks
 * signature checked independently of the code under test when `secret` is
 * given) and answers with `respond(n, request)`. `record: false` keeps only
 * the counters and calls `onRequest` (the bench, for tens of thousands of requests).
 */
export async function destinationServer (opts: {
  secret?: string
  respond?: (n: number, req: Received) => Answer
  record?: boolean
  onRequest?: (req: Received) => void
} = {}): Promise<Destination> {
  const received: Received[] = []
  const posts = new Map<string, number>()
  const pending = new Set<string>()
  const held: string[] = []
  const arrivals = new Latch()
  let badSignatures = 0
  const srv = await localServer((req, res, raw) => {
    const at = performance.now()
    const body = raw.toString('utf8')
    const id = String(req.headers['webhook-id'])
    const entry: Received = { headers: req.headers, body, signed: opts.secret !== undefined && verifyStandardWebhook(opts.secret, req.headers, body), at }
    if (opts.secret !== undefined && !entry.signed) badSignatures++
    if (opts.record !== false) received.push(entry)
    posts.set(id, (posts.get(id) ?? 0) + 1)
    pending.add(id)
    opts.onRequest?.(entry)
    arrivals.arrive()
    const answer = opts.respond?.(arrivals.count, entry) ?? 204
    if (answer === 'hang') { held.push(id); return }
    const [status, reply, delayMs] = typeof answer === 'number' ? [answer, '', 0] : Array.isArray(answer) ? [...answer, 0] : [answer.status, '', answer.delayMs]
    const send = () => { pending.delete(id); if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end(reply) }
    if (delayMs > 0) setTimeout(send, delayMs)
    else send()
  })
  return {
    ...srv,
    received,
    posts,
    pending,
    held,
    arrivals,
    get badSignatures () { return badSignatures },
    get total () { return arrivals.count },
    get repeats () { return arrivals.count - posts.size },
    ids: () => received.map(r => r.headers['webhook-id'] as string)
  }
}

/** `destinationServer`, closed at teardown. */
export async function destination (t: Test, opts: Parameters<typeof destinationServer>[0] = {}): Promise<Destination> {
  const srv = await destinationServer(opts)
  t.teardown(() => srv.close())
  return srv
}

/** Standard Webhooks verification as a receiver would write it (not the gateway's code). */
export function verifyStandardWebhook (secret: string, headers: IncomingMessage['headers'], body: string): boolean {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret)
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  return signatures.split(' ').some(s => {
    const [version, sig] = s.split(',')
    const given = Buffer.from(sig ?? '', 'base64')
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
  })
}
