import { STATUS_CODES, type Server } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { secretHeaders, type GatewayConfig, type HttpTimeouts } from './config.ts'
import { loggerOptions } from './logger.ts'
import fp from 'fastify-plugin'
import { badRequest, badUrl, headersTooLarge, hostMissing, requestTimeout, urlTooLong, type GatewayError } from './errors.ts'

/**
 * A Fastify instance with the options both ports share: the process logger
 * (or one built from the config), the HTTP deadlines, 503 while closing, and
 * no per-request log lines (routes and the error handler write one outcome
 * line each; Bull Board polls every few seconds).
 */
export function createHttpApp (config: GatewayConfig, options: { logger?: Logger, bodyLimit: number, requestIdHeader?: string }): FastifyInstance {
  return Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: loggerOptions(config.logLevel, secretHeaders(config)) }),
    bodyLimit: options.bodyLimit,
    ...httpServerOptions(config.http),
    return503OnClosing: true,
    ...(options.requestIdHeader !== undefined && { requestIdHeader: options.requestIdHeader }),
    logController: new LogController({ requestIdLogLabel: 'reqId', disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true }
    // Fastify's generic return type names the pino logger's type; every consumer takes FastifyInstance.
  }) as unknown as FastifyInstance
}

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
      throw hostMissing()
    }
  })
}, { name: 'aeg-require-host' })

const CLIENT_ERRORS: Record<string, () => GatewayError> = {
  ERR_HTTP_REQUEST_TIMEOUT: requestTimeout,
  HPE_HEADER_OVERFLOW: headersTooLarge
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
  const answer = known?.() ?? badRequest('malformed HTTP request')
  const status = answer.statusCode
  this.log.debug({ code: answer.code, cause: err.code, statusCode: status }, answer.message)
  // Not into the middle of a response already going out on this socket (pipelining).
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (socket.writable && !inProgress) {
    const body = JSON.stringify(answer)
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** URLs the router cannot take (bad percent-encoding, over-long parameters), without echoing them back. */
function frameworkErrors (error: Error & { code?: string, statusCode?: number }, request: FastifyRequest, reply: FastifyReply): void {
  const answer = error.code === 'FST_ERR_BAD_URL'
    ? badUrl()
    : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? urlTooLong()
      : badRequest('request cannot be routed', error.statusCode ?? 500)
  request.log.info({ code: answer.code, statusCode: answer.statusCode }, answer.message)
  void reply.code(answer.statusCode).type('application/json').send(answer.toJSON())
}
