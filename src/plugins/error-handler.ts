import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { GatewayError, bodyTooLarge, unsupportedMediaType } from '../errors.ts'

/** The contract's error body: `{"error": {"code", "message"}}`. */
export function errorBody (code: string, message: string) {
  return { error: { code, message } }
}

/**
 * The one place errors become HTTP answers. Routes throw GatewayErrors; Fastify's
 * own parser errors are mapped to the same codes; anything else is a 500 whose
 * details stay in the log.
 */
export default fp(async function errorHandler (app: FastifyInstance, opts: { bodyLimit: number }) {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const err = toGatewayError(error, request, opts.bodyLimit)
    const context = { code: err.code, source: (request.params as { source?: string } | undefined)?.source, statusCode: err.statusCode }
    if (err.statusCode >= 500) request.log[err.logLevel]({ ...context, err: err.cause ?? err }, err.message)
    else request.log[err.logLevel](context, err.message)
    if (err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter))
    return reply.code(err.statusCode).type('application/json').send(errorBody(err.code, err.message))
  })

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(errorBody('AEG_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`))
  })
}, { name: 'aeg-error-handler' })

function toGatewayError (error: FastifyError, request: FastifyRequest, bodyLimit: number): GatewayError {
  if (error instanceof GatewayError) return error
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyTooLarge(bodyLimit)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return error.statusCode === 415 ? unsupportedMediaType(request.headers['content-type']) : new GatewayError(400, 'AEG_BAD_REQUEST', error.message)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) return new GatewayError(status, 'AEG_BAD_REQUEST', error.message)
  // Client went away mid-body and similar are not our faults, but are not 4xx either: keep 500 generic.
  return new GatewayError(500, 'AEG_INTERNAL', 'internal error', { cause: error })
}
