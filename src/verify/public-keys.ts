import { createPublicKey, type KeyObject } from 'node:crypto'
import type { Logger } from 'pino'

/** The only public-key paths we ever fetch: `/a/b.pem`, no traversal, no escapes. */
const SAFE_KEY_PATH = /^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\.pem$/

export function isSafeKeyPath (path: string): boolean {
  return SAFE_KEY_PATH.test(path) && !path.includes('%') && !path.split('/').some(s => s === '..' || s === '.')
}

/** Why a key could not be had; always a retriable fault on our side. */
export class KeyFetchError extends Error {
  /** The key host is failing (down, 5xx, timeout), as opposed to this one path. */
  readonly hostFault: boolean
  /** The key path that could not be had. */
  readonly path: string

  constructor (path: string, message: string, options: { cause?: unknown, hostFault?: boolean } = {}) {
    super(message, { cause: options.cause })
    this.name = 'KeyFetchError'
    this.path = path
    this.hostFault = options.hostFault ?? false
  }
}

export interface PublicKeyCacheOptions {
  baseUrl: string
  ttlMs: number
  timeoutMs: number
  log: Logger
  /** How long a failed fetch is remembered before the next try. */
  failureTtlMs?: number
  /** Keys kept (only paths the key server served a key for). */
  maxEntries?: number
  /** Failed paths remembered (their answer and whether their failure was logged). */
  maxFailures?: number
  /**
   * Fetches of paths never served before, per `fetchWindowMs`. Key paths come
   * from unauthenticated headers: without a budget every request with a new
   * made-up path would cost an outbound fetch and an error line.
   */
  maxNewPathFetches?: number
  fetchWindowMs?: number
  maxPemBytes?: number
}

interface Entry { key: KeyObject, expires: number }
interface Failure { error: KeyFetchError, expires: number, reported: boolean }

/**
 * Adobe I/O Events public keys by path, fetched from one fixed base URL,
 * cached (at most the configured TTL), fetched once for concurrent requests,
 * with failures remembered briefly and logged once per outage rather than
 * once per path or request.
 *
 * Failures are kept apart from keys, so made-up paths in hostile requests can
 * neither evict Adobe's keys nor grow memory, and fetches of never-seen paths
 * are budgeted per window (over budget answers 503 without a fetch).
 */
export class PublicKeyCache {
  readonly #opts: Required<PublicKeyCacheOptions>
  readonly #entries = new Map<string, Entry>()
  readonly #failures = new Map<string, Failure>()
  readonly #inflight = new Map<string, Promise<KeyObject>>()
  /** The key host is failing since…; one error line per outage, not per path or request. */
  #outage: { since: number, suppressed: number } | undefined
  /** Start times of new-path fetches in the current window. */
  #newPathFetches: number[] = []
  #budgetLogged = false

  constructor (opts: PublicKeyCacheOptions) {
    this.#opts = { failureTtlMs: 5000, maxEntries: 64, maxFailures: 256, maxNewPathFetches: 16, fetchWindowMs: 10_000, maxPemBytes: 16384, ...opts }
  }

  /**
   * The key for a safe path: returned synchronously on a cache hit (no await on
   * the hot path), otherwise a promise. Rejects with KeyFetchError.
   */
  get (path: string): KeyObject | Promise<KeyObject> {
    const now = Date.now()
    const entry = this.#entries.get(path)
    if (entry !== undefined && entry.expires > now) return entry.key
    const failure = this.#failures.get(path)
    if (failure !== undefined && failure.expires > now) return Promise.reject(failure.error)
    let pending = this.#inflight.get(path)
    if (pending === undefined) {
      // A path that once gave a key (expired now) is refreshed whatever the budget.
      if (entry === undefined && !this.#takeNewPathBudget(now)) {
        return Promise.reject(new KeyFetchError(path, 'too many fetches of unknown key paths; not fetched'))
      }
      pending = this.#fetch(path).finally(() => this.#inflight.delete(path))
      this.#inflight.set(path, pending)
    }
    return pending
  }

