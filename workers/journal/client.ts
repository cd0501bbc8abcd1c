import LinkHeader from 'http-link-header'
import type { JournalConfig } from '../../src/config.ts'
import type { OAuthTokens } from '../oauth-token.ts'

/** One journal entry: its opaque position and the event, the same JSON a webhook delivery carries. */
export interface JournalEntry {
  position: string
  event: unknown
}

/** What one journal request came back with, in the reader's terms. */
export type JournalAnswer =
  /** 200: a page of events; `next` is the URL of the following page (absolute). */
  | { kind: 'page', entries: JournalEntry[], last: string | undefined, next: string | undefined }
  /** 204: nothing newer yet; ask `next` again after `retryAfterMs`. */
  | { kind: 'empty', next: string | undefined, retryAfterMs: number | undefined }
  /** 410: the position expired (more than the retention behind). */
  | { kind: 'gone' }
  /** 401 even with a freshly granted token. */
  | { kind: 'unauthorized' }
  /** 429 / 5xx / network error / an answer we cannot read: retry after a backoff (at least `retryAfterMs`). */
  | { kind: 'retry', reason: JournalErrorReason, detail: string, retryAfterMs: number | undefined }

/** Bounded label values of `aeg_journal_errors_total`. */
export type JournalErrorReason = 'gone' | 'unauthorized' | 'token' | 'throttled' | 'server' | 'network' | 'invalid_response' | 'invalid_event' | 'enqueue' | 'redis'

export interface JournalClientOptions {
  /** Longest wait for one journal answer (headers and body). */
  timeoutMs: number
}

/**
 * GETs journal pages. Only HTTP and the protocol's headers live here: the
 * `Link rel="next"` of every answer (resolved against the journal URL,
 * otherwise treated as opaque), `retry-after`, and the client-credentials
 * token, granted again once when the journal answers 401.
 */
export class JournalClient {
  readonly #journal: JournalConfig
  readonly #tokens: OAuthTokens
  readonly #timeoutMs: number

  constructor (journal: JournalConfig, tokens: OAuthTokens, opts: JournalClientOptions) {
    this.#journal = journal
    this.#tokens = tokens
    this.#timeoutMs = opts.timeoutMs
  }

  /** The first URL when no position is stored: `latest=true`, the oldest retained events, or a `seek` duration. */
  startUrl (start: 'latest' | 'oldest' | `seek:${string}`): string {
    const url = new URL(this.#journal.url)
    if (start === 'latest') url.searchParams.set('latest', 'true')
    else if (start.startsWith('seek:')) url.searchParams.set('seek', start.slice('seek:'.length))
    return url.href
  }

  /** The URL after a stored position (`since` is exclusive: the events after it). */
  sinceUrl (position: string): string {
    const url = new URL(this.#journal.url)
    url.searchParams.set('since', position)
    return url.href
  }

  /** One GET of `url`; never throws (every failure is a `retry` answer). */
  async get (url: string, signal?: AbortSignal): Promise<JournalAnswer> {
    let response: Response
    try {
      response = await this.#request(url, await this.#token(), signal)
      if (response.status === 401) {
        await response.body?.cancel()
        // An expired or revoked token: one fresh grant, then the journal's answer stands.
        this.#tokens.invalidate()
        response = await this.#request(url, await this.#token(), signal)
      }
    } catch (err) {
      if (err instanceof TokenError) return { kind: 'retry', reason: 'token', detail: err.message, retryAfterMs: undefined }
      return { kind: 'retry', reason: 'network', detail: describeFailure(err, this.#timeoutMs), retryAfterMs: undefined }
    }
    try {
      return await this.#interpret(response)
    } catch (err) {
      return { kind: 'retry', reason: 'network', detail: describeFailure(err, this.#timeoutMs), retryAfterMs: undefined }
    }
  }

  async #token (): Promise<string> {
    try {
      return await this.#tokens.token()
    } catch (err) {
      throw new TokenError((err as Error).message)
    }
  }

  async #request (url: string, token: string, signal: AbortSignal | undefined): Promise<Response> {
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    return await fetch(url, {
      headers: {
        authorization: `Bearer ${token}`,
        'x-api-key': this.#tokens.clientId,
        'x-ims-org-id': this.#journal.imsOrgId,
        accept: 'application/json'
      },
      redirect: 'error',
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    })
  }

  async #interpret (response: Response): Promise<JournalAnswer> {
    const status = response.status
    const next = this.#next(response.headers.get('link'))
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'))
    if (status === 200) {
      const body = await response.json().catch(() => undefined) as { events?: unknown, _page?: { last?: unknown } } | undefined
      if (body === undefined || !Array.isArray(body.events) || !body.events.every(isEntry)) {
        return { kind: 'retry', reason: 'invalid_response', detail: '200 without an events array of {position, event}', retryAfterMs }
      }
      const last = typeof body._page?.last === 'string' ? body._page.last : (body.events.at(-1) as JournalEntry | undefined)?.position
      return { kind: 'page', entries: body.events as JournalEntry[], last, next }
    }
    await response.body?.cancel()
    if (status === 204) return { kind: 'empty', next, retryAfterMs }
    if (status === 410) return { kind: 'gone' }
    if (status === 401 || status === 403) return { kind: 'unauthorized' }
    if (status === 429) return { kind: 'retry', reason: 'throttled', detail: 'journal answered 429', retryAfterMs }
    return { kind: 'retry', reason: status >= 500 ? 'server' : 'invalid_response', detail: `journal answered ${status}`, retryAfterMs }
  }

  /** The `rel="next"` link, absolute (Adobe sends it relative to the journal's origin). */
  #next (header: string | null): string | undefined {
    if (header === null || header === '') return undefined
    try {
      const link = LinkHeader.parse(header).rel('next')[0]
      return link === undefined ? undefined : new URL(link.uri, this.#journal.url).href
    } catch {
      return undefined
    }
  }
}

/** The client-credentials grant failed (IMS down or refusing): not the journal's fault. */
class TokenError extends Error {}

function isEntry (value: unknown): value is JournalEntry {
  return value !== null && typeof value === 'object' && typeof (value as JournalEntry).position === 'string' && 'event' in value
}

/** `retry-after` as delta seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter (value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** One line for a failed request, without URL query strings or tokens. */
function describeFailure (err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string } }
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
  if (e.name === 'AbortError') return 'aborted'
  return e.cause?.code ?? e.message
}
