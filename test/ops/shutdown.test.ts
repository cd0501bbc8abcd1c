import t from 'tap'
import { QUEUE, jobIdFor } from '../../src/queues.ts'
import {
  ADMIN, adobeSignedHeaders, eventually, keyServer, lightroomBody, listeningPort, roleEnv, spawnRole, testRedis, uniquePrefix
} from '../helpers/index.ts'

const SHUTDOWN_TIMEOUT_MS = 5000

t.test('SIGTERM under load: every request answered 200 is queued, and the gateway exits 0 within its shutdown budget', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const keys = await keyServer(t)
  const gateway = spawnRole(t, 'src/bin/gateway.ts', {
    ...roleEnv({ prefix, keysUrl: keys.url }),
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS)
  })
  const port = await listeningPort(gateway, 'gateway')
  const url = `http://127.0.0.1:${port}/webhooks/adobe`
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200)

  // Concurrent senders over kept-alive connections, each with its own event ids,
  // until the gateway stops answering them.
  const answered200: string[] = []
  const otherAnswers = new Map<string, number>()
  let sent = 0
  let stopAt = Infinity
  const sender = async (n: number) => {
    for (let i = 0; sent < stopAt; i++) {
      const eventId = `evt-${n}-${i}`
      const body = lightroomBody(eventId)
      sent++
      let status: string
      try {
        const res = await fetch(url, { method: 'POST', headers: adobeSignedHeaders(body), body })
        await res.arrayBuffer()
        status = String(res.status)
      } catch (err) {
        status = (err as { cause?: { code?: string } }).cause?.code ?? 'network error'
      }
      if (status === '200') answered200.push(eventId)
      else {
        otherAnswers.set(status, (otherAnswers.get(status) ?? 0) + 1)
        return // refused or 503: the gateway is going away
      }
    }
  }
  const senders = Array.from({ length: 24 }, (_, n) => sender(n))

  // Enough accepted that the load is in full swing; the count itself proves nothing.
  await eventually(() => answered200.length >= 60, 30_000)
  const acceptedBeforeSignal = answered200.length
  gateway.child.kill('SIGTERM')
  // A bound on the load, should the gateway keep answering.
  stopAt = sent + 2000
  const code = await gateway.exited
  await Promise.all(senders)

  // close-with-grace exits 1 when the shutdown budget runs out before the close
  // finished, 0 only when it finished: exit 0 is "within the budget".
  t.equal(code, 0, `exit code 0: closed within the ${SHUTDOWN_TIMEOUT_MS} ms budget (stderr: ${gateway.stderr()})`)
  t.ok(gateway.lines.some(l => l.signal === 'SIGTERM'), 'logged the signal it stopped on')
  t.ok(otherAnswers.size > 0, `the load was still running when the gateway stopped: ${JSON.stringify(Object.fromEntries(otherAnswers))}`)
  t.ok(answered200.length >= acceptedBeforeSignal, `${answered200.length} requests answered 200 (${answered200.length - acceptedBeforeSignal} after SIGTERM)`)
  for (const status of otherAnswers.keys()) {
    t.ok(['503', 'ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(status), `no 4xx or other fault during shutdown (saw ${status})`)
  }

  // Durable means: in Redis, under the job id the edge derives from the envelope id.
  const missing: string[] = []
  const pipeline = redis.pipeline()
  for (const eventId of answered200) pipeline.exists(`${prefix}:${QUEUE.events}:${jobIdFor(`adobe/${eventId}`)}`)
  const exists = (await pipeline.exec())!.map(([, n]) => n)
  exists.forEach((n, i) => { if (n !== 1) missing.push(answered200[i]!) })
  t.same(missing, [], `all ${answered200.length} acknowledged events are in the events queue`)
  // Nothing consumes the queue here: every accepted event is still waiting.
  t.ok(await redis.llen(`${prefix}:${QUEUE.events}:wait`) >= answered200.length, 'waiting jobs cover every acknowledged event')
})
