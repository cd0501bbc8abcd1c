import { isTerminalStatus } from './ingest/envelope.ts'
import { jobIdFor } from './queues.ts'
import type { RedisClient } from './redis.ts'

/** One event that reported a status for a job. */
export interface StatusEntry {
  status: string
  eventId: string
  source: string
  time: string
  /** The provider's error code, for a failed job that reported one. */
  error?: string
}

/** What became of one output of a job (URL recorded without its query string: those are pre-signed secrets). */
export interface OutputEntry {
  url: string
  file?: string
  bytes?: number
  /** False when the output answered 4xx: recorded, not retried. */
  downloadable?: boolean
  error?: string
  at: string
}

/** The `GET /jobs/:jobId` document. */
export interface JobStatus {
  jobId: string
  status: string
  source: string
  updatedAt: string
  outputs: OutputEntry[]
  history: StatusEntry[]
}

export interface JobStatusStoreOptions {
  /** Oldest history entries are dropped beyond this many. */
  maxHistory?: number
  /** Every key of a job expires this long after its last change. */
  ttlSeconds?: number
  /** Clock for `updatedAt` (tests). */
  now?: () => Date
}

/** Status used when an event names a job but carries no status; it never replaces a known one. */
export const UNKNOWN_STATUS = 'unknown'

const DEFAULT_MAX_HISTORY = 50
const DEFAULT_TTL_SECONDS = 30 * 24 * 3600

/*
 * Layout per job (every key expires `ttl` after the job's last change):
 * - a small hash: status, rank, statusTime, source, updatedAt, and
 *   `e:<event id>` only for events trimmed out of the history (which event
 *   set the status is in the history; the job id is the reader's key);
 * - the history as one string, its entries' JSON joined by newlines (each entry
 *   is stored once and also serves as the record that its event was seen);
 * - the outputs hash (url → entry JSON), only once an output was recorded.
 * The hash's fields stay under Redis' listpack limits, so a job costs about
 * 500 B where a hash, a list and a set of seen ids cost about 950 B (one
 * status event per job, event ids of 42 characters).
 *
 * One Lua script so that the check and the write are one step, even with many
 * workers: an event id already in the history (or trimmed from it) makes a
 * redelivered event a no-op, and the rank rule keeps a terminal status
 * (succeeded/failed/cancelled) against any late non-terminal one. Among
 * statuses of the same rank the newer event time wins (ISO-8601 UTC strings
 * of one format compare as text); `unknown` ranks lowest.
 *
 * KEYS: job hash, history string, outputs hash
 * ARGV: eventId, status, source, time, history entry JSON, rank, maxHistory,
 *       ttl, updatedAt, '"eventId":' + the event id as JSON + ','
 *       (how the id appears in its entry: inside a JSON string value quotes
 *       are escaped, so only an entry's own eventId field can match)
 * Returns 0 (event seen before), 1 (status changed), 2 (history only).
 */
const RECORD_SCRIPT = `
local hist = redis.call('GET', KEYS[2]) or ''
if string.find(hist, ARGV[10], 1, true) or redis.call('HEXISTS', KEYS[1], 'e:' .. ARGV[1]) == 1 then return 0 end
local n = 1
if hist ~= '' then n = select(2, string.gsub(hist, '\\n', '')) + 2 end
if hist == '' then hist = ARGV[5] else hist = hist .. '\\n' .. ARGV[5] end
local max = tonumber(ARGV[7])
while n > max do
  local cut = string.find(hist, '\\n', 1, true)
  redis.call('HSET', KEYS[1], 'e:' .. cjson.decode(string.sub(hist, 1, cut - 1)).eventId, '')
  hist = string.sub(hist, cut + 1)
  n = n - 1
end
redis.call('SET', KEYS[2], hist, 'EX', ARGV[8])
local cur = redis.call('HMGET', KEYS[1], 'rank', 'statusTime')
local rank = tonumber(ARGV[6])
local apply
if not cur[1] then apply = true
else
  local curRank = tonumber(cur[1])
  if rank ~= curRank then apply = rank > curRank else apply = ARGV[4] >= cur[2] end
end
if apply then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'rank', ARGV[6], 'statusTime', ARGV[4], 'source', ARGV[3])
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[9])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[8])
if apply then return 1 end
return 2
`

