import { randomBytes } from 'node:crypto'
import type { RedisClient } from '../../src/redis.ts'

/** Extends the lease only while this holder still owns it (a lapsed lease may already be someone else's). */
const RENEW = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'PEXPIRE\', KEYS[1], ARGV[2]) end return 0'
/** Deletes the lease only while this holder still owns it. */
const RELEASE = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'DEL\', KEYS[1]) end return 0'

export interface LeaseOptions {
  /** Lifetime of the lease: how long a crashed holder blocks the others. */
  ttlMs: number
}

/**
 * One holder at a time for a named resource, across processes: `SET key token
 * NX PX ttl`. The holder renews well inside the lifetime; a graceful stop
 * deletes it; a holder that died stops renewing and the lease lapses by itself.
 * Renew and release compare the token first, so a holder whose lease lapsed
 * (a long pause) can never extend or delete its successor's.
 */
export class Lease {
  /** This holder's token: what the key holds while we own it (also fences position writes). */
  readonly token = `${process.pid}:${randomBytes(9).toString('base64url')}`
  readonly key: string
  readonly ttlMs: number
  readonly #redis: RedisClient

  constructor (redis: RedisClient, key: string, opts: LeaseOptions) {
    this.#redis = redis
    this.key = key
    this.ttlMs = opts.ttlMs
  }

  /** Takes the lease if nobody holds it; true when it is ours now. */
  async acquire (): Promise<boolean> {
    return (await this.#redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK'
  }

  /** Extends our lease; false when it is no longer ours (lapsed, or taken over). */
  async renew (): Promise<boolean> {
    return Number(await this.#redis.eval(RENEW, 1, this.key, this.token, String(this.ttlMs))) === 1
  }

  /** Gives the lease up if it is still ours, so another process can take over at once. */
  async release (): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.key, this.token)
  }
}
