import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { Redis } from 'ioredis'

/** The shared Redis every test uses unless it needs a private one (redis-server.ts). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A queue prefix of its own for one test, so tests never see each other's keys. */
export function uniquePrefix (): string {
  return `{aegt-${randomBytes(5).toString('hex')}}`
}

/** Every key under a prefix (SCAN, not KEYS; a large COUNT keeps it quick on a Redis that holds other keys). */
export async function keysUnder (redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000)
    cursor = next
    found.push(...keys)
  } while (cursor !== '0')
  return found
}

/** Deletes every key under a prefix. */
export async function deletePrefix (redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix)
  for (let i = 0; i < keys.length; i += 10_000) await redis.del(...keys.slice(i, i + 10_000))
}

/** A Redis client for assertions; closed, and the prefix wiped, at teardown. */
export function testRedis (t: Test, prefix: string): Redis {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  t.teardown(async () => {
    await deletePrefix(redis, prefix)
    await redis.quit()
  })
  return redis
}

/**
 * Deletes a prefix on a connection of its own: for cleanups that run after
 * workers stopped (a worker writes queue meta and stalled-check keys until it
 * is closed, which can be after the test's own cleanup ran).
 */
export async function wipe (prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url)
  try {
    await deletePrefix(redis, prefix)
  } finally {
    await redis.quit()
  }
}

/** Redis `used_memory` in bytes. */
export async function usedMemory (redis: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1])
}
