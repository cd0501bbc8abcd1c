import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ROOT } from '../helpers/index.ts'

/**
 * No image registry is reachable here, so the image is not built; this reads
 * the Dockerfile as the builder would (instructions, continuation lines joined,
 * comments dropped) and runs its HEALTHCHECK command against a local server.
 */

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const dockerfile = read('Dockerfile')

interface Instruction { keyword: string, args: string }
interface Stage { from: string, name?: string, instructions: Instruction[] }

function parseDockerfile (text: string): { globalArgs: Instruction[], stages: Stage[] } {
  const logical = text.split('\n').filter(line => !/^\s*#/.test(line)).join('\n').replace(/\\\n/g, ' ')
  const globalArgs: Instruction[] = []
  const stages: Stage[] = []
  for (const line of logical.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    if (!m) continue
    const instruction = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim() }
    if (instruction.keyword === 'FROM') {
      const [from, as, name] = instruction.args.split(/\s+/)
      stages.push({ from: from!, ...(as?.toUpperCase() === 'AS' && { name }), instructions: [] })
    } else if (stages.length === 0) globalArgs.push(instruction)
    else stages.at(-1)!.instructions.push(instruction)
  }
  return { globalArgs, stages }
}

const { globalArgs, stages } = parseDockerfile(dockerfile)
const runtime = stages.at(-1)!
const inRuntime = (keyword: string) => runtime.instructions.filter(i => i.keyword === keyword)

t.test('no syntax directive: BuildKit uses its built-in frontend, nothing is pulled for it', async t => {
  t.notMatch(dockerfile, /^#\s*syntax\s*=/im)
  t.notMatch(dockerfile, /^#\s*(escape|check)\s*=/im, 'no other parser directive either')
})

t.test('every stage is Node 24 on Debian bookworm slim', async t => {
  const arg = globalArgs.find(a => a.keyword === 'ARG' && a.args.startsWith('NODE_IMAGE='))
  t.ok(arg, 'the base image is one ARG, so every stage agrees')
  const image = arg!.args.slice('NODE_IMAGE='.length)
  t.match(image, /^node:24(\.\d+){0,2}-bookworm-slim(@sha256:[0-9a-f]{64})?$/)
  const names = new Set(stages.map(s => s.name))
  for (const stage of stages) t.ok(stage.from === '${NODE_IMAGE}' || names.has(stage.from), `FROM ${stage.from} is the Node image`)
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node
  t.equal(engines, '>=22.18', 'package.json engines: the oldest Node that runs TypeScript sources without flags and that the dependencies support')
})

t.test('multi-stage: production dependencies only in the runtime stage', async t => {
  t.ok(stages.length >= 2, 'multi-stage')
  const deps = stages.find(s => s.instructions.some(i => i.keyword === 'RUN' && /npm ci --omit=dev/.test(i.args)))
  t.ok(deps?.name, 'a named stage installs production dependencies only')
  t.ok(inRuntime('COPY').some(i => i.args.startsWith(`--from=${deps!.name} /app/node_modules `)), 'the runtime stage copies them')
  t.notOk(runtime.instructions.some(i => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args)), 'no install in the runtime stage')
  for (const dir of ['src', 'workers', 'schemas']) {
    t.ok(inRuntime('COPY').some(i => i.args === `${dir} ./${dir}`), `${dir}/ is copied`)
  }
  const ignored = read('.dockerignore').split('\n')
  t.ok(ignored.includes('.env'), 'secrets stay out of the build context')
  t.ok(ignored.includes('config'), 'so does the mounted config directory')
})

t.test('runs as a non-root user, the gateway by default', async t => {
  const users = inRuntime('USER')
  t.equal(users.length, 1)
  t.notMatch(users[0]!.args, /^(root|0)(:|$)/, `USER ${users[0]!.args} is not root`)
  const keywords = runtime.instructions.map(i => i.keyword)
  t.ok(keywords.indexOf('USER') < keywords.lastIndexOf('CMD'), 'USER comes before the command')
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
  const cmd = JSON.parse(inRuntime('CMD').at(-1)!.args) as string[]
  t.equal(cmd.join(' '), scripts.gateway, 'default command is `npm run gateway` without npm')
  t.same(inRuntime('EXPOSE').map(i => i.args), ['3000 3001'])
})

t.test('HEALTHCHECK is the liveness probe /healthz, run with node itself', async t => {
  const healthchecks = inRuntime('HEALTHCHECK')
  t.equal(healthchecks.length, 1)
  const m = /^(.*?)\s*CMD\s+(\[.*\])$/.exec(healthchecks[0]!.args)
  t.ok(m, 'exec form: no shell in the probe')
  const command = JSON.parse(m![2]!) as string[]
  t.equal(command[0], 'node', 'no curl or wget in the image: node probes')

  // Run the probe as Docker would, against a local server standing in for the gateway.
  const paths: string[] = []
  let status = 200
  const server = createServer((req, res) => { paths.push(req.url!); res.statusCode = status; res.end() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  const probe = async (env: Record<string, string>) => await promisify(execFile)(process.execPath, command.slice(1), { env: { PATH: process.env.PATH ?? '', ...env } })
    .then(() => 0, (err: { code: number }) => err.code)

  t.equal(await probe({ PORT: String(port) }), 0, 'healthy when the port answers 200')
  t.same(paths, ['/healthz'], 'probes /healthz (liveness), not /readyz: a Redis outage must not restart the gateway')
  status = 503
  t.equal(await probe({ PORT: String(port) }), 1, 'unhealthy on a 5xx')
  server.close()
  await once(server, 'close')
  t.equal(await probe({ PORT: String(port) }), 1, 'unhealthy when nothing listens')
})
