import { connect, type AddressInfo, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { buildTestApp, captureLog, keyServer, testConfig, testRedis, uniquePrefix } from '../helpers/index.ts'
import { credentialHeaders, errorBodyProblem, hostileSources, parseResponse, validEvent } from './hostile-support.ts'

/** Short deadlines so the test is quick; production defaults are checked separately below. */
const FAST = {
  HEADERS_TIMEOUT_MS: '400',
  REQUEST_TIMEOUT_MS: '800',
  CONNECTION_TIMEOUT_MS: '2500',
  KEEP_ALIVE_TIMEOUT_MS: '300',
  KEY_FETCH_TIMEOUT_MS: '1000',
  ACK_TIMEOUT_MS: '1000'
}
const SLOW_CLIENTS = 40

async function listeningApp (t: Test, env: Record<string, string>) {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const keys = await keyServer(t)
  const log = captureLog('debug')
  const config = testConfig({ sources: hostileSources() }, { QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: keys.url, ...env })
  const app: FastifyInstance = await buildTestApp(t, config, { logger: log.logger })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, keys, log, port: (app.server.address() as AddressInfo).port }
}

interface SlowClient {
  /** Resolves when the server closes the connection: what it answered and after how long. */
  closed: Promise<{ ms: number, text: string }>
  socket: Socket
}

/** Connects and writes `bytes` in `chunk`-byte pieces every `intervalMs`, until done or closed by the server. */
function trickle (port: number, bytes: Buffer, chunk: number, intervalMs: number): SlowClient {
  const socket = connect(port, '127.0.0.1')
  const started = Date.now()
  let received = ''
  let offset = 0
  const timer = setInterval(() => {
    if (socket.destroyed || offset >= bytes.length) return clearInterval(timer)
    socket.write(bytes.subarray(offset, offset + chunk))
    offset += chunk
  }, intervalMs)
  socket.on('data', d => { received += d.toString('latin1') })
  socket.on('error', () => {})
  const closed = new Promise<{ ms: number, text: string }>(resolve => socket.on('close', () => {
    clearInterval(timer)
    resolve({ ms: Date.now() - started, text: received })
  }))
  return { closed, socket }
}

const pdfRequest = (contentLength?: number) => {
  const body = Buffer.from(JSON.stringify(validEvent('pdf')))
  const headers = { host: 'x', 'content-type': 'application/json', 'content-length': String(contentLength ?? body.length), ...credentialHeaders('pdf', body, 'valid') }
  return { head: Buffer.from(`POST /webhooks/pdf HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`), body }
}

async function signedPost (port: number) {
  const body = JSON.stringify(validEvent('pdf'))
  const started = Date.now()
  const res = await fetch(`http://127.0.0.1:${port}/webhooks/pdf`, {
    method: 'POST', body, headers: { 'content-type': 'application/json', ...credentialHeaders('pdf', Buffer.from(body), 'valid') }
  })
  return { status: res.status, body: await res.json() as unknown, ms: Date.now() - started }
}

/** A 408 can only come from the deadline: the clients below would otherwise keep trickling for minutes. */
function assertTimedOut (t: Test, what: string, result: { ms: number, text: string }) {
  const res = parseResponse(result.text)
  t.equal(res?.status, 408, `${what}: answered 408`)
  t.equal(errorBodyProblem(res?.body ?? ''), undefined, `${what}: JSON error body`)
  t.equal(res === undefined ? undefined : JSON.parse(res.body).error.code, 'AEG_REQUEST_TIMEOUT')
}

t.test(`slowloris: ${SLOW_CLIENTS} clients trickling headers and ${SLOW_CLIENTS} trickling bodies cannot hold the edge`, async t => {
  const { port } = await listeningApp(t, FAST)
  const headerClients = Array.from({ length: SLOW_CLIENTS }, () => trickle(port, pdfRequest().head, 1, 50))
  const { head } = pdfRequest(100_000)
  const bodyClients = Array.from({ length: SLOW_CLIENTS }, () => {
    const c = trickle(port, Buffer.concat([head, Buffer.alloc(100_000, 0x20)]), 1, 50)
    // Headers at once, then the body a byte at a time.
    c.socket.write(head)
    return c
  })
  const idle = trickle(port, Buffer.alloc(0), 1, 1000)

  // While they hang on, a normal delivery is answered at once.
  const normal = await signedPost(port)
  t.equal(normal.status, 200, 'a normal request is answered while slow clients are connected')
  t.same(normal.body, { ack: 'done' })

  const headerResults = await Promise.all(headerClients.map(c => c.closed))
  const bodyResults = await Promise.all(bodyClients.map(c => c.closed))
  const idleResult = await idle.closed
  for (const [i, r] of headerResults.entries()) if (i === 0 || !r.text.startsWith('HTTP/1.1 408')) assertTimedOut(t, `header trickler ${i}`, r)
  for (const [i, r] of bodyResults.entries()) if (i === 0 || !r.text.startsWith('HTTP/1.1 408')) assertTimedOut(t, `body trickler ${i}`, r)
  assertTimedOut(t, 'idle connection (no bytes)', idleResult)
  const max = (rs: { ms: number }[]) => Math.max(...rs.map(r => r.ms))
  t.comment(`headers ${FAST.HEADERS_TIMEOUT_MS} ms / request ${FAST.REQUEST_TIMEOUT_MS} ms deadlines: ${SLOW_CLIENTS} header tricklers closed after ≤ ${max(headerResults)} ms, ${SLOW_CLIENTS} body tricklers after ≤ ${max(bodyResults)} ms, idle socket after ${idleResult.ms} ms; normal request answered in ${normal.ms} ms meanwhile`)
  t.ok(headerResults.every(r => r.text.startsWith('HTTP/1.1 408')), 'every header trickler got 408')
  t.ok(bodyResults.every(r => r.text.startsWith('HTTP/1.1 408')), 'every body trickler got 408')
})

