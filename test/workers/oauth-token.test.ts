import t from 'tap'
import { OAuthTokens } from '../../workers/oauth-token.ts'
import { httpServer } from '../helpers/index.ts'

t.test('a token is reused until shortly before it expires, then requested again', async t => {
  let issued = 0
  let status = 200
  const ims = await httpServer(t, (_req, res) => {
    if (status !== 200) { res.writeHead(status).end('{"error":"invalid_client"}'); return }
    issued++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `tok-${issued}`, expires_in: 3600 }))
  })
  let now = 1_000_000
  const tokens = new OAuthTokens({ tokenUrl: ims.url, clientId: 'c', clientSecret: 's', scopes: ['openid'] }, { timeoutMs: 1000, now: () => now })
  t.same(await Promise.all([tokens.token(), tokens.token(), tokens.token()]), ['tok-1', 'tok-1', 'tok-1'], 'concurrent callers share one request')
  now += 3600_000 - 61_000
  t.equal(await tokens.token(), 'tok-1', 'still valid')
  now += 2000
  t.equal(await tokens.token(), 'tok-2', 'renewed a minute before expiry')
  tokens.invalidate()
  t.equal(await tokens.token(), 'tok-3', 'renewed after invalidate()')
  tokens.invalidate()
  status = 401
  await t.rejects(tokens.token(), /OAuth token endpoint answered 401/)
  t.equal(issued, 3)
})
