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
  /** A BullMQ queue re-emits its connection's error object: each object counts once. */
  readonly #seen = new WeakSet<Error>()
  #timer: NodeJS.Timeout | undefined

  constructor (log: Logger, intervalMs = 60_000) {
    this.#log = log
    this.#intervalMs = intervalMs
  }

  /** Routes `emitter`'s errors here; `component` names it in the log (e.g. `queue:forward`). */
  watch (component: string, emitter: ErrorEmitter): void {
    emitter.on('error', (err) => this.report(component, err))
  }

  /**
   * Routes a Redis connection's errors here; its `ready` (a reconnection) ends
   * the outage of `component` and of the components named in `alsoBack`
   * (clients whose own reconnection is not observable, e.g. BullMQ workers'
   * blocking connections to the same server).
   */
  watchRedis (component: string, redis: ErrorEmitter & { on (event: 'ready', listener: () => void): unknown }, alsoBack: string[] = []): void {
    this.watch(component, redis)
    redis.on('ready', () => this.recovered([component, ...alsoBack]))
  }

  /** One error from `component`. */
  report (component: string, err: Error): void {
    if (this.#seen.has(err)) return
    this.#seen.add(err)
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
   * These components' connection is back (ioredis `ready`): their repeats are
   * summarised, one line says so, and their next outage's first error is
   * logged at once.
   */
  recovered (components: string[]): void {
    const back = components.filter(c => this.#failing.has(c))
    if (back.length === 0) return
    this.#summarise(back)
    this.#log.info({ components: back }, 'connection restored')
    for (const component of back) this.#failing.delete(component)
    for (const [key, repeat] of this.#repeats) if (back.includes(repeat.component)) this.#repeats.delete(key)
  }

  /** Logs the repeats counted so far (of `only` these components) and starts counting afresh. */
  #summarise (only?: string[]): void {
    for (const repeat of this.#repeats.values()) {
      if (only !== undefined && !only.includes(repeat.component)) continue
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
