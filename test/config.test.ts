import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

const run = promisify(execFile)

function configFile (content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'aeg-config-'))
  const path = join(dir, 'gateway.config.json')
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

t.test('defaults: one adobe-io-events source from ADOBE_CLIENT_ID/SECRET', async t => {
  const config = loadConfig({ ADOBE_CLIENT_ID: 'cid', ADOBE_CLIENT_SECRET: 'sec' }, '/nonexistent')
  t.same(config.sources, [{ name: 'adobe', kind: 'adobe-io-events', clientId: 'cid', clientSecret: 'sec', verify: 'signature' }])
  t.equal(config.port, 3000)
  t.equal(config.adminPort, 3001)
  t.equal(config.queuePrefix, '{aeg}')
  t.equal(config.bodyLimit, 2621440)
  t.equal(config.dedupWindowMs, 86_400_000)
  t.equal(config.publicKeyBaseUrl, 'https://static.adobeioevents.com')
})

t.test('config file: ${VAR} interpolation, defaults filled in', async t => {
  const path = configFile({
    sources: [
      { name: 'lightroom', kind: 'adobe-io-events', clientId: '${CID}', clientSecret: '${CSECRET}' },
      { name: 'pdf', kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: '${PDF_TOKEN}' } },
      { name: 'alm', kind: 'learning-manager', auth: { type: 'hmac', header: 'x-alm-signature', secrets: ['${ALM_SECRET}'] } }
    ],
    destinations: [{ name: 'orders', url: 'http://127.0.0.1:8080/x', secret: 'whsec_c2VjcmV0LXNlY3JldA==', match: { source: ['lightroom'] } }]
  })
  const config = loadConfig({ GATEWAY_CONFIG: path, CID: 'c1', CSECRET: 's1', PDF_TOKEN: 'token-123456', ALM_SECRET: 'alm-secret-1' })
  t.match(config.sources[0], { clientId: 'c1', clientSecret: 's1', verify: 'signature' })
  t.match(config.sources[1], { auth: { value: 'token-123456' } })
  t.match(config.sources[2], { auth: { algorithm: 'sha256', encoding: 'base64', prefix: '', secrets: ['alm-secret-1'] } })
  t.same(config.outputs.allowHosts, [])
  t.equal(config.outputs.allowHttp, false)
})

t.test('bad settings name the setting', async t => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /^PORT must be integer/],
    [{ PORT: '70000' }, /^PORT must be <= 65535/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL/],
    [{ QUEUE_PREFIX: 'a:b' }, /QUEUE_PREFIX/],
    [{ ADMIN_USER: 'admin' }, /ADMIN_PASSWORD/],
    [{ GATEWAY_CONFIG: '/nonexistent/gw.json' }, /^GATEWAY_CONFIG: cannot read/],
    [{ GATEWAY_CONFIG: configFile('{not json') }, /^GATEWAY_CONFIG: .* is not valid JSON/],
    [{ GATEWAY_CONFIG: configFile({ sources: [{ name: 'x', kind: 'adobe-io-events', clientSecret: '${NOPE}' }] }) }, /\/sources\/0\/clientSecret refers to \$\{NOPE\}, which is not set/],
    [{ GATEWAY_CONFIG: configFile({ sources: [{ name: 'x', kind: 'nope' }] }) }, /^GATEWAY_CONFIG: \/sources\/0\/kind must be equal to one of the allowed values/],
    [{ GATEWAY_CONFIG: configFile({ sources: [{ name: 'x', kind: 'pdf-services' }] }) }, /auth/],
    [{ GATEWAY_CONFIG: configFile({ sources: [{ name: 'x', kind: 'adobe-io-events' }, { name: 'x', kind: 'adobe-io-events' }] }) }, /used twice/],
    [{ GATEWAY_CONFIG: configFile({ sources: [{ name: 'x', kind: 'adobe-io-events', verify: 'maybe' }] }) }, /verify/]
  ]
  for (const [env, message] of cases) {
    const err = t.throws(() => loadConfig(env, '/nonexistent')) as Error
    t.ok(err instanceof ConfigError, `${JSON.stringify(env)} is a ConfigError`)
    t.match(err.message, message)
    t.notMatch(err.message, /\n/, 'one line')
  }
})

t.test('the gateway process stops on a bad setting with one line and exit 1', async t => {
  const err = await run(process.execPath, ['src/bin/gateway.ts'], { env: { ...process.env, PORT: 'not-a-port' } })
    .then(() => undefined, (e: { code: number, stderr: string }) => e)
  t.ok(err, 'process failed')
  t.equal(err!.code, 1)
  t.equal(err!.stderr.trim(), 'invalid configuration: PORT must be integer')
})
