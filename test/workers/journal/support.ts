import { setTimeout as sleep } from 'node:timers/promises'
import { pino, type Logger } from 'pino'
import type { GatewayConfig, GatewayFileConfig } from '../../../src/config.ts'
import { createWorkerRedis } from '../../../src/redis.ts'
import { startJournalReaders, type JournalReadersOptions } from '../../../workers/journal/index.ts'
import { JournalPositions, type JournalStatus } from '../../../src/journal-state.ts'
import { FAKE_CLIENT, type FakeJournal } from '../../helpers/fake-journal.ts'
import { fixture } from '../../helpers/fixtures.ts'
import { eventually, testConfig, wipe } from '../../helpers/index.ts'

import type { Test } from 'tap'

export const SOURCE = 'lightroom'

/** Short timings so in-process tests do not wait on production's seconds. */
export const FAST: JournalReadersOptions = {
  timing: { renewMs: 150, acquireMs: 100, emptyWaitMs: 60, minEmptyWaitMs: 20, backoffBaseMs: 20, backoffMaxMs: 200 },
  leaseTtlMs: 1000
}

/** A Lightroom job-status event (the seed fixture) with its own event id, published at `published` when given. */
export function lightroomEvent (eventId: string, published?: Date): Record<string, any> {
  const event = fixture('adobe-io-events/lightroom-job-status.json')
  event.event_id = eventId
  if (published !== undefined) event.event['activitystreams:published'] = published.toISOString()
  event.event.body.jobId = `job-${eventId}`
  delete event.event.body._links
  for (const output of event.event.body.outputs ?? []) delete output._links
  return event
}

/** The config file of a gateway with one `lightroom` source reading the fake journal. */
export function journalFileConfig (fake: FakeJournal, start: 'latest' | 'oldest' = 'oldest', extra: Partial<GatewayFileConfig> = {}): Partial<GatewayFileConfig> & Pick<GatewayFileConfig, 'sources'> {
  return {
    sources: [{ name: SOURCE, kind: 'adobe-io-events', verify: 'none', journal: { url: fake.url, imsOrgId: FAKE_CLIENT.imsOrgId, start } }],
    oauth: { tokenUrl: fake.tokenUrl, clientId: FAKE_CLIENT.clientId, clientSecret: FAKE_CLIENT.clientSecret, scopes: ['openid'] },
    ...extra
  }
}

export function journalConfig (fake: FakeJournal, prefix: string, start: 'latest' | 'oldest' = 'oldest', extra: Partial<GatewayFileConfig> = {}): GatewayConfig {
  return testConfig(journalFileConfig(fake, start, extra), { QUEUE_PREFIX: prefix, DEDUP_WINDOW_SECONDS: '604800' })
}

/** Journal readers in this process on a connection of their own; closed (and the prefix wiped) at teardown. */
export function startReaders (t: Test, config: GatewayConfig, opts: JournalReadersOptions = FAST, log: Logger = pino({ level: 'silent' })) {
  const redis = createWorkerRedis(config.redisUrl)
  const readers = startJournalReaders(config, redis, log, { ...FAST, ...opts })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await readers.close()
    await redis.quit()
  }
  t.teardown(async () => {
    await close()
    await wipe(config.queuePrefix)
  })
  return { close }
}

/** The stored state of the test source. */
export function journalStatus (config: GatewayConfig, redis: ConstructorParameters<typeof JournalPositions>[0]) {
  return new JournalPositions(redis, config.queuePrefix).status(SOURCE)
}

/** Waits until the stored state satisfies `done`, and returns it. */
export async function statusWhen (config: GatewayConfig, redis: ConstructorParameters<typeof JournalPositions>[0], done: (s: JournalStatus) => boolean, timeoutMs = 15_000): Promise<JournalStatus> {
  let last: JournalStatus | undefined
  await eventually(async () => done(last = await journalStatus(config, redis)), timeoutMs)
  return last!
}

/** Reader options whose `wait` records each wait and sleeps at most 20 ms of it, so backoff tests run quickly. */
export function quickWaits () {
  const waits: number[] = []
  const opts: JournalReadersOptions = {
    ...FAST,
    async wait (ms, signal) {
      waits.push(ms)
      await sleep(Math.min(ms, 20), undefined, { signal }).catch(() => {})
    }
  }
  return { waits, opts }
}

/**
 * Reader options whose `wait` records each wait, returns at once for the first
 * `free` of them, then parks the reader until it is closed; `parked` resolves then.
 */
export function parkingWaits (free = 0) {
  const waits: number[] = []
  let park!: () => void
  const parked = new Promise<void>(resolve => { park = resolve })
  const opts: JournalReadersOptions = {
    ...FAST,
    async wait (ms, signal) {
      waits.push(ms)
      if (waits.length <= free) return
      park()
      await new Promise(resolve => signal.addEventListener('abort', resolve))
    }
  }
  return { waits, parked, opts }
}
