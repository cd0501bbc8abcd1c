import { Agent, errors, type Dispatcher } from 'undici'
import { withSpan, type SpanAttributes } from '../src/tracing.ts'

/** What a destination answered: its status and, for a non-2xx answer, the start of its body. */
export interface DestinationAnswer {
  status: number
  /** First characters of the body on one line (only read for non-2xx answers). */
  excerpt?: string
}

const EXCERPT_LENGTH = 200
const EXCERPT_READ_LIMIT = 4096
/** Most bytes of a 2xx answer read (and dropped) so its connection can be reused. */
const DRAIN_LIMIT = 64 * 1024
/**
 * Idle pooled connections are closed after this long: servers commonly drop
 * idle keep-alive connections around 5 s, and a POST on a connection the
 * server has just closed fails before reaching it.
 */
const IDLE_SOCKET_MS = 4000

/**
 * POSTs to destinations over kept-alive connections (one undici Agent per
 * worker process, a pool per origin). Redirects are never followed: a 3xx is
 * returned as the answer (Standard Webhooks senders do not follow them).
 */
export class DestinationClient {
  readonly #agent = new Agent({ keepAliveTimeout: IDLE_SOCKET_MS, keepAliveMaxTimeout: IDLE_SOCKET_MS })

  /**
   * One POST, answered within `timeoutMs` (status line and, for a non-2xx
   * answer, its excerpt); a timeout or connection failure throws (see
   * {@link isTimeout}). With tracing on it runs in a client span whose
   * `traceparent` the request carries, so the destination continues the trace.
   */
  post (url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<DestinationAnswer> {
    return withSpan('POST', 'client', () => postAttributes(url), async (span) => {
      const answer = await this.#postReconnecting(url, span === undefined ? headers : span.inject({ ...headers }), body, timeoutMs)
      span?.setAttribute('http.response.status_code', answer.status)
      return answer
    })
  }

  async #postReconnecting (url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<DestinationAnswer> {
    try {
      return await this.#post(url, headers, body, timeoutMs)
    } catch (err) {
      // The server closed a pooled connection as it was reused. undici writes
      // a request on a connection it believes open, so this is the common
      // race, and one immediate try on a fresh connection settles it.
      if (isClosedConnection(err)) return await this.#post(url, headers, body, timeoutMs)
      throw err
    }
  }

  async #post (url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<DestinationAnswer> {
    const deadline = Date.now() + timeoutMs
    const res = await this.#agent.request({
      origin: new URL(url).origin,
      path: pathOf(url),
      method: 'POST',
      headers,
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs
    })
    const remaining = () => Math.max(1, deadline - Date.now())
    if (res.statusCode >= 200 && res.statusCode < 300) {
      // Drained so the connection goes back to the pool, within the same budget
      // and a size cap: a body that never ends must not hold a connection.
      res.body.dump({ limit: DRAIN_LIMIT, signal: AbortSignal.timeout(remaining()) }).catch(() => {})
      return { status: res.statusCode }
    }
    return { status: res.statusCode, excerpt: await readExcerpt(res.body, remaining()) }
  }

  /** Closes the pooled connections (worker shutdown). */
  close (): Promise<void> {
    return this.#agent.close()
  }
}

/** What a POST's span records of its URL: host and port only, as a destination's path or query may hold a secret token. */
function postAttributes (url: string): SpanAttributes {
  const { hostname, port, protocol } = new URL(url)
  return { 'http.request.method': 'POST', 'server.address': hostname, 'server.port': Number(port) || (protocol === 'https:' ? 443 : 80) }
}

/** `/path?query` of a URL. */
function pathOf (url: string): string {
  const u = new URL(url)
  return `${u.pathname}${u.search}`
}

/** True when the destination did not answer in time (connect or status line). */
export function isTimeout (err: unknown): boolean {
  return err instanceof errors.HeadersTimeoutError || err instanceof errors.ConnectTimeoutError || err instanceof errors.BodyTimeoutError
}

function isClosedConnection (err: unknown): boolean {
  return err instanceof errors.SocketError || (err as { code?: string }).code === 'ECONNRESET'
}

/** The first characters of a response body, on one line, for a failure reason (reads at most 4 KiB). */
async function readExcerpt (body: Dispatcher.ResponseData['body'], timeoutMs: number, max = EXCERPT_LENGTH): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  const timer = setTimeout(() => body.destroy(), timeoutMs)
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer)
      size += (chunk as Buffer).byteLength
      if (size >= EXCERPT_READ_LIMIT) break
    }
  } catch {
    if (chunks.length === 0) return '(body unreadable)'
  } finally {
    clearTimeout(timer)
    body.destroy()
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim()
  return text === '' ? '(empty body)' : text.length > max ? `${text.slice(0, max)}…` : text
}
