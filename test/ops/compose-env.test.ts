import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.ts'
import { REDIS_URL, eventually, testRedis, uniquePrefix } from '../helpers/index.ts'
import { ROOT, listeningPort, spawnRole, type RoleProcess } from '../helpers/index.ts'

/**
 * The `docker compose up` path without Docker: the gateway and a worker start
 * from their entry points with the environment compose gives their containers,
 * built from `.env.example` (the documented `cp .env.example .env`) and from an
 * empty `.env` (a fresh clone: the env file is optional).
 */

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')

/**
 * A `.env` file read as compose reads it (compose-go's dotenv): blank lines and
 * `#` lines skipped, an optional `export `, `KEY=` is the empty string, an
 * unquoted value ends at ` #` and is trimmed, single quotes are literal,
 * double quotes take backslash escapes. Compose would interpolate `$NAME` in
 * unquoted and double-quoted values; this refuses such a value rather than
 * guess, so a future `.env.example` line that needs it fails here loudly.
 */
export function parseComposeEnvFile (text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line)
    if (!m) throw new Error(`line ${i + 1}: not KEY=VALUE: ${raw}`)
    const [, key, rest] = m as unknown as [string, string, string]
    let value: string
    if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1)
      if (end < 0) throw new Error(`line ${i + 1}: unterminated single quote`)
      value = rest.slice(1, end)
    } else if (rest.startsWith('"')) {
      const q = /^"((?:[^"\\]|\\.)*)"/.exec(rest)
      if (!q) throw new Error(`line ${i + 1}: unterminated double quote`)
      value = q[1]!.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c)
      if (/\$/.test(q[1]!)) throw new Error(`line ${i + 1}: interpolation is not modelled here`)
    } else {
      value = rest.replace(/\s+#.*$/, '').trim()
      if (value.includes('$')) throw new Error(`line ${i + 1}: interpolation is not modelled here`)
    }
    env[key] = value
  }
  return env
}

/** `ENV` of the Dockerfile's last (runtime) stage: the image's environment, under env_file and `environment:`. */
function imageEnv (): Record<string, string> {
  const runtime = read('Dockerfile').replace(/\\\n/g, ' ').split(/^FROM /m).at(-1)!
  const env: Record<string, string> = {}
  for (const [, args] of runtime.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const pair of args!.trim().split(/\s+/)) {
      const eq = pair.indexOf('=')
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
  }
  return env
}

interface ComposeService { env_file?: unknown, environment?: Record<string, string | number | boolean | null> }
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> }

/**
 * What a service's container sees: image ENV, then the env file, then the
 * service's `environment:` (compose's precedence order). `null` in
 * `environment:` means "take it from the shell", which compose leaves unset here.
 */
function composeEnv (service: string, envFile: string): Record<string, string> {
  const declared = compose.services[service]!.environment ?? {}
  const environment = Object.fromEntries(Object.entries(declared)
    .filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]))
  return { ...imageEnv(), ...parseComposeEnvFile(envFile), ...environment }
}

/**
 * Only what must differ on a shared test machine: Redis on 127.0.0.1 instead of
 * the `redis` service, this test's own queue prefix, loopback and free ports.
 * What compose itself gives for these is checked by loading it as a config.
 */
function local (prefix: string): Record<string, string> {
  return { REDIS_URL, QUEUE_PREFIX: prefix, HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0' }
}

/**
 * `spawnRole` adds `LOG_LEVEL=info` to the child's environment; an undefined
 * value drops it again (child_process skips undefined entries), so the process
 * sees PATH and the compose environment only.
 */
function start (t: Test, entry: string, env: Record<string, string>): RoleProcess {
  return spawnRole(t, entry, { LOG_LEVEL: undefined, ...env } as unknown as Record<string, string>)
}

function everyLineIsJson (t: Test, role: RoleProcess, name: string) {
  const notJson = role.lines.filter(l => typeof l.level !== 'number')
  t.same(notJson, [], `${name}: every stdout line is a JSON log line`)
}

for (const [label, envFile] of [['.env copied from .env.example', read('.env.example')], ['an empty .env', '']] as const) {
  t.test(`gateway and worker boot with compose's environment from ${label}, and stop with exit 0`, async t => {
    const prefix = uniquePrefix()
    testRedis(t, prefix) // deletes the prefix's keys at teardown

    // Unchanged, compose's environment is the containers' network setup: every interface, ports 3000/3001, the redis service.
    const asComposed = loadConfig(composeEnv('gateway', envFile), ROOT)
    t.match(asComposed, { host: '0.0.0.0', port: 3000, adminPort: 3001, redisUrl: 'redis://redis:6379', queuePrefix: 'aeg' }, 'blank network settings take their defaults')

    const gatewayEnv = { ...composeEnv('gateway', envFile), ...local(prefix) }
    const gateway = start(t, 'src/bin/gateway.ts', gatewayEnv)
    const port = await listeningPort(gateway, 'gateway').catch((err: Error) => {
      throw new Error(`the gateway did not start: ${err.message.trim()}`)
    })
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200)
    t.pass('gateway /readyz answers 200')

    const worker = start(t, 'src/bin/worker.ts', { ...composeEnv('worker', envFile), ...local(prefix) })
    const started = await worker.waitForLog(l => l.msg === 'workers started').catch((err: Error) => {
      throw new Error(`the worker did not start: ${err.message.trim()}`)
    })
    t.match(started, { role: 'worker', prefix }, 'worker logged its JSON started line on this prefix')

    t.equal(await worker.stop('SIGTERM'), 0, `worker exits 0 on SIGTERM (stderr: ${worker.stderr()})`)
    t.equal(await gateway.stop('SIGTERM'), 0, `gateway exits 0 on SIGTERM (stderr: ${gateway.stderr()})`)
    everyLineIsJson(t, gateway, 'gateway')
    everyLineIsJson(t, worker, 'worker')
  })
}

t.test('the .env reader follows compose rules', async t => {
  t.same(parseComposeEnvFile([
    '# comment', '', 'EMPTY=', 'PLAIN=a b  ', 'INLINE=v # note', 'HASH=a#b',
    "SINGLE='x # y \\n'", 'DOUBLE="l1\\nl2 \\"q\\""', 'export EXPORTED=1', '  SPACED = 2'
  ].join('\n')), {
    EMPTY: '', PLAIN: 'a b', INLINE: 'v', HASH: 'a#b', SINGLE: 'x # y \\n', DOUBLE: 'l1\nl2 "q"', EXPORTED: '1', SPACED: '2'
  })
  t.throws(() => parseComposeEnvFile('URL=${HOST}/x'), /interpolation/)
  t.throws(() => parseComposeEnvFile('not a line'), /KEY=VALUE/)
  const example = parseComposeEnvFile(read('.env.example'))
  t.equal(example.REDIS_CLUSTER_NODES, '', 'a blank line in .env.example is an empty variable, as compose passes it')
  const variableLines = read('.env.example').split('\n').filter(l => /^[A-Z][A-Z0-9_]*=/.test(l))
  t.same(Object.keys(example), variableLines.map(l => l.slice(0, l.indexOf('='))), 'every variable line of .env.example, nothing else')
})
