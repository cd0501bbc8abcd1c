import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { GatewayError, badRequest, bodyTooLarge, internalError, routeNotFound, unsupportedMediaType } from '../errors.ts'

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
    return reply.code(err.statusCode).type('application/json').send(err.toJSON())
  })

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(routeNotFound(request.method, request.url.split('?')[0]!).toJSON())
  })
}, { name: 'aeg-error-handler' })

function toGatewayError (error: FastifyError, request: FastifyRequest, bodyLimit: number): GatewayError {
  if (error instanceof GatewayError) return error
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyTooLarge(bodyLimit)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return error.statusCode === 415 ? unsupportedMediaType(request.headers['content-type']) : badRequest(error.message)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) return badRequest(error.message, status)
  // Client went away mid-body and similar are not our faults, but are not 4xx either: keep 500 generic.
  return internalError(error)
}