/*
 * Records an output on a job that has a status document (never creates one);
 * an entry per URL, replaced by a later attempt.
 * KEYS: job hash, history string, outputs hash; ARGV: url, entry JSON, ttl, updatedAt
 */
const OUTPUT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return 1
`

/** The two scripts as commands on the connection (ioredis `defineCommand`: EVALSHA, falling back to EVAL). */
interface ScriptCommands {
  aegRecordStatus (...keysAndArgs: (string | number)[]): Promise<number>
  aegRecordOutput (...keysAndArgs: (string | number)[]): Promise<number>
}

/**
 * The latest status of every Adobe job id, with its history and outputs, in
 * Redis under the queue prefix (so a Redis Cluster keeps them in the queue's
 * slot). Workers write it, the edge reads it for `GET /jobs/:jobId`.
 */
export class JobStatusStore {
  readonly #redis: RedisClient & ScriptCommands
  readonly #prefix: string
  readonly #maxHistory: number
  readonly #ttl: number
  readonly #now: () => Date

  constructor (redis: RedisClient, prefix: string, opts: JobStatusStoreOptions = {}) {
    this.#redis = redis as RedisClient & ScriptCommands
    this.#prefix = prefix
    this.#maxHistory = opts.maxHistory ?? DEFAULT_MAX_HISTORY
    this.#ttl = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS
    this.#now = opts.now ?? (() => new Date())
    // defineCommand is idempotent per connection: safe when several stores share one.
    if (typeof this.#redis.aegRecordStatus !== 'function') {
      this.#redis.defineCommand('aegRecordStatus', { numberOfKeys: 3, lua: RECORD_SCRIPT })
      this.#redis.defineCommand('aegRecordOutput', { numberOfKeys: 3, lua: OUTPUT_SCRIPT })
    }
  }

  /**
   * Records that `entry.eventId` reported `entry.status` for `jobId`.
   * Idempotent per event id; returns whether the job's status changed.
   */
  async record (jobId: string, entry: StatusEntry): Promise<'changed' | 'history-only' | 'duplicate'> {
    const rank = entry.status === UNKNOWN_STATUS ? 0 : isTerminalStatus(entry.status) ? 2 : 1
    const result = await this.#redis.aegRecordStatus(...this.#keys(jobId),
      entry.eventId, entry.status, entry.source, entry.time, JSON.stringify(entry), rank,
      this.#maxHistory, this.#ttl, this.#now().toISOString(), `"eventId":${JSON.stringify(entry.eventId)},`)
    return result === 0 ? 'duplicate' : result === 1 ? 'changed' : 'history-only'
  }

  /** Records what became of one output; false when the job has no status document. */
  async recordOutput (jobId: string, entry: OutputEntry): Promise<boolean> {
    const result = await this.#redis.aegRecordOutput(...this.#keys(jobId), entry.url, JSON.stringify(entry), this.#ttl, this.#now().toISOString())
    return result === 1
  }

  /** The job's status document, or undefined when it is unknown (or expired). */
  /** False while the connection is down: readers answer 503 at once instead of waiting. */
  get available (): boolean {
    return this.#redis.status === 'ready'
  }

  async get (jobId: string): Promise<JobStatus | undefined> {
    const [hash, history, outputs] = this.#keys(jobId)
    const results = await this.#redis.multi().hgetall(hash).get(history).hvals(outputs).exec()
    if (results === null) throw new Error('job status read was discarded')
    for (const [err] of results) if (err) throw err
    const doc = results[0]![1] as Record<string, string>
    if (doc.status === undefined) return undefined
    return {
      jobId,
      status: doc.status,
      source: doc.source!,
      updatedAt: doc.updatedAt!,
      outputs: (results[2]![1] as string[]).map(s => JSON.parse(s) as OutputEntry).sort((a, b) => a.url.localeCompare(b.url)),
      history: ((results[1]![1] as string | null) ?? '').split('\n').filter(s => s !== '').map(s => JSON.parse(s) as StatusEntry)
    }
  }

  #keys (jobId: string): [string, string, string] {
    // Hashed: a job id is sender-chosen text; raw, `X:h` would land on job X's keys.
    // `:h`, not the earlier layout's `:history` list, so a record of that layout is never read as a string.
    const base = `${this.#prefix}:job:${jobIdFor(jobId)}`
    return [base, `${base}:h`, `${base}:outputs`]
  }
}
