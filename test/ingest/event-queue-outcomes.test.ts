import { once } from 'node:events'
import t from 'tap'
import type { Envelope } from '../../src/ingest/envelope.ts'
import { EventQueue } from '../../src/ingest/event-queue.ts'
import { createEdgeRedis } from '../../src/redis.ts'
import { REDIS_URL, testRedis, uniquePrefix, minimalEnvelope } from '../helpers/index.ts'

// The journal reader learns per envelope whether it was new or already queued;
// the edge's `add` shares the same transactions without paying for it.

const envelope = (key: string): Envelope => minimalEnvelope('journal', key)

t.test('addWithOutcomes: queued or duplicate per envelope, also when sharing a MULTI with the edge', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const connection = createEdgeRedis(REDIS_URL)
  if (connection.status !== 'ready') await once(connection, 'ready')
  const queue = new EventQueue({ connection, prefix, dedupWindowMs: 60_000, ackTimeoutMs: 5000, attempts: 3, backoffMs: 100 })
  t.teardown(async () => { await queue.close(); await connection.quit() })

  // Same turn: one group, one MULTI; the edge's add comes first in it.
  const [edge, journal] = await Promise.all([
    queue.add('lightroom', [envelope('a')]),
    queue.addWithOutcomes('lightroom', [envelope('a'), envelope('b'), envelope('c')])
  ])
  t.equal(edge, undefined, 'the edge gets no outcomes')
  t.same(journal, ['duplicate', 'queued', 'queued'], 'a was queued by the edge just before, in the same transaction')
  t.same(await queue.addWithOutcomes('lightroom', [envelope('c'), envelope('d')]), ['duplicate', 'queued'])
  t.equal(await queue.queue.count(), 4, 'four jobs: a, b, c, d')
})
