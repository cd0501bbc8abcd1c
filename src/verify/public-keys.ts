import { createPublicKey, type KeyObject } from 'node:crypto'
import type { Logger } from 'pino'

/** The only public-key paths we ever fetch: `/a/b.pem`, no traversal, no escapes. */
const SAFE_KEY_PATH = /^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\.pem$/

export function isSafeKeyPath (path: string): boolean {
  return SAFE_KEY_PATH.test(path) && !path.includes('%') && !path.split('/').some(s => s === '..' || s === '.')
}

/** Why a key could not be had; always a retriable fault on our side. */
export class KeyFetchError extends Error {
  constructor (readonly path: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KeyFetchError'
  }
}

export interface PublicKeyCacheOptions {
  baseUrl: string
  ttlMs: number
  timeoutMs: number
  log: Logger
  /** How long a failed fetch is remembered before the next try. */
  failureTtlMs?: number
  /** Good keys kept at most. */
  maxEntries?: number
  /** Remembered failures kept at most. */
  maxFailures?: number
  /** Distinct key fetches running at once at most; more answer 503 at once. */
  maxInflight?: number
  maxPemBytes?: number
}

/**
 * Adobe I/O Events public keys by path, fetched from one fixed base URL,
 * cached (at most the configured TTL), fetched once for concurrent requests.
 * The path comes from an unauthenticated header, so what a stranger can make
 * it do is bounded: failures are remembered briefly in a cache of their own
 * (they never push a good key out), only a few distinct fetches run at once,
 * and a failure is logged once per outage rather than once per path or request.
 */
export class PublicKeyCache {
  readonly #opts: Required<PublicKeyCacheOptions>
  readonly #keys = new Map<string, { key: KeyObject, expires: number }>()
  readonly #failures = new Map<string, { error: KeyFetchError, expires: number }>()
  readonly #inflight = new Map<string, Promise<KeyObject>>()
  #outage: { since: number, suppressed: number } | undefined

  constructor (opts: PublicKeyCacheOptions) {
    this.#opts = { failureTtlMs: 5000, maxEntries: 64, maxFailures: 256, maxInflight: 4, maxPemBytes: 16384, ...opts }
  }

  /**
   * The key for a safe path: returned synchronously on a cache hit (no await on
   * the hot path), otherwise a promise. Rejects with KeyFetchError.
   */
  get (path: string): KeyObject | Promise<KeyObject> {
    const now = Date.now()
    const hit = this.#keys.get(path)
    if (hit !== undefined && hit.expires > now) return hit.key
    const failure = this.#failures.get(path)
    if (failure !== undefined && failure.expires > now) return Promise.reject(failure.error)
    let pending = this.#inflight.get(path)
    if (pending === undefined) {
      if (this.#inflight.size >= this.#opts.maxInflight) {
        return Promise.reject(new KeyFetchError(path, `more than ${this.#opts.maxInflight} different keys are being fetched at once`))
      }
      pending = this.#fetch(path).finally(() => this.#inflight.delete(path))
      this.#inflight.set(path, pending)
    }
    return pending
  }

  async #fetch (path: string): Promise<KeyObject> {
    if (!isSafeKeyPath(path)) throw new KeyFetchError(path, 'unsafe key path')
    const url = this.#opts.baseUrl + path
    try {
      const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.#opts.timeoutMs) })
      if (res.status !== 200) {
        await res.body?.cancel()
        throw new KeyFetchError(path, `key server answered ${res.status}`)
      }
      const pem = await readCapped(res, this.#opts.maxPemBytes)
      let key: KeyObject
      try {
        key = createPublicKey(pem)
      } catch (err) {
        throw new KeyFetchError(path, 'key server returned something that is not a PEM public key', { cause: err })
      }
      if (key.asymmetricKeyType !== 'rsa') throw new KeyFetchError(path, `expected an RSA key, got ${key.asymmetricKeyType}`)
      remember(this.#keys, path, { key, expires: Date.now() + this.#opts.ttlMs }, this.#opts.maxEntries)
      this.#failures.delete(path)
      if (this.#outage !== undefined) {
        this.#opts.log.info({ keyPath: path, failuresSuppressed: this.#outage.suppressed, outageMs: Date.now() - this.#outage.since }, 'public key fetch recovered')
        this.#outage = undefined
      }
      return key
    } catch (err) {
      const error = err instanceof KeyFetchError ? err : new KeyFetchError(path, `key fetch failed: ${(err as Error).message}`, { cause: err })
      remember(this.#failures, path, { error, expires: Date.now() + this.#opts.failureTtlMs }, this.#opts.maxFailures)
      if (this.#outage === undefined) {
        this.#outage = { since: Date.now(), suppressed: 0 }
        this.#opts.log.error({ keyPath: path, keyUrl: url, err: error }, 'public key fetch failed; signed requests answer 503 until it recovers')
      } else {
        this.#outage.suppressed++
        this.#opts.log.debug({ keyPath: path, reason: error.message }, 'public key fetch failed again')
      }
      throw error
    }
  }
}

/** Sets an entry, dropping the oldest when the map is full. */
function remember<V> (map: Map<string, V>, path: string, value: V, max: number): void {
  map.delete(path)
  if (map.size >= max) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
  map.set(path, value)
}

async function readCapped (res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > max) {
    await res.body?.cancel()
    throw new Error(`key larger than ${max} bytes`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength
    if (size > max) throw new Error(`key larger than ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
