import type { Logger } from 'pino'
import type { GatewayConfig } from '../../src/config.ts'
import { EventQueue } from '../../src/ingest/event-queue.ts'
import type { RedisClient } from '../../src/redis.ts'
import { createSources } from '../../src/sources/index.ts'
import { PublicKeyCache } from '../../src/verify/public-keys.ts'
import { OAuthTokens } from '../oauth-token.ts'
import { JournalClient } from './client.ts'
import { Lease } from './lease.ts'
import { JournalPositions, journalKeys, journalSources } from '../../src/journal-state.ts'
import { JournalReader, type JournalReaderDeps, type ReaderTiming } from './reader.ts'

/**
 * A crashed reader's lease lapses within this; a waiting process, trying every
 * `DEFAULT_TIMING.acquireMs` (± 25 %), then takes over: within 15 s of the crash.
 */
export const LEASE_TTL_MS = 12_000

/**
 * Longest wait for one journal answer. A holder that cannot renew gives the
 * lease up one renewal (4 s) before it lapses and aborts its request, so no
 * request outlives the lease; this bounds the request on the journal's side too.
 */
const REQUEST_TIMEOUT_MS = 7_000

export interface JournalReadersOptions {
  /** Shorter timings for tests. */
  timing?: Partial<ReaderTiming>
  leaseTtlMs?: number
  wait?: JournalReaderDeps['wait']
}

/**
 * Starts a journal reader for every source with a `journal` block. Every
 * worker process runs them; a lease per source lets one read at a time.
 * Nothing here fails the worker: readers log, count and retry.
 */
export function startJournalReaders (config: GatewayConfig, redis: RedisClient, log: Logger, opts: JournalReadersOptions = {}): { close(): Promise<void> } {
  const sources = journalSources(config)
  if (sources.length === 0 || config.oauth === undefined) return { close: async () => {} }

  // A dedup window shorter than the journal's retention is warned about at boot (configWarnings).
  const eventQueue = EventQueue.fromConfig(config, redis)
  const tokens = new OAuthTokens(config.oauth, { timeoutMs: REQUEST_TIMEOUT_MS })
  const positions = new JournalPositions(redis, config.queuePrefix)
  // Parse only: journal events are never verified (see JournalReader), so no key is ever fetched.
  const built = createSources(config.sources, {
    keys: new PublicKeyCache({ baseUrl: config.publicKeyBaseUrl, ttlMs: config.keyCacheTtlMs, timeoutMs: config.keyFetchTimeoutMs, log })
  })
  const readers = sources.map(({ name, journal }) => new JournalReader({
    source: built.get(name)!,
    journal,
    client: new JournalClient(journal, tokens, { timeoutMs: REQUEST_TIMEOUT_MS }),
    positions,
    lease: new Lease(redis, journalKeys(config.queuePrefix, name).lease, { ttlMs: opts.leaseTtlMs ?? LEASE_TTL_MS }),
    eventQueue,
    log,
    timing: opts.timing,
    wait: opts.wait
  }))
  for (const reader of readers) reader.start()
  log.info({ sources: sources.map(s => s.name) }, 'journal readers started')

  return {
    async close () {
      await Promise.all(readers.map(r => r.close()))
      await eventQueue.close()
    }
  }
}
