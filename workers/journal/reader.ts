import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { JournalConfig } from '../../src/config.ts'
import type { Envelope } from '../../src/ingest/envelope.ts'
import type { EventQueue } from '../../src/ingest/event-queue.ts'
import { normalize } from '../../src/ingest/normalize.ts'
import type { Source } from '../../src/sources/index.ts'
import type { JournalAnswer, JournalClient, JournalErrorReason } from './client.ts'
import type { Lease } from './lease.ts'
import { withDeadline } from '../../src/deadline.ts'
import { withSpan } from '../../src/tracing.ts'
import type { JournalCommit, JournalCursor, JournalPositions } from '../../src/journal-state.ts'

/** Timings of the reader; tests shorten them, production uses `DEFAULT_TIMING`. */
export interface ReaderTiming {
  /** How often the holder renews its lease (well inside the lease's lifetime). */
  renewMs: number
  /** How often a process without the lease tries to take it. */
  acquireMs: number
  /** Wait after a 204 that carries no `retry-after`. */
  emptyWaitMs: number
  /** Least wait after a 204 whatever its `retry-after` says (`retry-after: 0` would be a tight loop). */
  minEmptyWaitMs: number
  /** First backoff after a failure; doubles per failure in a row, with jitter, up to `backoffMaxMs`. */
  backoffBaseMs: number
  backoffMaxMs: number
}

export const DEFAULT_TIMING: ReaderTiming = {
  renewMs: 4000,
  // With the 12 s lease (LEASE_TTL_MS), another process takes over within 12 s + 1.25 s of a crash.
  acquireMs: 1000,
  emptyWaitMs: 5000,
  minEmptyWaitMs: 1000,
  backoffBaseMs: 1000,
  backoffMaxMs: 60_000
}

/** Whether a stored link points into the configured journal: same origin, same registration id (the last path segment). */
function sameRegistration (link: string, journalUrl: string): boolean {
  try {
    const a = new URL(link)
    const b = new URL(journalUrl)
    const registration = (u: URL) => u.pathname.split('/').filter(Boolean).at(-1)
    return a.origin === b.origin && registration(a) === registration(b)
  } catch {
    return false
  }
}

/** Envelopes per enqueue: one MULTI stays short however large a journal page is. */
const ENQUEUE_CHUNK = 100

export interface JournalReaderDeps {
  source: Source
  journal: JournalConfig
  client: JournalClient
  positions: JournalPositions
  lease: Lease
  eventQueue: EventQueue
  log: Logger
  timing?: Partial<ReaderTiming>
  random?: () => number
  /** Waits between requests (tests observe and gate them); resolves early when `signal` aborts. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>
}

const defaultWait = (ms: number, signal: AbortSignal): Promise<void> => sleep(ms, undefined, { signal }).catch(() => {})

/**
 * Reads one source's journal for as long as the process runs, while it holds
 * the source's lease: one page at a time, each page's events normalized by the
 * source kind exactly like a webhook body and queued through the edge's
 * deduplicated path, and only then the page's position stored (at least once,
 * never a gap). Every failure is logged, counted and retried after a backoff;
 * nothing here throws out of the loop or stops it except `close()`.
 */
export class JournalReader {
  readonly #deps: JournalReaderDeps
  readonly #timing: ReaderTiming
  readonly #random: () => number
  readonly #wait: (ms: number, signal: AbortSignal) => Promise<void>
  readonly #log: Logger
  readonly #stop = new AbortController()
  /** Aborted when the lease is lost: the request in flight is dropped. */
  #held: AbortController | undefined
  #renewTimer: NodeJS.Timeout | undefined
  #lastRenewedAt = 0
  #failures = 0
  #loop: Promise<void> | undefined

  constructor (deps: JournalReaderDeps) {
    this.#deps = deps
    this.#timing = { ...DEFAULT_TIMING, ...deps.timing }
    this.#random = deps.random ?? Math.random
    this.#wait = deps.wait ?? defaultWait
    this.#log = deps.log.child({ source: deps.source.name, journal: true })
  }

  /** Starts the loop in the background. */
  start (): void {
    this.#loop ??= this.#run()
  }

  /** Stops after the page in hand is queued and stored, then gives the lease up. */
  async close (): Promise<void> {
    this.#stop.abort()
    await this.#loop
    this.#stopRenewing()
    if (this.#held !== undefined) {
      this.#held = undefined
      await this.#deps.lease.release().catch((err: unknown) => this.#log.warn({ err }, 'journal lease not released; it lapses by itself'))
    }
  }

