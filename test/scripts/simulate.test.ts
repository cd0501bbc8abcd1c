import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { AuthConfig } from '../../src/config.ts'
import { FAKE_CLIENT } from '../helpers/fake-journal.ts'
import { buildTestApp, eventually, testConfig, uniquePrefix } from '../helpers/index.ts'
import { eventsQueue } from '../helpers/sources.ts'
import { startReaders } from '../workers/journal/support.ts'

// The simulator as a user runs it: child processes against a gateway listening
// on a real port, trusting the simulator's own key server.

const root = fileURLToPath(new URL('../../', import.meta.url))
const SECRET = 'simulator-client-secret'

function simulator (args: string[]): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['scripts/simulate.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  return Object.assign(child, { output: () => output })
}

async function run (args: string[]): Promise<{ code: number | null, output: string }> {
  const child = simulator(args)
  const [code] = await once(child, 'exit') as [number | null]
  return { code, output: child.output() }
}

t.test('simulator → gateway, every kind accepted', async t => {
  const keysDir = mkdtempSync(join(tmpdir(), 'aeg-sim-keys-'))
  t.teardown(() => rmSync(keysDir, { recursive: true, force: true }))

  // 1. The key server, alone, on a free port: it prints the base URL to configure.
  const keys = simulator(['--serve-keys', '--keys-port', '0', '--keys-dir', keysDir])
  t.teardown(async () => {
    if (keys.exitCode === null) {
      keys.kill('SIGTERM')
      await once(keys, 'exit')
    }
  })
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /ADOBE_PUBLIC_KEY_BASE_URL=(\S+)/.exec(keys.output())
      if (match) { keys.stdout!.off('data', onData); resolve(match[1]!) }
    }
    keys.stdout!.on('data', onData)
    keys.once('exit', () => reject(new Error(`key server exited: ${keys.output()}`)))
  })

  // 2. A gateway that trusts it, listening on a real port.
  const prefix = uniquePrefix()
  const app = await buildTestApp(t, testConfig({
    sources: [
      { name: 'adobe', kind: 'adobe-io-events', verify: 'signature' },
      { name: 'legacy', kind: 'adobe-io-events', clientSecret: SECRET, verify: 'signature' },
      { name: 'pdf', kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: 'simulated-pdf-token' } },
      { name: 'alm', kind: 'learning-manager', auth: { type: 'basic', username: 'alm', password: 'simulated-password' } },
      // Algorithm, encoding and prefix left to the gateway's defaults, which the simulator's match.
      { name: 'alm-signed', kind: 'learning-manager', auth: { type: 'hmac', header: 'x-alm-signature', secrets: ['simulated-hmac-secret'] } as AuthConfig }
    ]
  }, { QUEUE_PREFIX: prefix, ADOBE_PUBLIC_KEY_BASE_URL: baseUrl }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const gateway = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/webhooks`
  const events = eventsQueue(t, prefix)

  // 3. Every kind, as separate runs (in parallel, as several users might).
  const runs = [
    ['lightroom', '--url', `${gateway}/adobe`, '--keys-dir', keysDir],
    ['photoshop', '--url', `${gateway}/adobe`, '--status', 'failed', '--keys-dir', keysDir],
    ['dgr', '--url', `${gateway}/adobe`, '--batch', '2', '--keys-dir', keysDir],
    ['indesign', '--url', `${gateway}/adobe`, '--batch', '3', '--status', 'failed', '--keys-dir', keysDir],
    ['cc-asset', '--url', `${gateway}/adobe`, '--keys-dir', keysDir],
    ['lightroom', '--url', `${gateway}/legacy`, '--client-secret', SECRET],
    ['pdf-services', '--url', `${gateway}/pdf`, '--token', 'simulated-pdf-token', '--batch', '2', '--status', 'failed'],
    ['learning-manager', '--url', `${gateway}/alm`, '--user', 'alm', '--password', 'simulated-password', '--batch', '3'],
    ['learning-manager', '--url', `${gateway}/alm-signed`, '--hmac-secret', 'simulated-hmac-secret']
  ]
  const results = await Promise.all(runs.map(run))
  for (const [i, result] of results.entries()) {
    t.equal(result.code, 0, `${runs[i]!.slice(0, 2).join(' ')}: ${result.output.trim()}`)
  }
  t.match(results[6]!.output, /→ 200 \{"ack":"done"\}/)

  const queued = await events.envelopes()
  const count = (predicate: (e: typeof queued[number]) => boolean) => queued.filter(predicate).length
  t.equal(count(e => e.type === 'com.adobe.lightroom.job-status' && e.jobstatus === 'succeeded'), 2, 'lightroom: signed and legacy HMAC')
  t.equal(count(e => e.type === 'com.adobe.photoshop.job-status' && e.jobstatus === 'failed'), 1)
  const dgr = queued.filter(e => e.type === '{DGR_EVENT_TYPE_EXAMPLE}')
  t.same(dgr.map(e => e.jobstatus).sort(), ['running', 'succeeded'], 'dgr: running then the final status, one job')
  t.equal(new Set(dgr.map(e => e.jobid)).size, 1)
  t.same(queued.filter(e => e.data && (e.data as { data?: { source?: string } }).data?.source === 'indesign').map(e => e.jobstatus).sort(),
    ['failed', 'pending', 'running'])
  t.equal(count(e => e.type === 'com.adobe.io-events.asset_created'), 1)
  t.equal(count(e => e.sourcekind === 'pdf-services' && e.jobstatus === 'failed' && e.joberror === 'INVALID_PROVIDER_NAME'), 2)
  t.equal(count(e => e.source === 'aeg://alm'), 3)
  t.equal(count(e => e.source === 'aeg://alm-signed'), 1)
  t.equal(queued.length, 15)

  // 4. Wrong credentials are refused, and the simulator says so with its exit code.
  const refused = await run(['pdf-services', '--url', `${gateway}/pdf`, '--token', 'wrong-token-value'])
  t.equal(refused.code, 1)
  t.match(refused.output, /→ 401 /)
})

t.test('usage errors exit 2', async t => {
  const { code, output } = await run(['no-such-kind'])
  t.equal(code, 2)
  t.match(output, /unknown kind "no-such-kind"/)
})

t.test('--via journal: a worker\'s journal reader gets the events from the simulator\'s fake journal', async t => {
  const sim = simulator(['dgr', '--via', 'journal', '--journal-port', '0', '--batch', '3'])
  t.teardown(async () => {
    if (sim.exitCode === null) {
      sim.kill('SIGTERM')
      await once(sim, 'exit')
    }
  })
  const [journalUrl, tokenUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const onData = () => {
      const url = /journal url: (\S+)/.exec(sim.output())?.[1]
      const token = /token url: (\S+)/.exec(sim.output())?.[1]
      if (url !== undefined && token !== undefined && /serving the journal/.test(sim.output())) { sim.stdout!.off('data', onData); resolve([url, token]) }
    }
    sim.stdout!.on('data', onData)
    sim.once('exit', () => reject(new Error(`simulator exited: ${sim.output()}`)))
  })
  t.match(sim.output(), /dgr: published 3 events to the fake journal/)

  // The config it printed, as a user would paste it.
  const printed = JSON.parse(/gateway config[^\n]*\n(\{[\s\S]*\n\})\n/.exec(sim.output())![1]!)
  t.same(printed.oauth, { tokenUrl, clientId: FAKE_CLIENT.clientId, clientSecret: FAKE_CLIENT.clientSecret, scopes: ['openid'] })
  const prefix = uniquePrefix()
  const config = testConfig({ sources: [{ ...printed.sources[0], verify: 'none' }], oauth: printed.oauth }, { QUEUE_PREFIX: prefix, DEDUP_WINDOW_SECONDS: '604800' })
  t.equal(config.sources[0]!.name, 'adobe')
  t.match(journalUrl, /^http:\/\/127\.0\.0\.1:\d+\//)
  const events = eventsQueue(t, prefix)
  startReaders(t, config)

  const queued = (await eventually(async () => {
    const envelopes = await events.envelopes()
    return envelopes.length >= 3 ? envelopes : undefined
  }, 30_000))!
  t.equal(queued.length, 3)
  t.same(queued.map(e => e.jobstatus).sort(), ['running', 'running', 'succeeded'], 'one DGR job: running, running, then its final status')
  t.equal(new Set(queued.map(e => e.jobid)).size, 1)

  sim.kill('SIGTERM')
  const [code] = await once(sim, 'exit') as [number | null]
  t.equal(code, 0, 'Ctrl-C stops the fake journal cleanly')
})

t.test('--via journal refuses kinds without a journal', async t => {
  const { code, output } = await run(['pdf-services', '--via', 'journal'])
  t.equal(code, 2)
  t.match(output, /--via journal needs an Adobe I\/O Events kind/)
})
