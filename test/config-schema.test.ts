import { readFileSync } from 'node:fs'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EnvSchema } from '../schemas/env.ts'
import { configWarnings, ConfigError, JOURNAL_RETENTION_SECONDS, loadConfig, validateFileConfig } from '../src/config.ts'
import { SOURCE_KINDS } from '../src/sources/index.ts'

const root = join(import.meta.dirname, '..')

/** The environment docker compose builds from an env file: `KEY=` is an empty string, comments are ignored. */
function composeEnv (path: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (m !== null) env[m[1]!] = m[2]!.trim()
  }
  return env
}

function configFile (content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'aeg-config-')), 'gateway.config.json')
  writeFileSync(path, JSON.stringify(content))
  return path
}

const journal = { url: 'https://events.adobe.io/events/organizations/1/integrations/2/reg-3', imsOrgId: 'ORG@AdobeOrg' }
const oauth = { clientId: 'cid', clientSecret: 'csecret' }

t.test('.env.example as compose passes it (every variable blank) boots with the defaults', async t => {
  const env = composeEnv(join(root, '.env.example'))
  t.same(Object.keys(env).sort(), Object.keys(EnvSchema.properties).sort(), 'every variable is in .env.example')
  t.ok(Object.values(env).every(v => v === ''), 'every variable is blank')
  t.same(loadConfig(env, '/nonexistent'), loadConfig({}, '/nonexistent'), 'blank means unset: the same config as an empty environment')
})

t.test('empty variables in the process environment are unset too (nothing merges process.env back in)', async t => {
  const env = composeEnv(join(root, '.env.example'))
  const saved = { ...process.env }
  t.teardown(() => {
    for (const k of Object.keys(env)) delete process.env[k]
    Object.assign(process.env, saved)
  })
  Object.assign(process.env, env)
  t.equal(process.env.GATEWAY_CONFIG, '')
  t.equal(process.env.REDIS_CLUSTER_NODES, '')
  const config = loadConfig(undefined, '/nonexistent')
  t.equal(config.port, 3000)
  t.equal(config.redisClusterNodes, undefined)
  t.equal(loadConfig({ PORT: '' }, '/nonexistent').port, 3000, 'an explicit env object with an empty value')
  t.equal(loadConfig({ ...env, PORT: '4000' }, '/nonexistent').port, 4000, 'a set value among blank ones')
})

t.test('an empty ${VAR} in the config file is missing', async t => {
  const path = configFile({ sources: [{ name: 'x', kind: 'adobe-io-events', clientSecret: '${SECRET}' }] })
  t.throws(() => loadConfig({ GATEWAY_CONFIG: path, SECRET: '' }), { name: 'ConfigError', message: /refers to \$\{SECRET\}, which is not set/ })
})

t.test('the ADMIN_USER/ADMIN_PASSWORD pair names the missing one', async t => {
  t.throws(() => loadConfig({ ADMIN_USER: 'admin' }, '/nonexistent'), { name: 'ConfigError', message: 'ADMIN_PASSWORD must be set when ADMIN_USER is set' })
  t.throws(() => loadConfig({ ADMIN_PASSWORD: 'long-enough' }, '/nonexistent'), { name: 'ConfigError', message: 'ADMIN_USER must be set when ADMIN_PASSWORD is set' })
})

t.test('hmac defaults come from the schema', async t => {
  const file = validateFileConfig({ sources: [{ name: 'alm', kind: 'learning-manager', auth: { type: 'hmac', header: 'x-sig', secrets: ['secret-123'] } }] })
  t.same(file.sources[0], { name: 'alm', kind: 'learning-manager', auth: { type: 'hmac', header: 'x-sig', secrets: ['secret-123'], algorithm: 'sha256', encoding: 'base64', prefix: '' } })
  const explicit = validateFileConfig({ sources: [{ name: 'alm', kind: 'learning-manager', auth: { type: 'hmac', header: 'x-sig', secrets: ['secret-123'], algorithm: 'sha1', encoding: 'hex', prefix: 'sha1=' } }] })
  t.match(explicit.sources[0], { auth: { algorithm: 'sha1', encoding: 'hex', prefix: 'sha1=' } })
})

t.test('journal: accepted with the oauth block, start defaults to latest', async t => {
  const file = validateFileConfig({ sources: [{ name: 'lr', kind: 'adobe-io-events', clientId: 'c', journal }], oauth })
  t.same(file.sources[0], { name: 'lr', kind: 'adobe-io-events', clientId: 'c', verify: 'signature', journal: { ...journal, start: 'latest' } })
  const oldest = validateFileConfig({ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { ...journal, start: 'oldest' } }], oauth })
  t.match(oldest.sources[0], { journal: { start: 'oldest' } })
})

