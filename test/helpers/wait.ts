/**
 * Waiting in tests: on an event or a latch where one exists; `eventually` only
 * for state that announces nothing (Redis keys, a child's log). Every wait is
 * bounded, and the bound is a failure guard that names what did not happen,
 * never an assertion on speed.
 */

/** Waits until `check` returns a truthy value, polling; fails after `timeoutMs`. */
export async function eventually<T> (check: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

/** Resolves with `promise`, or fails with `what` if it has not settled after `timeoutMs` (a guard, not a speed check). */
export async function within<T> (promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (guard: ${timeoutMs} ms)`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, guard])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A counter with waiters: `reach(n)` resolves once `count()` has been called
 * `n` times in total (at once if it already has).
 */
export class Latch {
  #count = 0
  #waiters: { n: number, resolve: () => void }[] = []

  get count (): number { return this.#count }

  /** Counts one arrival and wakes the waiters it satisfies. */
  arrive (): void {
    this.#count++
    this.#waiters = this.#waiters.filter(w => {
      if (w.n > this.#count) return true
      w.resolve()
      return false
    })
  }

  /** Resolves once `n` arrivals have been counted; fails after `timeoutMs` naming the shortfall. */
  async reach (n: number, timeoutMs = 30_000): Promise<void> {
    if (this.#count >= n) return
    const reached = new Promise<void>(resolve => this.#waiters.push({ n, resolve }))
    await within(reached, timeoutMs, `expected ${n} arrivals`).catch((err: Error) => {
      throw new Error(`${err.message}; got ${this.#count}`)
    })
  }
}
