import { createHmac, randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { adobeHmacHeaders, adobeSignedHeaders, fixture, type TestFileConfig } from '../helpers/index.ts'

/** One secret per source kind, so a scan of the logs can look for each. */
export const SECRETS = {
  lrClientSecret: 'lr-client-secret-Zq7vW2',
  pdfToken: 'pdf-callback-token-Kx9pL4',
  almUser: 'alm-user',
  almPassword: 'alm-password-Yt3mR8',
  almHmac: ['alm-hmac-old-Hn5cJ1', 'alm-hmac-new-Wb6dF0'],
  forwardSecret: 'forward-secret-Qs2gV7',
  oauthClientSecret: 'oauth-client-secret-Pe8uT5',
  accessToken: 'oauth-access-token-Ja4xN6',
  adminPassword: 'admin-password-Mv1kB9',
  presignedSignature: 'X-Amz-Signature-Rf3hG2'
} as const

export const CLIENT_ID = 'hostile-client-id'
export type SourceName = 'lr' | 'pdf' | 'alm' | 'almh'
export const SOURCE_NAMES: SourceName[] = ['lr', 'pdf', 'alm', 'almh']

/** One source of each kind and auth type, with the secrets above. */
export function hostileSources (): TestFileConfig['sources'] {
  return [
    { name: 'lr', kind: 'adobe-io-events', clientId: CLIENT_ID, clientSecret: SECRETS.lrClientSecret, verify: 'signature' },
    { name: 'pdf', kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: SECRETS.pdfToken } },
    { name: 'alm', kind: 'learning-manager', auth: { type: 'basic', username: SECRETS.almUser, password: SECRETS.almPassword } },
    { name: 'almh', kind: 'learning-manager', auth: { type: 'hmac', header: 'x-alm-signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=', secrets: [...SECRETS.almHmac] } }
  ]
}

export type AuthMode = 'valid' | 'wrong' | 'missing'

/** The credential headers each source kind expects for this raw body (right, wrong or none). */
export function credentialHeaders (source: SourceName, body: Buffer, mode: AuthMode, variant = 0): Record<string, string> {
  if (mode === 'missing') return {}
  const ok = mode === 'valid'
  switch (source) {
    case 'lr': {
      if (variant % 2 === 1) return stripType(adobeHmacHeaders(body, ok ? SECRETS.lrClientSecret : 'not-the-secret'))
      return stripType(ok ? adobeSignedHeaders(body) : adobeSignedHeaders(Buffer.concat([body, Buffer.from(' ')])))
    }
    case 'pdf':
      return { 'x-callback-token': ok ? SECRETS.pdfToken : `${SECRETS.pdfToken}x` }
    case 'alm':
      return { authorization: basicAuth(SECRETS.almUser, ok ? SECRETS.almPassword : `${SECRETS.almPassword}x`) }
    case 'almh': {
      const secret = ok ? SECRETS.almHmac[variant % 2]! : 'wrong-hmac-secret'
      return { 'x-alm-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` }
    }
  }
}

export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

function stripType (headers: Record<string, string>): Record<string, string> {
  const { 'content-type': _type, ...rest } = headers
  return rest
}

/** A well-formed event body for a source, with fresh ids so it is never a duplicate. */
export function validEvent (source: SourceName, variant = 0): Record<string, unknown> {
  if (source === 'pdf') {
    const body = fixture(variant % 2 === 0 ? 'pdf-services/done.json' : 'pdf-services/failed.json')
    body.jobID = `pdf-${randomUUID()}`
    return body
  }
  if (source === 'alm' || source === 'almh') {
    const body = fixture('learning-manager/course-enrollment.json')
    for (const event of body.events) event.eventId = randomUUID()
    return body
  }
  if (variant % 2 === 0) {
    const event = fixture('adobe-io-events/lightroom-job-status.json')
    event.event_id = randomUUID()
    event.recipient_client_id = CLIENT_ID
    return event
  }
  const event = fixture('adobe-io-events/dgr-single.json')
  event.id = randomUUID()
  event.eventid = randomUUID()
  event.recipientclientid = CLIENT_ID
  return event
}

/** A Dynamic Graphics Render event for batches (`lr`) or a Learning Manager event (`alm*`). */
export function batchOf (source: SourceName, count: number): unknown {
  if (source === 'alm' || source === 'almh') {
    const body = fixture('learning-manager/course-enrollment.json')
    const template = body.events[0]
    body.events = Array.from({ length: count }, () => ({ ...template, eventId: randomUUID() }))
    return body
  }
  return Array.from({ length: count }, () => validEvent('lr', 1))
}

/** A response read off a raw socket: status, headers and body of the first response. */
export interface RawResponse { status: number, headers: Record<string, string>, body: string, raw: string }

/**
 * Writes raw bytes to the port and reads what comes back until the server
 * closes (or `timeoutMs`). `end` half-closes after writing, for requests
 * that are not meant to be complete.
 */
export function rawExchange (port: number, bytes: Buffer, opts: { end?: boolean, timeoutMs?: number } = {}): Promise<RawResponse | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1')))
    }
    const timer = setTimeout(() => {
      if (!settled) { settled = true; socket.destroy(); reject(new Error(`no complete answer within ${opts.timeoutMs ?? 5000} ms: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))}`)) }
    }, opts.timeoutMs ?? 5000)
    socket.on('data', c => {
      chunks.push(c)
      // One complete response is enough (keep-alive answers do not close).
      if (parseResponse(Buffer.concat(chunks).toString('latin1'), true) !== undefined) finish()
    })
    socket.on('error', finish)
    socket.on('close', finish)
    socket.write(bytes, () => { if (opts.end === true) socket.end() })
  })
}

export function parseResponse (text: string, requireComplete = false): RawResponse | undefined {
  const headEnd = text.indexOf('\r\n\r\n')
  if (headEnd === -1) return undefined
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')
  if (!m) return undefined
  const headers = Object.fromEntries(lines.map(l => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  const length = Number(headers['content-length'] ?? NaN)
  const rest = text.slice(headEnd + 4)
  if (requireComplete && (!Number.isFinite(length) || rest.length < length)) return undefined
  const body = Number.isFinite(length) ? rest.slice(0, length) : rest
  return { status: Number(m[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8'), raw: text }
}

/** `{"error": {"code": "AEG_…", "message": "…"}}`, or a reason it is not. */
export function errorBodyProblem (body: string): string | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return `not JSON: ${JSON.stringify(body.slice(0, 120))}`
  }
  const error = (parsed as { error?: { code?: unknown, message?: unknown } } | null)?.error
  if (typeof error?.code !== 'string' || !/^AEG_[A-Z_]+$/.test(error.code)) return `no AEG_ error code: ${body.slice(0, 120)}`
  if (typeof error.message !== 'string' || error.message === '') return `no message: ${body.slice(0, 120)}`
  return undefined
}

/** A full GC (V8 flag set at runtime), so heap figures compare live data rather than garbage. */
export function collectGarbage (): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
}

/** Own property names of the built-in prototypes, to show nothing was added to them. */
export function prototypeSnapshot (): string {
  return JSON.stringify([Object.prototype, Array.prototype, Function.prototype, String.prototype].map(p => Object.getOwnPropertyNames(p).sort()))
}
