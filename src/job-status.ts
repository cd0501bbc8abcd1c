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
 * - one string: a header line, the JSON array [status, rank, statusTime,
 *   source, updatedAt], then the history, its entries' JSON one per line (each
 *   entry is stored once and also serves as the record that its event was seen);
 * - the outputs hash (url → entry JSON), only once an output was recorded;
 * - the ids of events trimmed out of the history (a set), only once a job has
 *   had more than `maxHistory` events.
 * A job with one status event costs about 290 B: one key instead of the two
 * (a hash and the history string, about 460 B) of the layout before, and about
 * 950 B for a hash, a list and a set of seen ids.
 *
 * One Lua script so that the check and the write are one step, even with many
 * workers: an event id already in the history (or trimmed from it) makes a
 * redelivered event a no-op, and the rank rule keeps a terminal status
 * (succeeded/failed/cancelled) against any late non-terminal one. Among
 * statuses of the same rank the newer event time wins (ISO-8601 UTC strings
 * of one format compare as text); `unknown` ranks lowest.
 *
 * KEYS: job document, outputs hash, trimmed event ids
 * ARGV: eventId, status, source, time, history entry JSON, rank, maxHistory,
 *       ttl, updatedAt, '"eventId":' + the event id as JSON + ','
 *       (how the id appears in its entry: inside a JSON string value quotes
 *       are escaped, so only an entry's own eventId field can match)
 * Returns 0 (event seen before), 1 (status changed), 2 (history only).
 */
const RECORD_SCRIPT = `
local doc = redis.call('GET', KEYS[1])
local cur, hist = nil, ''
if doc then
  local nl = string.find(doc, '\\n', 1, true)
  cur = cjson.decode(string.sub(doc, 1, nl - 1))
  hist = string.sub(doc, nl + 1)
end
if string.find(hist, ARGV[10], 1, true) or redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 0 end
local n = 1
if hist ~= '' then n = select(2, string.gsub(hist, '\\n', '')) + 2 end
if hist == '' then hist = ARGV[5] else hist = hist .. '\\n' .. ARGV[5] end
local max = tonumber(ARGV[7])
local trimmed = false
while n > max do
  local cut = string.find(hist, '\\n', 1, true)
  redis.call('SADD', KEYS[3], cjson.decode(string.sub(hist, 1, cut - 1)).eventId)
  trimmed = true
  hist = string.sub(hist, cut + 1)
  n = n - 1
end
local rank = tonumber(ARGV[6])
local apply
if not cur then apply = true
elseif rank ~= cur[2] then apply = rank > cur[2]
else apply = ARGV[4] >= cur[3] end
if apply then cur = { ARGV[2], rank, ARGV[4], ARGV[3], ARGV[9] } else cur[5] = ARGV[9] end
redis.call('SET', KEYS[1], cjson.encode(cur) .. '\\n' .. hist, 'EX', ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[8])
if trimmed or redis.call('EXISTS', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], ARGV[8]) end
if apply then return 1 end
return 2
`

/*
 * Records an output on a job that has a status document (never creates one);
 * an entry per URL, replaced by a later attempt.
 * KEYS: job document, outputs hash, trimmed event ids; ARGV: url, entry JSON, ttl, updatedAt
 */
const OUTPUT_SCRIPT = `
local doc = redis.call('GET', KEYS[1])
if not doc then return 0 end
local nl = string.find(doc, '\\n', 1, true)
local cur = cjson.decode(string.sub(doc, 1, nl - 1))
cur[5] = ARGV[4]
redis.call('SET', KEYS[1], cjson.encode(cur) .. string.sub(doc, nl), 'EX', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 2, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
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
    const [doc, outputs] = this.#keys(jobId)
    const results = await this.#redis.multi().get(doc).hvals(outputs).exec()
    if (results === null) throw new Error('job status read was discarded')
    for (const [err] of results) if (err) throw err
    const text = results[0]![1] as string | null
    if (text === null) return undefined
    const lines = text.split('\n')
    const [status, , , source, updatedAt] = JSON.parse(lines[0]!) as [string, number, string, string, string]
    return {
      jobId,
      status,
      source,
      updatedAt,
      outputs: (results[1]![1] as string[]).map(s => JSON.parse(s) as OutputEntry).sort((a, b) => a.url.localeCompare(b.url)),
      history: lines.slice(1).filter(s => s !== '').map(s => JSON.parse(s) as StatusEntry)
    }
  }

  #keys (jobId: string): [string, string, string] {
    // Hashed: a job id is sender-chosen text; raw, `X:s` would land on job X's keys.
    // `:s`, a name no earlier layout used, so a record of an earlier layout is never read as this one.
    const base = `${this.#prefix}:job:${jobIdFor(jobId)}`
    return [`${base}:s`, `${base}:outputs`, `${base}:trimmed`]
  }
}