t.test('an idle kept-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS', async t => {
  const { port } = await listeningApp(t, FAST)
  const { head, body } = pdfRequest()
  const client = trickle(port, Buffer.concat([head, body]), 1 << 20, 1)
  const result = await client.closed
  t.match(result.text, /^HTTP\/1\.1 200 /, 'the request was answered')
  t.match(result.text, /keep-alive/i, 'and the connection kept alive')
  // The client never closes it: `closed` resolved because the server closed the idle connection.
  t.pass('then closed by the server')
  t.comment(`kept-alive idle connection closed after ${result.ms} ms (KEEP_ALIVE_TIMEOUT_MS=${FAST.KEEP_ALIVE_TIMEOUT_MS})`)
})

t.test('the idle-socket deadline does not cut a request waiting on a slow key server: it still gets its 503', async t => {
  const { port, keys } = await listeningApp(t, FAST)
  keys.state.mode = 'hang'
  const body = JSON.stringify(validEvent('lr'))
  // The key server never answers: a 503 AEG_KEY_UNAVAILABLE means the key fetch gave up and the socket was still there to answer on.
  const res = await fetch(`http://127.0.0.1:${port}/webhooks/lr`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...credentialHeaders('lr', Buffer.from(body), 'valid') } })
  t.equal(res.status, 503)
  t.equal((await res.json() as { error: { code: string } }).error.code, 'AEG_KEY_UNAVAILABLE')
})

t.test('a legitimate 2 MB batch sent at 1 MB/s fits the default deadlines', async t => {
  const { port } = await listeningApp(t, {})
  const events = Array.from({ length: 20 }, () => ({ ...validEvent('lr', 1), padding: 'p'.repeat(100_000) }))
  const body = Buffer.from(JSON.stringify(events))
  t.ok(body.length >= 2_000_000, `body is ${body.length} bytes`)
  const headers = { host: 'x', 'content-type': 'application/cloudevents-batch+json', 'content-length': String(body.length), connection: 'close', ...credentialHeaders('lr', body, 'valid') }
  const head = Buffer.from(`POST /webhooks/lr HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`)
  // 64 KiB every 64 ms ≈ 1 MB/s: about 2 s for the whole body, inside REQUEST_TIMEOUT_MS (6 s by default).
  const client = trickle(port, Buffer.concat([head, body]), 65_536, 64)
  const result = await client.closed
  const res = parseResponse(result.text)
  t.equal(res?.status, 200, `accepted after ${result.ms} ms`)
  t.same(res && JSON.parse(res.body), { received: 20 })
  t.comment(`2 MB batch trickled at ~1 MB/s accepted in ${result.ms} ms with the default deadlines`)
})

t.test('deadlines: defaults under Adobe\'s 10 s budget, configurable, and inconsistent values refused at boot', async t => {
  const defaults = loadConfig({}, '/nonexistent').http
  t.same(defaults, { headersTimeoutMs: 4000, requestTimeoutMs: 6000, connectionTimeoutMs: 20000, keepAliveTimeoutMs: 72000 })
  t.ok(defaults.headersTimeoutMs < 10_000 && defaults.requestTimeoutMs < 10_000, 'a request must be received well inside Adobe\'s 10 s')
  t.same(loadConfig({ HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000', CONNECTION_TIMEOUT_MS: '9000', KEEP_ALIVE_TIMEOUT_MS: '5000' }, '/nonexistent').http,
    { headersTimeoutMs: 1000, requestTimeoutMs: 2000, connectionTimeoutMs: 9000, keepAliveTimeoutMs: 5000 })
  t.throws(() => loadConfig({ HEADERS_TIMEOUT_MS: '7000', REQUEST_TIMEOUT_MS: '6000' }, '/nonexistent'),
    new ConfigError('HEADERS_TIMEOUT_MS (7000) must not exceed REQUEST_TIMEOUT_MS (6000)'))
  t.throws(() => loadConfig({ CONNECTION_TIMEOUT_MS: '5000' }, '/nonexistent'),
    new ConfigError('CONNECTION_TIMEOUT_MS (5000) must exceed KEY_FETCH_TIMEOUT_MS + ACK_TIMEOUT_MS (5500)'))
  t.throws(() => loadConfig({ REQUEST_TIMEOUT_MS: 'soon' }, '/nonexistent'), /REQUEST_TIMEOUT_MS must be integer/)
})
