import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis'
import { withDeadline } from './deadline.ts'

/** A connection to a standalone Redis or to a Redis Cluster; everything above this module takes either. */
export type RedisClient = Redis | Cluster

/** Where Redis is: `redisUrl`, or Redis Cluster seed nodes (then `redisUrl` only lends its credentials and TLS). */
export interface RedisTarget {
  redisUrl: string
  redisClusterNodes?: ClusterNode[]
}

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000)

/**
 * Per-node options of a cluster client from REDIS_URL: its user, password and
 * TLS (`rediss:`) apply to every node; host, port and database do not (a
 * cluster has only database 0, and its nodes come from the seeds).
 */
export function clusterNodeOptions (url: string): RedisOptions {
  const u = new URL(url)
  return {
    ...(u.username !== '' && { username: decodeURIComponent(u.username) }),
    ...(u.password !== '' && { password: decodeURIComponent(u.password) }),
    ...(u.protocol === 'rediss:' && { tls: {} })
  }
}

function createCluster (target: RedisTarget & { redisClusterNodes: ClusterNode[] }, nodeOptions: RedisOptions, options: Partial<ClusterOptions> = {}): Cluster {
  return new Cluster(target.redisClusterNodes, {
    clusterRetryStrategy: retryStrategy,
    ...options,
    redisOptions: { ...clusterNodeOptions(target.redisUrl), ...nodeOptions }
  })
}

const isCluster = (target: RedisTarget): target is RedisTarget & { redisClusterNodes: ClusterNode[] } =>
  target.redisClusterNodes !== undefined && target.redisClusterNodes.length > 0

/**
 * The edge's Redis connection: it fails fast instead of buffering commands while
 * Redis is away, so a request is answered 503 at once rather than hanging past
 * Adobe's 10 s budget. It reconnects by itself when Redis returns. With
 * `redisClusterNodes` it is an ioredis Cluster with the same behaviour.
 */
export function createEdgeRedis (url: string, options?: RedisOptions): Redis
export function createEdgeRedis (target: RedisTarget, options?: RedisOptions): RedisClient
export function createEdgeRedis (target: string | RedisTarget, options: RedisOptions = {}): RedisClient {
  const t = typeof target === 'string' ? { redisUrl: target } : target
  const node: RedisOptions = {
    // Commands in flight when a connection drops are replayed on reconnect rather
    // than failed: the request itself is bounded by the ack budget.
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    connectionName: 'aeg-edge',
    ...options
  }
  // Buffered only until the first connect: BullMQ sends its setup commands at
  // construction time. From then on a command during an outage fails at once.
  const redis: RedisClient = isCluster(t)
    ? createCluster(t, node, { enableOfflineQueue: true })
    : new Redis(t.redisUrl, { enableOfflineQueue: true, retryStrategy, ...node })
  redis.once('ready', () => { redis.options.enableOfflineQueue = false })
  return redis
}

/**
 * A worker's Redis connection: BullMQ needs `maxRetriesPerRequest: null` for its
 * blocking commands (on a cluster, in every node's options), and workers may
 * wait for Redis rather than fail.
 */
export function createWorkerRedis (url: string, options?: RedisOptions): Redis
export function createWorkerRedis (target: RedisTarget, options?: RedisOptions): RedisClient
export function createWorkerRedis (target: string | RedisTarget, options: RedisOptions = {}): RedisClient {
  const t = typeof target === 'string' ? { redisUrl: target } : target
  const node: RedisOptions = { maxRetriesPerRequest: null, connectionName: 'aeg-worker', ...options }
  return isCluster(t) ? createCluster(t, node) : new Redis(t.redisUrl, { retryStrategy, ...node })
}

/** PING with a deadline: true when Redis answered in time. */
export async function redisAnswers (redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false
  return await withDeadline(redis.ping(), timeoutMs, () => new Error('no PONG in time')).then(r => r === 'PONG', () => false)
}

/**
 * Closes a connection without waiting on one that is not up: QUIT would sit in
 * the offline queue for a server that may never answer.
 */
export async function closeRedis (redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
}