  #takeNewPathBudget (now: number): boolean {
    const { fetchWindowMs, maxNewPathFetches } = this.#opts
    this.#newPathFetches = this.#newPathFetches.filter(t => now - t < fetchWindowMs)
    if (this.#newPathFetches.length >= maxNewPathFetches) {
      if (!this.#budgetLogged) {
        this.#budgetLogged = true
        this.#opts.log.warn({ maxNewPathFetches, fetchWindowMs }, 'too many unknown public key paths requested; further ones answer 503 without a fetch until the window passes')
      }
      return false
    }
    this.#budgetLogged = false
    this.#newPathFetches.push(now)
    return true
  }

  async #fetch (path: string): Promise<KeyObject> {
    if (!isSafeKeyPath(path)) throw new KeyFetchError(path, 'unsafe key path')
    const url = this.#opts.baseUrl + path
    try {
      const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.#opts.timeoutMs) })
      if (res.status !== 200) {
        await res.body?.cancel()
        // 5xx and 429 are the host's trouble; any other answer is about this path.
        throw new KeyFetchError(path, `key server answered ${res.status}`, { hostFault: res.status >= 500 || res.status === 429 })
      }
      const pem = await readCapped(res, this.#opts.maxPemBytes)
      let key: KeyObject
      try {
        key = createPublicKey(pem)
      } catch (err) {
        throw new KeyFetchError(path, 'key server returned something that is not a PEM public key', { cause: err })
      }
      if (key.asymmetricKeyType !== 'rsa') throw new KeyFetchError(path, `expected an RSA key, got ${key.asymmetricKeyType}`)
      setBounded(this.#entries, path, { key, expires: Date.now() + this.#opts.ttlMs }, this.#opts.maxEntries)
      this.#failures.delete(path)
      this.#hostAnswered(path)
      return key
    } catch (err) {
      // Network errors and timeouts are the host's trouble too.
      const error = err instanceof KeyFetchError ? err : new KeyFetchError(path, `key fetch failed: ${(err as Error).message}`, { cause: err, hostFault: true })
      const reported = this.#failures.get(path)?.reported ?? false
      setBounded(this.#failures, path, { error, expires: Date.now() + this.#opts.failureTtlMs, reported: true }, this.#opts.maxFailures)
      if (error.hostFault) {
        // One error line per outage of the key host, whatever the paths.
        if (this.#outage === undefined) {
          this.#outage = { since: Date.now(), suppressed: 0 }
          this.#opts.log.error({ keyPath: path, keyUrl: url, err: error }, 'public key fetch failed; signed requests answer 503 until it recovers')
        } else {
          this.#outage.suppressed++
          this.#opts.log.debug({ keyPath: path, reason: error.message }, 'public key fetch failed again')
        }
      } else {
        // The host answered, about this path only (a made-up path, a retired
        // key, a bad file): one warning per path, and no outage hidden or opened.
        this.#hostAnswered(path)
        if (!reported) this.#opts.log.warn({ keyPath: path, keyUrl: url, reason: error.message }, 'public key not available at this path; requests signed with it answer 503')
      }
      throw error
    }
  }

  #hostAnswered (path: string): void {
    if (this.#outage === undefined) return
    this.#opts.log.info({ keyPath: path, failuresSuppressed: this.#outage.suppressed, outageMs: Date.now() - this.#outage.since }, 'public key host answers again')
    this.#outage = undefined
  }

  /** Sizes of the internal maps (for tests asserting they stay bounded). */
  get sizes (): { keys: number, failures: number } {
    return { keys: this.#entries.size, failures: this.#failures.size }
  }
}

/** Sets an entry, dropping the oldest when the map is full (Maps keep insertion order). */
function setBounded<V> (map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key)
  if (map.size >= max) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
  map.set(key, value)
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
