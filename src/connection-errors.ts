import type { Logger } from 'pino'

/** Something that reports connection trouble through `'error'` events (ioredis, BullMQ queues and workers). */
interface ErrorEmitter {
  on (event: 'error', listener: (err: Error) => void): unknown
}

/**
 * Logs connection errors (and any other `'error'` events of the clients) without flooding: while Redis refuses connections
 * every client retries every few seconds and each retry emits an error. The
 * first error of a kind from a component is logged at once (with the error);
 * repeats are counted and summarised once per interval; when the connection
 * is back, one line says so.
 */
export class ConnectionErrorLog {
  readonly #log: Logger
  readonly #intervalMs: number
  /** Repeats not yet summarised, by component and error code. */
  readonly #repeats = new Map<string, { component: string, code: string, count: number }>()
  /** Components whose errors were logged since they were last up. */
  readonly #failing = new Set<string>()
  #timer: NodeJS.Timeout | undefined

  constructor (log: Logger, intervalMs = 60_000) {
    this.#log = log
    this.#intervalMs = intervalMs
  }

  /** Routes `emitter`'s errors here; `component` names it in the log (e.g. `queue:forward`). */
  watch (component: string, emitter: ErrorEmitter): void {
    emitter.on('error', (err) => this.report(component, err))
  }

  /** Routes a Redis connection's errors here; its `ready` (a reconnection) ends the outage. */
  watchRedis (component: string, redis: ErrorEmitter & { on (event: 'ready', listener: () => void): unknown }): void {
    this.watch(component, redis)
    redis.on('ready', () => this.recovered())
  }

  /** One error from `component`. */
  report (component: string, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code ?? err.name
    const key = `${component}\n${code}`
    const repeat = this.#repeats.get(key)
    if (repeat !== undefined) {
      repeat.count++
      return
    }
    this.#repeats.set(key, { component, code, count: 0 })
    this.#failing.add(component)
    this.#log.warn({ component, code, err }, 'error; repeats of it are summarised')
    this.#timer ??= setInterval(() => this.#summarise(), this.#intervalMs).unref()
  }

  /**
   * The connection is back (ioredis `ready`): the components watched share it,
   * so each starts afresh, and the next outage's first error is logged at once.
   */
  recovered (): void {
    if (this.#failing.size === 0) return
    this.#summarise()
    this.#log.info({ components: [...this.#failing] }, 'connection restored')
    this.#failing.clear()
    this.#repeats.clear()
  }

  /** Logs the repeats counted so far and starts counting afresh. */
  #summarise (): void {
    for (const repeat of this.#repeats.values()) {
      if (repeat.count > 0) this.#log.warn({ component: repeat.component, code: repeat.code, repeats: repeat.count, intervalMs: this.#intervalMs }, 'error repeated')
      repeat.count = 0
    }
  }

  /** Stops the summary timer (process shutdown). */
  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
