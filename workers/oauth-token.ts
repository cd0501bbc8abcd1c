import type { OAuthConfig } from '../src/config.ts'

export interface OAuthTokensOptions {
  timeoutMs: number
  now?: () => number
}

/**
 * OAuth server-to-server access tokens (client-credentials grant) for
 * fetching Firefly services' status URLs. One token per process, reused until
 * shortly before it expires; concurrent callers share one token request.
 */
export class OAuthTokens {
  readonly clientId: string
  readonly #config: OAuthConfig
  readonly #timeoutMs: number
  readonly #now: () => number
  #cached: { token: string, refreshAt: number } | undefined
  #pending: Promise<string> | undefined

  constructor (config: OAuthConfig, opts: OAuthTokensOptions) {
    this.clientId = config.clientId
    this.#config = config
    this.#timeoutMs = opts.timeoutMs
    this.#now = opts.now ?? Date.now
  }

  /** A valid access token, from the cache or a new grant. */
  async token (): Promise<string> {
    if (this.#cached !== undefined && this.#now() < this.#cached.refreshAt) return this.#cached.token
    this.#pending ??= this.#request().finally(() => { this.#pending = undefined })
    return await this.#pending
  }

  /** Forgets the cached token (after a 401 with it). */
  invalidate (): void {
    this.#cached = undefined
  }

  async #request (): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.#config.clientId,
      client_secret: this.#config.clientSecret,
      scope: this.#config.scopes.join(',')
    })
    let response: Response
    try {
      response = await fetch(this.#config.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form,
        signal: AbortSignal.timeout(this.#timeoutMs)
      })
    } catch (err) {
      throw new Error(`OAuth token request failed: ${(err as Error).name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : (err as Error).message}`)
    }
    if (!response.ok) {
      await response.body?.cancel()
      throw new Error(`OAuth token endpoint answered ${response.status}`)
    }
    const body = await response.json().catch(() => undefined) as { access_token?: unknown, expires_in?: unknown } | undefined
    if (typeof body?.access_token !== 'string' || body.access_token === '') throw new Error('OAuth token endpoint answered without an access_token')
    // IMS gives expires_in in seconds (24 h); renew a minute early, or at 90 % for short-lived tokens.
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600) * 1000
    this.#cached = { token: body.access_token, refreshAt: this.#now() + lifetimeMs - Math.min(60_000, lifetimeMs / 10) }
    return body.access_token
  }
}