  async #run (): Promise<void> {
    const stop = this.#stop.signal
    while (!stop.aborted) {
      let waitMs: number
      try {
        waitMs = this.#held === undefined ? await this.#tryAcquire() : await this.#tracedStep(this.#held.signal)
      } catch (err) {
        waitMs = this.#backoff()
        const reason: JournalErrorReason = (err as { code?: string }).code === 'AEG_QUEUE_UNAVAILABLE' ? 'enqueue' : 'redis'
        this.#log.error({ err, reason, retryInMs: waitMs }, 'journal read failed; retrying')
        await this.#deps.positions.countError(this.#deps.source.name, reason).catch(() => {})
      }
      if (waitMs > 0 && !stop.aborted) await this.#wait(waitMs, stop)
    }
  }

  /** Takes the lease when free; the wait before trying again otherwise. */
  async #tryAcquire (): Promise<number> {
    if (!await this.#deps.lease.acquire()) return this.#timing.acquireMs * (0.75 + this.#random() / 2)
    this.#held = new AbortController()
    this.#lastRenewedAt = Date.now()
    this.#failures = 0
    this.#renewTimer = setInterval(() => { void this.#renew() }, this.#timing.renewMs)
    this.#log.info({ leaseTtlMs: this.#deps.lease.ttlMs }, 'journal reader took the lease')
    return 0
  }

  async #renew (): Promise<void> {
    let ours: boolean
    try {
      // The worker's connection queues commands while Redis is away: without a deadline this would just wait.
      ours = await withDeadline(this.#deps.lease.renew(), this.#timing.renewMs, () => new Error('lease renewal timed out'))
      if (ours) this.#lastRenewedAt = Date.now()
    } catch (err) {
      // Redis unreachable: still ours until one renewal before the lease would lapse.
      ours = Date.now() - this.#lastRenewedAt < this.#deps.lease.ttlMs - this.#timing.renewMs
      this.#log.warn({ err }, 'journal lease not renewed')
    }
    if (!ours) this.#lost()
  }

  #lost (): void {
    if (this.#held === undefined) return
    this.#log.warn('journal reader lost its lease; another process reads now')
    this.#held.abort()
    this.#held = undefined
    this.#stopRenewing()
  }

  #stopRenewing (): void {
    clearInterval(this.#renewTimer)
    this.#renewTimer = undefined
  }

