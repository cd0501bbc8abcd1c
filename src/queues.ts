import { createHash } from 'node:crypto'

/** Queue names; all live under the configured `QUEUE_PREFIX`. */
export const QUEUE = {
  events: 'events',
  forward: 'forward',
  outputs: 'outputs'
} as const

export type QueueName = typeof QUEUE[keyof typeof QUEUE]

/**
 * A BullMQ-safe id derived from one or more parts. Raw envelope ids may hold
 * `:` (forbidden in job ids) and are unbounded in length; a hash is neither.
 */
export function jobIdFor (...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 32)
}
