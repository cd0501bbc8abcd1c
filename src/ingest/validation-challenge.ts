import type { FastifyBaseLogger } from 'fastify'
import { validationUrlRejected } from '../errors.ts'
import { checkUrl, type UrlPolicy } from '../net/allowed-url.ts'

/** Adobe expects the validation URL fetched within 5 minutes; these delays fit well inside. */
const ATTEMPT_DELAYS_MS = [0, 5_000, 30_000, 120_000]

/**
 * The asynchronous challenge: a signed `{"validationUrl"}` body is answered 200
 * at once and the URL is fetched (GET) in the background, retried a few times
 * within Adobe's 5-minute window. Only URLs on the validation allow-list.
 */
export class ValidationChallenge {
  readonly #policy: UrlPolicy
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #delays: readonly number[]
  readonly #timeoutMs: number

  constructor (policy: UrlPolicy, options: { delaysMs?: readonly number[], timeoutMs?: number } = {}) {
    this.#policy = policy
    this.#delays = options.delaysMs ?? ATTEMPT_DELAYS_MS
    this.#timeoutMs = options.timeoutMs ?? 10_000
  }

  /** Checks the URL (400 when not allowed) and schedules the confirmation. */
  schedule (rawUrl: string, log: FastifyBaseLogger): void {
    const checked = checkUrl(rawUrl, this.#policy)
    if (!checked.ok) throw validationUrlRejected(checked.reason)
    this.#attempt(checked.url, 0, log)
  }

  #attempt (url: URL, index: number, log: FastifyBaseLogger): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.#timeoutMs) })
        .then(async res => {
          await res.body?.cancel()
          if (!res.ok) throw new Error(`answered ${res.status}`)
          log.info({ validationHost: url.host }, 'webhook validation URL confirmed')
        })
        .catch((err: Error) => {
          const next = index + 1
          if (next < this.#delays.length) {
            log.warn({ validationHost: url.host, attempt: next, reason: err.message }, 'webhook validation URL fetch failed; will retry')
            this.#attempt(url, next, log)
          } else {
            log.error({ validationHost: url.host, reason: err.message }, 'webhook validation URL could not be confirmed; re-trigger the registration in Adobe Developer Console')
          }
        })
    }, this.#delays[index])
    timer.unref()
    this.#timers.add(timer)
  }

  close (): void {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }
}
