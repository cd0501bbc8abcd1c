import t from 'tap'
import { REDIS_URL, testRedis, uniquePrefix } from '../helpers/index.ts'
import { ADMIN, basic, listeningPort, spawnRole } from '../helpers/index.ts'

/** `npm start` (src/bin/all-in-one.ts) tells a developer where Bull Board is, and never prints the password. */

const env = (prefix: string) => ({ REDIS_URL, QUEUE_PREFIX: prefix, HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0' })

t.test('with admin credentials: the Bull Board URL that works, the variables to log in with, no password', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const aeg = spawnRole(t, 'src/bin/all-in-one.ts', { ...env(prefix), ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password })
  const adminPort = await listeningPort(aeg, 'admin')
  const hint = await aeg.waitForLog(l => typeof l.msg === 'string' && l.msg.startsWith('Bull Board'))
  const url = `http://127.0.0.1:${adminPort}/admin/queues`
  t.match(hint, { role: 'aeg', url, user: ADMIN.user, msg: /ADMIN_USER and ADMIN_PASSWORD/ })
  t.equal((await fetch(url, { headers: { authorization: basic() } })).status, 200, 'the logged URL opens Bull Board with those credentials')

  t.equal(await aeg.stop('SIGTERM'), 0, `exit 0 (stderr: ${aeg.stderr()})`)
  t.notOk(JSON.stringify(aeg.lines).includes(ADMIN.password) || aeg.stderr().includes(ADMIN.password), 'the password is never printed')
  t.same(aeg.lines.filter(l => typeof l.level !== 'number'), [], 'stdout is not a terminal: every line is JSON')
})

t.test('without admin credentials: says how to open Bull Board', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const aeg = spawnRole(t, 'src/bin/all-in-one.ts', env(prefix))
  const hint = await aeg.waitForLog(l => typeof l.msg === 'string' && l.msg.startsWith('Bull Board'))
  t.match(hint.msg, /^Bull Board is off: set ADMIN_USER and ADMIN_PASSWORD .* http:\/\/127\.0\.0\.1:0\/admin\/queues$/)
  t.equal(await aeg.stop('SIGTERM'), 0, `exit 0 (stderr: ${aeg.stderr()})`)
})
