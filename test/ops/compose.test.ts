import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { Ajv, type AnySchemaObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.ts'

const root = join(import.meta.dirname, '..', '..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')
const require = createRequire(import.meta.url)
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/**
 * The official compose-spec JSON Schema (compose-spec/compose-spec
 * `schema/compose-spec.json`), as the `dclint` package ships it: identical to
 * upstream commit 58a2548 (2025-07-21). Its `$schema` is draft-07 under an
 * https URL, so the draft-07 meta-schema is registered under that id.
 */
function composeValidator () {
  const dir = dirname(require.resolve('dclint/package.json'))
  const schema = JSON.parse(readFileSync(join(dir, 'schemas', 'compose.schema.json'), 'utf8')) as AnySchemaObject
  const draft07 = JSON.parse(readFileSync(require.resolve('ajv/dist/refs/json-schema-draft-07.json'), 'utf8')) as AnySchemaObject
  const ajv = new Ajv({ allErrors: true, strict: false })
  addFormats(ajv)
  ajv.addMetaSchema({ ...draft07, $id: schema.$schema })
  return ajv.compile(schema)
}

interface Service {
  image?: string
  build?: unknown
  command?: string[]
  ports?: string[]
  volumes?: string[]
  env_file?: string | (string | { path: string, required?: boolean })[]
  environment?: Record<string, string>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test?: string[], disable?: boolean }
  container_name?: string
  stop_grace_period?: string
}
interface Compose { services: Record<string, Service>, volumes?: Record<string, unknown> }

// Compose resolves YAML merge keys (`<<: *app`) before validating; so does this.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose

t.test('docker-compose.yml is valid against the compose-spec schema', async t => {
  const validate = composeValidator()
  t.ok(validate(compose), JSON.stringify(validate.errors))
  // The validator does reject what compose would.
  const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> }
  broken.services.redis!.restartt = 'always'
  t.notOk(validate(broken), 'an unknown service key is rejected')
  const badPorts = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> }
  badPorts.services.gateway!.ports = 3000
  t.notOk(validate(badPorts), 'ports must be a list')
})

t.test('redis is durable and never evicts queued jobs', async t => {
  const redis = compose.services.redis!
  t.match(redis.image, /^redis:7\.\d+\.\d+-alpine$/, 'Redis 7 pinned to a patch release')
  const args = redis.command!.join(' ')
  t.match(args, /--appendonly yes\b/)
  t.match(args, /--appendfsync everysec\b/)
  t.match(args, /--maxmemory-policy noeviction\b/)
  const dataVolume = redis.volumes?.find(v => v.endsWith(':/data'))
  t.ok(dataVolume, 'data directory on a volume')
  const volumeName = dataVolume!.split(':')[0]!
  t.ok(compose.volumes && volumeName in compose.volumes, `${volumeName} is a named volume`)
  t.same(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping'])
  t.notOk(redis.ports, 'Redis is not published outside the compose network')
})

/** dclint's findings on a compose file, run as its CLI with the default rules (`--max-warnings 0`). */
async function dclint (file: string) {
  const bin = join(dirname(require.resolve('dclint/package.json')), 'bin', 'dclint.cjs')
  const run = await promisify(execFile)(process.execPath, [bin, file, '--formatter', 'json', '--max-warnings', '0'], { cwd: root })
    .then(r => ({ stdout: r.stdout, code: 0 }), (err: { stdout: string, code: number }) => ({ stdout: err.stdout, code: err.code }))
  const [report] = JSON.parse(run.stdout) as { messages: { rule: string, message: string }[] }[]
  return { code: run.code, messages: report!.messages }
}

t.test('dclint finds no error and no warning, with the optional .env', async t => {
  const { code, messages } = await dclint('docker-compose.yml')
  t.same(messages, [], 'no findings')
  t.equal(code, 0, 'dclint exits 0')
  // The linter does flag what it should: the admin port back on every interface.
  const dir = mkdtempSync(join(tmpdir(), 'aeg-dclint-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'docker-compose.yml'), read('docker-compose.yml').replace("'127.0.0.1:3001:3001'", "'3001:3001'"))
  const unbound = await dclint(join(dir, 'docker-compose.yml'))
  t.match(unbound.messages, [{ rule: 'no-unbound-port-interfaces', message: /3001:3001/ }])
  t.not(unbound.code, 0)
})

t.test('gateway and worker: one image, role by command, config from an optional .env', async t => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
  const { gateway, worker } = compose.services
  for (const [name, svc] of [['gateway', gateway], ['worker', worker]] as const) {
    t.ok(svc, `${name} service exists`)
    t.equal(svc!.image, gateway!.image, `${name} uses the shared image`)
    t.ok(svc!.build, `${name} builds from the Dockerfile`)
    // A fresh clone has no .env: compose (>= 2.24) starts anyway with the defaults.
    t.same(svc!.env_file, [{ path: '.env', required: false }], `${name} reads .env when present`)
    t.equal(svc!.depends_on?.redis?.condition, 'service_healthy', `${name} waits for a healthy Redis`)
    t.equal(svc!.environment?.REDIS_URL, 'redis://redis:6379')
  }
  t.equal(gateway!.command!.join(' '), scripts.gateway, 'gateway command is `npm run gateway` without npm')
  t.equal(worker!.command!.join(' '), scripts.worker, 'worker command is `npm run worker` without npm')
  t.ok(gateway!.ports?.includes('0.0.0.0:3000:3000'), 'public port published on every interface')
  // Bull Board can retry and delete jobs: the admin port stays on the host's loopback.
  t.same(gateway!.ports?.filter(p => p.endsWith(':3001')), ['127.0.0.1:3001:3001'], 'admin port published on 127.0.0.1 only')
  // `--scale worker=N` needs neither a fixed name nor a host port.
  t.notOk(worker!.container_name)
  t.notOk(worker!.ports)
  t.equal(worker!.healthcheck?.disable, true, 'the HTTP healthcheck is off for the portless worker')
})

t.test('stop_grace_period is longer than the default SHUTDOWN_TIMEOUT_MS, so a graceful stop is never cut short', async t => {
  const envSchema = JSON.parse(read('schemas/env.schema.json')) as { properties: { SHUTDOWN_TIMEOUT_MS: { default: number } } }
  const budgetMs = envSchema.properties.SHUTDOWN_TIMEOUT_MS.default
  const seconds = (d: string | undefined) => { const m = /^(\d+)s$/.exec(d ?? ''); return m ? Number(m[1]) : Number.NaN }
  for (const name of ['gateway', 'worker'] as const) {
    const grace = seconds(compose.services[name]!.stop_grace_period)
    t.ok(grace * 1000 > budgetMs, `${name}: ${grace} s > ${budgetMs} ms`)
  }
  t.match(read('schemas/env.ts'), /docker compose: 15 s/, 'SHUTDOWN_TIMEOUT_MS says what to keep it below')
})

t.test('.env.example documents every variable and is a valid configuration', async t => {
  const example = read('.env.example')
  const env = Object.fromEntries(example.split('\n')
    .filter(line => /^[A-Z][A-Z0-9_]*=/.test(line))
    .map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
  const schema = JSON.parse(read('schemas/env.schema.json')) as { properties: Record<string, unknown> }
  for (const name of Object.keys(schema.properties)) {
    t.ok(name in env, `${name} is in .env.example`)
    // The line right above the variable (or its section) explains it.
    t.match(example, new RegExp(`#[^\\n]*\\n(?:#[^\\n]*\\n)*${name}=`), `${name} has a comment`)
  }
  t.doesNotThrow(() => loadConfig(env, '/nonexistent'), 'the example values pass validation')
})
