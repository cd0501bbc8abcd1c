import { createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { pino, type Logger } from 'pino'
import { buildApp, type AppDeps } from '../../src/app.ts'
import { loadConfig, validateFileConfig, type GatewayConfig, type GatewayFileConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { closeRedis, createEdgeRedis, type RedisClient } from '../../src/redis.ts'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

type Tap = {
  teardown (fn: () => unknown): void
}

/** A queue prefix of its own for one test, so tests never see each other's keys. */
export function uniquePrefix (): string {
  return `{aegt-${randomBytes(5).toString('hex')}}`
}

/** Deletes every key under a prefix (SCAN, not KEYS). */
export async function deletePrefix (redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== '0')
}

/** A Redis client for assertions; closed, and the prefix wiped, at teardown. */
export function testRedis (t: Tap, prefix: string): Redis {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  t.teardown(async () => {
    await deletePrefix(redis, prefix)
    await redis.quit()
  })
  return redis
}

/** Log lines captured as parsed objects, plus the raw text (for secret scans). */
export interface CapturedLog {
  logger: Logger
  lines: Record<string, unknown>[]
  text: () => string
}

export function captureLog (level = 'debug', extraRedact: string[] = []): CapturedLog {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk, _enc, cb) { raw.push(chunk.toString()); cb() }
  })
  const logger = pino(loggerOptions(level, extraRedact), stream)
  return {
    logger,
    get lines () { return raw.join('').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>) },
    text: () => raw.join('')
  }
}

/** A full config from the environment defaults plus a config-file object. */
export function testConfig (file: Partial<GatewayFileConfig> & Pick<GatewayFileConfig, 'sources'>, env: Record<string, string> = {}): GatewayConfig {
  const base = loadConfig({ REDIS_URL, LOG_LEVEL: 'silent', ...env }, '/nonexistent')
  return { ...base, ...validateFileConfig(structuredClone(file)) }
}

/** A ready app (inject-able), closed at teardown. */
export async function buildTestApp (t: Tap, config: GatewayConfig, deps: AppDeps = {}, configure?: (app: FastifyInstance) => void) {
  const app = await buildApp(config, { logger: pino({ level: 'silent' }), ...deps })
  t.teardown(() => app.close())
  configure?.(app)
  await app.ready()
  return app
}

/** The edge's kind of Redis connection (fail-fast), up before it is returned and closed at teardown. */
export async function edgeRedis (t: Tap, config: GatewayConfig): Promise<RedisClient> {
  const redis = createEdgeRedis(config)
  t.teardown(() => closeRedis(redis))
  if (redis.status !== 'ready') await once(redis, 'ready')
  return redis
}

/** A real HTTP server on 127.0.0.1:0, closed at teardown. */
export async function httpServer (t: Tap, handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void) {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks)))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as AddressInfo
  return { server, port, url: `http://127.0.0.1:${port}` }
}

/** Adobe's two signing keys, as the test's key server publishes them. */
export interface SigningKeys {
  key1: { privateKey: KeyObject, pem: string, path: string }
  key2: { privateKey: KeyObject, pem: string, path: string }
}

let cachedKeys: SigningKeys | undefined
export function signingKeys (): SigningKeys {
  if (cachedKeys) return cachedKeys
  const make = (path: string) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    return { privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), path }
  }
  cachedKeys = { key1: make('/prod/keys/pub-key-voy5XEbWmT.pem'), key2: make('/prod/keys/pub-key-maAv3Tg6ZH.pem') }
  return cachedKeys
}

/**
 * A local key server standing in for static.adobeioevents.com. `hits` counts
 * requests per path; `mode` switches it to failing answers.
 */
export async function keyServer (t: Tap, keys = signingKeys()) {
  const state = { hits: new Map<string, number>(), mode: 'ok' as 'ok' | '404' | '500' | 'garbage' | 'hang' }
  const byPath = new Map([[keys.key1.path, keys.key1.pem], [keys.key2.path, keys.key2.pem]])
  const srv = await httpServer(t, (req, res) => {
    const path = req.url ?? ''
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1)
    if (state.mode === 'hang') return
    if (state.mode === '500') { res.writeHead(500).end('down'); return }
    if (state.mode === 'garbage') { res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n'); return }
    const pem = state.mode === 'ok' ? byPath.get(path) : undefined
    if (pem === undefined) { res.writeHead(404).end('not found'); return }
    res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pem)
  })
  return { ...srv, state, totalHits: () => [...state.hits.values()].reduce((a, b) => a + b, 0) }
}

/** Headers Adobe I/O Events would send for this body: RSA signatures with key 1 and key 2. */
export function adobeSignedHeaders (body: string | Buffer, opts: { keys?: SigningKeys, only?: 1 | 2, tamper?: 1 | 2 } = {}): Record<string, string> {
  const keys = opts.keys ?? signingKeys()
  const sig = (k: KeyObject) => sign('RSA-SHA256', Buffer.from(body), k).toString('base64')
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-adobe-public-key1-path': keys.key1.path,
    'x-adobe-public-key2-path': keys.key2.path,
    'x-adobe-digital-signature-1': sig(keys.key1.privateKey),
    'x-adobe-digital-signature-2': sig(keys.key2.privateKey)
  }
  const wrong = sign('RSA-SHA256', Buffer.from('something else'), keys.key1.privateKey).toString('base64')
  if (opts.only === 1 || opts.tamper === 2) headers['x-adobe-digital-signature-2'] = wrong
  if (opts.only === 2 || opts.tamper === 1) headers['x-adobe-digital-signature-1'] = wrong
  return headers
}

/** The legacy `x-adobe-signature` HMAC header. */
export function adobeHmacHeaders (body: string | Buffer, clientSecret: string): Record<string, string> {
  return { 'content-type': 'application/json', 'x-adobe-signature': createHmac('sha256', clientSecret).update(body).digest('base64') }
}

/** Waits until `check` returns a truthy value, polling Redis-backed state; fails after `timeoutMs`. */
export async function eventually<T> (check: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
