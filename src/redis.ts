import { Redis, type RedisOptions } from 'ioredis'

/**
 * The edge's Redis connection: it fails fast instead of buffering commands while
 * Redis is away, so a request is answered 503 at once rather than hanging past
 * Adobe's 10 s budget. It reconnects by itself when Redis returns.
 */
export function createEdgeRedis (url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    // Buffered only until the first connect: BullMQ sends its setup commands at
    // construction time. From then on a command during an outage fails at once.
    enableOfflineQueue: true,
    // Commands in flight when a connection drops are replayed on reconnect rather
    // than failed: the request itself is bounded by the ack budget.
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: 'aeg-edge',
    ...options
  })
  redis.once('ready', () => { redis.options.enableOfflineQueue = false })
  return redis
}

/**
 * A worker's Redis connection: BullMQ needs `maxRetriesPerRequest: null` for its
 * blocking commands, and workers may wait for Redis rather than fail.
 */
export function createWorkerRedis (url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: 'aeg-worker',
    ...options
  })
}

/** PING with a deadline: true when Redis answered in time. */
export async function redisAnswers (redis: Redis, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      redis.ping().then(r => r === 'PONG'),
      new Promise<boolean>(resolve => { timer = setTimeout(resolve, timeoutMs, false) })
    ])
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Closes a connection without waiting on one that is not up: QUIT would sit in
 * the offline queue for a server that may never answer.
 */
export async function closeRedis (redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
}

/** Waits for `work` at most `ms`; shutdown must not hang on a Redis that is gone. */
export async function within (work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    work.then(() => {}, () => {}),
    new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })
  ])
  clearTimeout(timer)
}
