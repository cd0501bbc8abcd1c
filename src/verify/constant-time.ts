import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

// Both sides are hashed with a per-process key first, so the comparison takes
// the same time whatever the lengths and contents of the two values.
const compareKey = randomBytes(32)

/** Constant-time equality of two secrets (strings or bytes) of any length. */
export function safeEqual (a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHmac('sha256', compareKey).update(a).digest()
  const hb = createHmac('sha256', compareKey).update(b).digest()
  return timingSafeEqual(ha, hb)
}

/** Constant-time: does `presented` equal any of `expected`? Every candidate is compared. */
export function safeEqualAny (presented: string | Buffer, expected: readonly (string | Buffer)[]): boolean {
  let match = false
  for (const candidate of expected) match = safeEqual(presented, candidate) || match
  return match
}
