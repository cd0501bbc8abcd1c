/**
 * Errors that end a webhook request. Each carries the HTTP status the contract
 * prescribes and a stable code that clients and tests match on.
 */
export class GatewayError extends Error {
  readonly statusCode: number
  readonly code: string
  /** Seconds to put in `Retry-After` (503 only). */
  readonly retryAfter: number | undefined
  /** Level the request outcome is logged at; faults logged elsewhere use 'debug'. */
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error'

  constructor (statusCode: number, code: string, message: string, options: { cause?: unknown, retryAfter?: number, logLevel?: GatewayError['logLevel'] } = {}) {
    super(message, { cause: options.cause })
    this.name = 'GatewayError'
    this.statusCode = statusCode
    this.code = code
    this.retryAfter = options.retryAfter
    this.logLevel = options.logLevel ?? (statusCode >= 500 ? 'error' : 'info')
  }

  /** The contract's error body: `{"error": {"code", "message"}}`. */
  toJSON (): { error: { code: string, message: string } } {
    return { error: { code: this.code, message: this.message } }
  }
}

// The catalogue: every code the gateway answers with is made here and nowhere else.

export const unknownSource = (name: string) =>
  new GatewayError(404, 'AEG_UNKNOWN_SOURCE', `no source named "${name}" is configured`)
export const unsupportedMediaType = (type: string | undefined) =>
  new GatewayError(415, 'AEG_UNSUPPORTED_MEDIA_TYPE',
    `content type ${type ? `"${type}"` : '(none)'} is not accepted; send application/json, application/cloudevents+json or application/cloudevents-batch+json`)
export const bodyTooLarge = (limit: number) =>
  new GatewayError(413, 'AEG_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`)
export const signatureMissing = (what: string) =>
  new GatewayError(401, 'AEG_SIGNATURE_MISSING', `missing ${what}`)
export const signatureInvalid = (what: string) =>
  new GatewayError(401, 'AEG_SIGNATURE_INVALID', `${what} does not match the request body`)
export const credentialsMissing = (what: string) =>
  new GatewayError(401, 'AEG_CREDENTIALS_MISSING', `missing ${what}`)
export const credentialsInvalid = () =>
  new GatewayError(401, 'AEG_CREDENTIALS_INVALID', 'credentials are not valid for this source')
export const keyPathInvalid = (header: string) =>
  new GatewayError(401, 'AEG_KEY_PATH_INVALID', `${header} is not a safe public key path`)
export const keyUnavailable = (cause: unknown) =>
  // The fault itself is logged once by the key cache; per request it is only debug.
  new GatewayError(503, 'AEG_KEY_UNAVAILABLE', 'the signing public key cannot be fetched right now; retry later',
    { cause, retryAfter: 30, logLevel: 'debug' })
export const invalidJson = () =>
  new GatewayError(400, 'AEG_INVALID_JSON', 'request body is not valid JSON')
export const invalidPayload = (detail: string) =>
  new GatewayError(400, 'AEG_INVALID_PAYLOAD', detail)
export const batchTooLarge = (count: number, max: number) =>
  new GatewayError(400, 'AEG_BATCH_TOO_LARGE', `batch has ${count} events; at most ${max} are accepted`)
export const recipientMismatch = () =>
  new GatewayError(403, 'AEG_RECIPIENT_MISMATCH', 'event is addressed to another client id')
export const queueUnavailable = (cause: unknown) =>
  new GatewayError(503, 'AEG_QUEUE_UNAVAILABLE', 'event could not be durably queued; retry later',
    { cause, retryAfter: 5, logLevel: 'warn' })
export const challengeMissing = () =>
  new GatewayError(400, 'AEG_CHALLENGE_MISSING', 'the challenge query parameter is required')
export const challengeTooLong = (max: number) =>
  new GatewayError(400, 'AEG_CHALLENGE_TOO_LONG', `challenge longer than ${max} characters`)
export const validationUrlRejected = (reason: string) =>
  new GatewayError(400, 'AEG_VALIDATION_URL_REJECTED', `validationUrl refused: ${reason}`)
export const jobNotFound = (jobId: string) =>
  new GatewayError(404, 'AEG_JOB_NOT_FOUND', `no status is known for job "${jobId}"`)
export const storeUnavailable = (cause: unknown) =>
  new GatewayError(503, 'AEG_STORE_UNAVAILABLE', 'job status store cannot be read right now; retry later',
    { cause, retryAfter: 5, logLevel: 'warn' })
export const notReady = () =>
  new GatewayError(503, 'AEG_NOT_READY', 'Redis does not answer', { retryAfter: 5, logLevel: 'debug' })
export const routeNotFound = (method: string, path: string) =>
  new GatewayError(404, 'AEG_NOT_FOUND', `no route for ${method} ${path}`)
export const adminAuthRequired = (code: string) =>
  new GatewayError(401, code, 'admin credentials are required', { logLevel: 'debug' })

// Requests that fail before a route runs (Node's parser, Fastify's router).
export const hostMissing = () =>
  new GatewayError(400, 'AEG_HOST_MISSING', 'HTTP/1.1 requests must carry a Host header')
export const requestTimeout = () =>
  new GatewayError(408, 'AEG_REQUEST_TIMEOUT', 'the request was not received in time')
export const headersTooLarge = () =>
  new GatewayError(431, 'AEG_HEADERS_TOO_LARGE', 'request headers are too large')
export const badRequest = (message: string, status = 400) =>
  new GatewayError(status, 'AEG_BAD_REQUEST', message)
export const badUrl = () =>
  new GatewayError(400, 'AEG_BAD_URL', 'request URL is not valid')
export const urlTooLong = () =>
  new GatewayError(414, 'AEG_URL_TOO_LONG', 'a request URL parameter is too long')
export const internalError = (cause: unknown) =>
  new GatewayError(500, 'AEG_INTERNAL', 'internal error', { cause })
