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
  maxEntries?: number
  maxPemBytes?: number
}

interface Entry { key?: KeyObject, error?: KeyFetchError, expires: number }

/**
 * Adobe I/O Events public keys by path, fetched from one fixed base URL,
 * cached (at most the configured TTL), fetched once for concurrent requests,
 * with failures remembered briefly and logged once per outage rather than
 * once per request.
 */
export class PublicKeyCache {
  readonly #opts: Required<PublicKeyCacheOptions>
  readonly #entries = new Map<string, Entry>()
  readonly #inflight = new Map<string, Promise<KeyObject>>()
  readonly #failing = new Set<string>()

  constructor (opts: PublicKeyCacheOptions) {
    this.#opts = { failureTtlMs: 5000, maxEntries: 64, maxPemBytes: 16384, ...opts }
  }

  /**
   * The key for a safe path: returned synchronously on a cache hit (no await on
   * the hot path), otherwise a promise. Rejects with KeyFetchError.
   */
  get (path: string): KeyObject | Promise<KeyObject> {
    const entry = this.#entries.get(path)
    if (entry !== undefined && entry.expires > Date.now()) {
      if (entry.key !== undefined) return entry.key
      return Promise.reject(entry.error)
    }
    let pending = this.#inflight.get(path)
    if (pending === undefined) {
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
      this.#remember(path, { key, expires: Date.now() + this.#opts.ttlMs })
      if (this.#failing.delete(path)) this.#opts.log.info({ keyPath: path }, 'public key fetch recovered')
      return key
    } catch (err) {
      const error = err instanceof KeyFetchError ? err : new KeyFetchError(path, `key fetch failed: ${(err as Error).message}`, { cause: err })
      this.#remember(path, { error, expires: Date.now() + this.#opts.failureTtlMs })
      if (!this.#failing.has(path)) {
        this.#failing.add(path)
        this.#opts.log.error({ keyPath: path, keyUrl: url, err: error }, 'public key fetch failed; signed requests answer 503 until it recovers')
      }
      throw error
    }
  }

  #remember (path: string, entry: Entry): void {
    this.#entries.delete(path)
    if (this.#entries.size >= this.#opts.maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
    this.#entries.set(path, entry)
  }
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