t.test('journal: bad settings are one-line boot errors naming the setting', async t => {
  const cases: [unknown, RegExp][] = [
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal }] }, /^GATEWAY_CONFIG: \/sources\/0\/journal: source "lr" .*needs the top-level "oauth" block/],
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { ...journal, url: 'ftp://events.adobe.io/x' } }], oauth }, /^GATEWAY_CONFIG: \/sources\/0\/journal\/url /],
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { ...journal, url: 'https://' } }], oauth }, /^GATEWAY_CONFIG: \/sources\/0\/journal\/url /],
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { url: journal.url } }], oauth }, /^GATEWAY_CONFIG: \/sources\/0\/journal must have required property 'imsOrgId'/],
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { ...journal, imsOrgId: '' } }], oauth }, /^GATEWAY_CONFIG: \/sources\/0\/journal\/imsOrgId /],
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { ...journal, start: 'newest' } }], oauth }, /^GATEWAY_CONFIG: \/sources\/0\/journal\/start must be equal to one of the allowed values \(latest, oldest\)/],
    [{ sources: [{ name: 'lr', kind: 'adobe-io-events', journal: { ...journal, extra: 1 } }], oauth }, /\(extra\)/],
    [{ sources: [{ name: 'pdf', kind: 'pdf-services', auth: { type: 'none' }, journal }], oauth }, /^GATEWAY_CONFIG: \/sources\/0 must NOT have additional properties \(journal\)/]
  ]
  for (const [file, message] of cases) {
    const err = t.throws(() => validateFileConfig(file)) as Error
    t.ok(err instanceof ConfigError, 'a ConfigError')
    t.match(err.message, message)
    t.notMatch(err.message, /\n/, 'one line')
  }
})

t.test('configWarnings: a source without clientId', async t => {
  const config = loadConfig({}, '/nonexistent')
  const warnings = configWarnings(config)
  t.equal(warnings.length, 1)
  t.match(warnings[0], { source: 'adobe', msg: /"adobe" has no clientId.*recipient check off/ })
  t.same(configWarnings(loadConfig({ ADOBE_CLIENT_ID: 'cid' }, '/nonexistent')), [], 'none with a clientId')
  const pdfOnly = validateFileConfig({ sources: [{ name: 'pdf', kind: 'pdf-services', auth: { type: 'none' } }] })
  t.same(configWarnings({ ...pdfOnly, dedupWindowMs: 1000 }), [], 'other kinds have no clientId to miss')
})

t.test('configWarnings: a journal with a dedup window shorter than its retention', async t => {
  const path = configFile({ sources: [{ name: 'lr', kind: 'adobe-io-events', clientId: 'c', journal }], oauth })
  const short = configWarnings(loadConfig({ GATEWAY_CONFIG: path }, '/nonexistent'))
  t.equal(short.length, 1)
  t.match(short[0], { source: 'lr', dedupWindowSeconds: 86400, journalRetentionSeconds: JOURNAL_RETENTION_SECONDS })
  t.match(short[0]!.msg, /"lr"/)
  t.match(short[0]!.msg, /queued again/)
  t.match(short[0]!.msg, /DEDUP_WINDOW_SECONDS=604800/)
  t.same(configWarnings(loadConfig({ GATEWAY_CONFIG: path, DEDUP_WINDOW_SECONDS: '604800' }, '/nonexistent')), [], 'none at the retention')
  t.same(configWarnings(loadConfig({ GATEWAY_CONFIG: path, DEDUP_WINDOW_SECONDS: '2592000' }, '/nonexistent')), [], 'none above it')
})

t.test('the source-kind registry is the config schema of sources', async t => {
  for (const [key, kind] of Object.entries(SOURCE_KINDS)) {
    t.equal(kind.kind, key, `${key}: registry key is its kind`)
    t.equal((kind.configSchema.properties.kind as { const?: string }).const, key, `${key}: its config schema's kind`)
    t.ok(validateFileConfig({ sources: [{ name: 'x', kind: key, ...(key === 'adobe-io-events' ? {} : { auth: { type: 'none' } }) }] }), `${key} is accepted`)
  }
  t.throws(() => validateFileConfig({ sources: [{ name: 'x', kind: 'nope' }] }), { message: `GATEWAY_CONFIG: /sources/0/kind must be equal to one of the allowed values (${Object.keys(SOURCE_KINDS).join(', ')})` })
})
