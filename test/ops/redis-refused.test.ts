import t from 'tap'
import { ADMIN, basic, eventually, listeningPort, privateRedis, roleEnv, spawnRole, uniquePrefix, type RoleProcess } from '../helpers/index.ts'

/** The stdout lines of a role that were not JSON (the helper keeps those as a bare `msg`). */
const notJson = (role: RoleProcess) => role.lines.filter(l => Object.keys(l).length === 1 && typeof l.msg === 'string' && !l.msg.startsWith('{'))

/** How often each first-error line of an outage was logged, by port (gateway or admin app), component and code. */
function firstErrors (role: RoleProcess): Map<string, number> {
  const seen = new Map<string, number>()
  for (const l of role.lines) {
    if (l.msg !== 'error; repeats of it are summarised') continue
    const kind = `${l.port === undefined ? '' : `${String(l.port)} port `}${String(l.component)} ${String(l.code)}`
    seen.set(kind, (seen.get(kind) ?? 0) + 1)
  }
  return seen
}

t.test('gateway and worker while Redis refuses connections: only JSON lines, each error once per component, one line when it is back', async t => {
  const redis = await privateRedis(t)
  await redis.stop()
  const env = {
    ...roleEnv({ prefix: uniquePrefix(), keysUrl: 'http://127.0.0.1:9' }),
    REDIS_URL: redis.url,
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password
  }
  const gateway = spawnRole(t, 'src/bin/gateway.ts', env)
  const worker = spawnRole(t, 'src/bin/worker.ts', env)
  const refused = (l: Record<string, unknown>) => l.code === 'ECONNREFUSED'
  await gateway.waitForLog(refused)
  await worker.waitForLog(refused)
  const port = await listeningPort(gateway, 'admin')

  await redis.start()
  await gateway.waitForLog(l => l.msg === 'connection restored', 30_000)
  await worker.waitForLog(l => l.msg === 'workers started', 60_000)
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000)
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: basic() } })).status === 200, 30_000)

  t.equal(await gateway.stop(), 0, 'the gateway stops cleanly')
  t.equal(await worker.stop(), 0, 'the worker stops cleanly')
  for (const [name, role] of [['gateway', gateway], ['worker', worker]] as const) {
    t.equal(role.stderr(), '', `${name}: nothing on stderr`)
    t.same(notJson(role), [], `${name}: every stdout line is JSON`)
    const kinds = firstErrors(role)
    t.ok(kinds.size > 0, `${name}: the outage is logged (${[...kinds.keys()].join(', ')})`)
    t.same([...kinds.entries()].filter(([, n]) => n > 1), [], `${name}: each component's error logged once in the outage`)
  }
  t.ok(gateway.lines.some(l => l.msg === 'connection restored' && Array.isArray(l.components) && l.components.includes('redis')), 'the gateway says when Redis is back')
})
