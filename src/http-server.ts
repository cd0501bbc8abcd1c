import { STATUS_CODES, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyHttpOptions, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { HttpTimeouts } from './config.ts'
import fp from 'fastify-plugin'
import { GatewayError } from './errors.ts'
import { errorBody } from './plugins/error-handler.ts'

/**
 * Fastify options shared by the public and the admin port: deadlines that keep
 * slow or idle clients (slowloris, a body trickled a byte at a time) from
 * holding sockets, and answers in the contract's error body for what goes
 * wrong before a route runs (malformed HTTP, bad URL encoding, timeouts).
 */
export function httpServerOptions (timeouts: HttpTimeouts): Partial<FastifyHttpOptions<Server>> {
  return {
    requestTimeout: timeouts.requestTimeoutMs,
    connectionTimeout: timeouts.connectionTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    http: {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      // Node enforces both deadlines only when it sweeps its connections (every 30 s by
      // default), which would let a slow client hold a socket far past them.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs) / 4))),
      // Node answers a missing Host with a bare 400 and no body; `requireHost` answers it in the contract's shape.
      requireHostHeader: false
    },
    clientErrorHandler,
    frameworkErrors
  }
}

/** HTTP/1.1 requires a Host header (RFC 9112 §3.2): refused with 400 and the JSON error body. */
export const requireHost = fp(async function requireHost (app: FastifyInstance) {
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new GatewayError(400, 'AEG_HOST_MISSING', 'HTTP/1.1 requests must carry a Host header')
    }
  })
}, { name: 'aeg-require-host' })

const CLIENT_ERRORS: Record<string, { status: number, code: string, message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'AEG_REQUEST_TIMEOUT', message: 'the request was not received in time' },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'AEG_HEADERS_TOO_LARGE', message: 'request headers are too large' }
}

/**
 * Node's `clientError`: the request never reached Fastify (malformed HTTP,
 * headers too large, request deadline passed). Answered with the JSON error
 * body, then the socket is closed.
 *
 * Only the error code is logged: Node attaches the raw bytes received so far
 * (`rawPacket`, which holds the Authorization and signature headers) to the
 * error, and Fastify's default handler logs the whole error at trace level.
 */
function clientErrorHandler (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const known = err.code !== undefined ? CLIENT_ERRORS[err.code] : undefined
  const { status, code, message } = known ?? { status: 400, code: 'AEG_BAD_REQUEST', message: 'malformed HTTP request' }
  this.log.debug({ code, cause: err.code, statusCode: status }, message)
  // Not into the middle of a response already going out on this socket (pipelining).
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (socket.writable && !inProgress) {
    const body = JSON.stringify(errorBody(code, message))
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** URLs the router cannot take (bad percent-encoding, over-long parameters), without echoing them back. */
function frameworkErrors (error: Error & { code?: string, statusCode?: number }, request: FastifyRequest, reply: FastifyReply): void {
  const [status, code, message] = error.code === 'FST_ERR_BAD_URL'
    ? [400, 'AEG_BAD_URL', 'request URL is not valid']
    : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, 'AEG_URL_TOO_LONG', 'a request URL parameter is too long']
      : [error.statusCode ?? 500, 'AEG_BAD_REQUEST', 'request cannot be routed']
  request.log.info({ code, statusCode: status }, message)
  void reply.code(status).type('application/json').send(errorBody(code, message))
}