  /** `#step` in a span of its own (tracing on): the page request, and the enqueues of its events as children. */
  #tracedStep (held: AbortSignal): Promise<number> {
    return withSpan('journal page', 'internal', () => ({ 'aeg.source': this.#deps.source.name }), () => this.#step(held))
  }

  /** One request and what follows from its answer; returns the wait before the next. */
  async #step (held: AbortSignal): Promise<number> {
    const { client, positions, source } = this.#deps
    const cursor = await positions.read(source.name)
    const url = this.#urlFor(cursor)
    const askedAt = new Date().toISOString()
    const answer = await client.get(url, AbortSignal.any([held, this.#stop.signal]))
    if (held.aborted) return 0
    switch (answer.kind) {
      case 'page': return await this.#consume(cursor, url, answer)
      case 'empty': {
        // Caught up: every event published before the request is queued. Storing the link matters
        // after `latest=true`, a seek or a reset: it pins "now" so a restart resumes here rather than at a later "now".
        const set: Record<string, string> = { through: askedAt, caughtUpAt: askedAt }
        if (answer.next !== undefined && answer.next !== cursor.next) set.next = answer.next
        await this.#commit(cursor, { set, del: cursor.reset === undefined ? [] : ['reset'] })
        this.#failures = 0
        return Math.max(answer.retryAfterMs ?? this.#timing.emptyWaitMs, this.#timing.minEmptyWaitMs)
      }
      case 'gone': {
        this.#log.error({ position: cursor.position ?? null }, `journal of source "${source.name}" answered 410: the stored position expired (older than the journal's retention); continuing from the oldest retained event`)
        await this.#commit(cursor, { incr: { 'errors:gone': 1 }, set: { reset: 'oldest' }, del: ['next', 'position'] })
        // A 410 to the oldest-event request itself cannot be fixed by asking again at once.
        return url === this.#deps.client.startUrl('oldest') ? this.#backoff() : 0
      }
      case 'unauthorized':
        return await this.#failed('unauthorized', 'journal refused a freshly granted token (401): check oauth and the project\'s I/O Management API', undefined)
      case 'retry':
        return await this.#failed(answer.reason, answer.detail, answer.retryAfterMs)
    }
  }

  #urlFor (cursor: JournalCursor): string {
    const { client, journal } = this.#deps
    if (cursor.reset !== undefined && cursor.next === undefined) return client.startUrl(cursor.reset)
    if (cursor.next !== undefined) {
      if (sameRegistration(cursor.next, journal.url)) return cursor.next
      // The config now names another registration: the stored link and position belong to the old one.
      this.#log.warn('stored journal link is for another journal URL; starting as configured')
      return client.startUrl(journal.start)
    }
    if (cursor.position !== undefined) return client.sinceUrl(cursor.position)
    return client.startUrl(journal.start)
  }

  async #consume (cursor: JournalCursor, url: string, page: Extract<JournalAnswer, { kind: 'page' }>): Promise<number> {
    const { source, eventQueue } = this.#deps
    const receivedAt = new Date().toISOString()
    const envelopes: Envelope[] = []
    let invalid = 0
    for (const entry of page.entries) {
      // No proof to check: journal events come over an API call authenticated with
      // our own token, not as a request anyone could send (verify is webhook-only).
      try {
        const normalized = normalize(source, entry.event, {
          sourceName: source.name,
          headers: {},
          receivedAt,
          requestId: `journal:${entry.position}`.slice(0, 256)
        })
        if (normalized.kind === 'events') envelopes.push(...normalized.envelopes)
      } catch (err) {
        // Adobe serves it again on every read: retrying cannot fix its shape, so it is skipped and counted.
        invalid++
        this.#log.error({ position: entry.position, reason: (err as Error).message }, 'journal event cannot be normalized; skipped')
      }
    }
    let queued = 0
    let duplicate = 0
    for (let i = 0; i < envelopes.length; i += ENQUEUE_CHUNK) {
      for (const outcome of await eventQueue.addWithOutcomes(source.name, envelopes.slice(i, i + ENQUEUE_CHUNK))) {
        if (outcome === 'queued') queued++
        else duplicate++
      }
    }
    // Only times the events carry: an event without one is stamped with `receivedAt`, which says nothing of the journal.
    const newest = envelopes.reduce((max, e) => e.time === receivedAt ? max : Math.max(max, Date.parse(e.time)), Number.NEGATIVE_INFINITY)
    const last = page.last
    const set: Record<string, string> = { updatedAt: receivedAt }
    const next = page.next ?? (last === undefined ? undefined : this.#deps.client.sinceUrl(last))
    if (next !== undefined) set.next = next
    if (last !== undefined) set.position = last
    if (Number.isFinite(newest)) {
      set.lastEventTime = new Date(newest).toISOString()
      // The journal is in publishing order: everything up to the newest event read is queued. Never
      // backwards (an event can carry a time older than the last 204); a reset clears it.
      if (cursor.through === undefined || newest > Date.parse(cursor.through)) set.through = set.lastEventTime
    }
    const incr: Record<string, number> = { queued, duplicate }
    if (invalid > 0) incr['errors:invalid_event'] = invalid
    const stored = await this.#commit(cursor, { set, incr, del: cursor.reset === undefined ? [] : ['reset'] })
    this.#failures = 0
    this.#log.info({ events: page.entries.length, queued, duplicate, invalid, position: last ?? null, stored }, 'journal page')
    // A page without a way forward is asked for again after the usual wait, not in a tight loop.
    return next === undefined || next === url ? this.#timing.emptyWaitMs : 0
  }

  async #commit (cursor: JournalCursor, commit: JournalCommit): Promise<'written' | 'reset' | 'lease-lost'> {
    const held = this.#held
    if (held === undefined) return 'lease-lost'
    const result = await this.#deps.positions.commit(this.#deps.source.name, this.#deps.lease.token, cursor.generation, commit)
    if (result === 'lease-lost') this.#lost()
    return result
  }

  async #failed (reason: JournalErrorReason, detail: string, retryAfterMs: number | undefined): Promise<number> {
    const waitMs = Math.max(this.#backoff(), retryAfterMs ?? 0)
    this.#log.warn({ reason, detail, retryInMs: Math.round(waitMs) }, 'journal request failed; backing off')
    await this.#deps.positions.countError(this.#deps.source.name, reason)
    return waitMs
  }

  /** Exponential backoff with jitter (half to full of the doubled delay), capped. */
  #backoff (): number {
    const { backoffBaseMs, backoffMaxMs } = this.#timing
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.#failures, 30))
    this.#failures++
    return ceiling * (0.5 + this.#random() / 2)
  }
}
