import type { GatewayFileConfig, JournalConfig } from './config.ts'
import type { RedisClient } from './redis.ts'

/** Where the reader goes next after an operator's reset (`npm run journal -- reset`). */
export type JournalReset = 'latest' | 'oldest' | `seek:${string}`

/** What the reader needs to make its next request. */
export interface JournalCursor {
  /** The `next` link last stored: the URL of the page after the last one consumed. */
  next: string | undefined
  /** `_page.last` of the last page consumed. */
  position: string | undefined
  /** Bumped by every reset; a page read before a reset never overwrites what the reset wrote. */
  generation: string
  /** A pending reset, applied by the reader's next request. */
  reset: JournalReset | undefined
  /** Every event published up to this time is queued (see JournalStatus). */
  through: string | undefined
}

/** One source's stored journal state, as operators see it (`/admin/journal`, `npm run journal -- status`). */
export interface JournalStatus {
  next: string | null
  position: string | null
  reset: string | null
  updatedAt: string | null
  lastEventTime: string | null
  /** Every journal event published up to this time is queued: the newest event read, or the last 204's request. */
  through: string | null
  /** When the journal last had nothing newer (a 204). */
  caughtUpAt: string | null
  /** Seconds from `through` to now: grows while the reader is behind, failing or not running. */
  lagSeconds: number | null
  queued: number
  duplicate: number
  errors: Record<string, number>
  /** Who reads it now (`<pid>:<random>`), and for how much longer unless renewed. */
  reader: { holder: string, ttlMs: number } | null
}

/** Fields and counters one commit writes; counters are added even when the position is not written. */
export interface JournalCommit {
  set?: Record<string, string>
  del?: string[]
  incr?: Record<string, number>
}

/**
 * Counters first (what was queued was queued), then the position fields, but
 * only while the writer still holds the lease and no reset happened since it
 * read the cursor: a reader that lost its lease, or read before a reset, can
 * never move the position.
 */
const COMMIT = `
local incr = cjson.decode(ARGV[3])
for field, n in pairs(incr) do redis.call('HINCRBY', KEYS[1], field, n) end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if (redis.call('HGET', KEYS[1], 'generation') or '0') ~= ARGV[2] then return 0 end
local set = cjson.decode(ARGV[4])
for field, value in pairs(set) do redis.call('HSET', KEYS[1], field, value) end
local del = cjson.decode(ARGV[5])
if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
return 1`

/** The sources of the config that read a journal. */
export function journalSources (config: Pick<GatewayFileConfig, 'sources'>): { name: string, journal: JournalConfig }[] {
  return config.sources.flatMap(s => s.kind === 'adobe-io-events' && s.journal !== undefined ? [{ name: s.name, journal: s.journal }] : [])
}

/** Journal state keys of one source; under the queue prefix, so a Redis Cluster hash tag covers them too. */
export const journalKeys = (prefix: string, source: string) => ({
  state: `${prefix}:journal:${source}`,
  lease: `${prefix}:journal:${source}:lease`
})

/**
 * A source's journal position and counters in one Redis hash
 * (`<prefix>:journal:<source>`): `next`, `position`, `generation`, `reset`,
 * `updatedAt`, `lastEventTime`, `through`, `caughtUpAt`, `queued`, `duplicate`,
 * `errors:<reason>`. Workers write it; the gateway's metrics and admin route
 * and the `journal` command read it.
 */
export class JournalPositions {
  readonly #redis: RedisClient
  readonly #prefix: string

  constructor (redis: RedisClient, prefix: string) {
    this.#redis = redis
    this.#prefix = prefix
  }

  async read (source: string): Promise<JournalCursor> {
    const [next, position, generation, reset, through] = await this.#redis.hmget(journalKeys(this.#prefix, source).state, 'next', 'position', 'generation', 'reset', 'through')
    return { next: next ?? undefined, position: position ?? undefined, generation: generation ?? '0', reset: (reset ?? undefined) as JournalReset | undefined, through: through ?? undefined }
  }

  /** Writes a commit fenced by the lease token and the cursor's generation. */
  async commit (source: string, leaseToken: string, generation: string, commit: JournalCommit): Promise<'written' | 'reset' | 'lease-lost'> {
    const keys = journalKeys(this.#prefix, source)
    const result = Number(await this.#redis.eval(COMMIT, 2, keys.state, keys.lease, leaseToken, generation,
      JSON.stringify(commit.incr ?? {}), JSON.stringify(commit.set ?? {}), JSON.stringify(commit.del ?? [])))
    return result === 1 ? 'written' : result === 0 ? 'reset' : 'lease-lost'
  }

  async countError (source: string, reason: string): Promise<void> {
    await this.#redis.hincrby(journalKeys(this.#prefix, source).state, `errors:${reason}`, 1)
  }

  /**
   * Makes the reader start over from `to` at its next request: the stored
   * link, position and `through` are dropped and the generation bumped, so a
   * page being read right now cannot write its position over the reset.
   */
  async reset (source: string, to: JournalReset): Promise<void> {
    const key = journalKeys(this.#prefix, source).state
    await this.#redis.multi()
      .hincrby(key, 'generation', 1)
      .hdel(key, 'next', 'position', 'through')
      .hset(key, 'reset', to, 'updatedAt', new Date().toISOString())
      .exec()
  }

  /** Every stored field of one source, for operators. */
  async status (source: string): Promise<JournalStatus> {
    const keys = journalKeys(this.#prefix, source)
    const [hash, holder, ttlMs] = await Promise.all([
      this.#redis.hgetall(keys.state),
      this.#redis.get(keys.lease),
      this.#redis.pttl(keys.lease)
    ])
    const errors: Record<string, number> = {}
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith('errors:')) errors[field.slice('errors:'.length)] = Number(value)
    }
    const through = hash.through === undefined ? Number.NaN : Date.parse(hash.through)
    return {
      next: hash.next ?? null,
      position: hash.position ?? null,
      reset: hash.reset ?? null,
      updatedAt: hash.updatedAt ?? null,
      lastEventTime: hash.lastEventTime ?? null,
      through: hash.through ?? null,
      caughtUpAt: hash.caughtUpAt ?? null,
      lagSeconds: Number.isNaN(through) ? null : Math.max(0, (Date.now() - through) / 1000),
      queued: Number(hash.queued ?? 0),
      duplicate: Number(hash.duplicate ?? 0),
      errors,
      reader: holder === null ? null : { holder, ttlMs }
    }
  }
}
