/**
 * Settles like `work`, or rejects with `onTimeout()` once `ms` have passed.
 * The timer is cleared either way, so nothing keeps the process alive.
 */
export async function withDeadline<T> (work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Waits for `work` to settle, at most `ms`, whatever its outcome: for closing
 * things that may hang on a peer that is gone (shutdown must not).
 */
export async function settleWithin (work: Promise<unknown>, ms: number): Promise<void> {
  await withDeadline(work, ms, () => new Error('deadline passed')).catch(() => {})
}
