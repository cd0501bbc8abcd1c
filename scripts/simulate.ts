/**
 * Sends correctly signed (or authenticated) sample events of every seed
 * provider to a running gateway, so the product can be tried without Adobe or
 * a tunnel. `npm run simulate -- --help` for usage.
 */
import { parseArgs } from 'node:util'
import { FAKE_CLIENT, startFakeJournal } from '../test/helpers/fake-journal.ts'
import {
  SAMPLE_KINDS, authHeaders, defaultSourceName, deliveryHeaders, isSampleKind, sampleBodies, serveKeys, simulatorKeys,
  type Credentials, type SampleKind, type SampleStatus
} from './simulator.ts'

const USAGE = `usage: npm run simulate -- <kind> [options]
       npm run simulate -- --serve-keys [--keys-port 3999]
       npm run simulate -- <adobe kind> --via journal [--journal-port 3998]

kinds: ${Object.keys(SAMPLE_KINDS).join(', ')}

  --url URL            webhook URL (default http://127.0.0.1:3000/webhooks/<source>)
  --source NAME        source name in the default URL (adobe | pdf | alm by kind)
  --status S           succeeded | failed | running (default succeeded)
  --batch N            events per delivery, 1-20 (PDF Services: N callbacks) (default 1)
  --via webhook|journal
                       webhook (default): POST to the gateway.
                       journal (Adobe I/O Events kinds): start a local fake Adobe journal
                       + IMS token endpoint, publish the events there (as Adobe does for a
                       registration with journaling) and serve them until Ctrl-C; it prints
                       the journal and oauth blocks to put in the gateway's config file.
                       A running worker reads them; nothing is sent to the gateway.
  --journal-port N     fake journal port (default 3998; 0 = any free port)

Adobe I/O Events kinds (lightroom, photoshop, dgr, indesign, cc-asset):
  (default proof: RSA digital signatures with the simulator's own key pair; the
   gateway trusts them when its ADOBE_PUBLIC_KEY_BASE_URL is the simulator's key server)
  --client-secret S    sign with the legacy x-adobe-signature HMAC instead (= ADOBE_CLIENT_SECRET)
  --serve-keys         start that key server and print the ADOBE_PUBLIC_KEY_BASE_URL to set;
                       with a kind it serves while the events are sent, alone until Ctrl-C
  --keys-port N        key server port (default 3999; 0 = any free port)
  --keys-dir DIR       where the simulator's key pair is kept (default ./data/simulator-keys)
  --client-id ID       recipient client id written into CloudEvents (dgr, indesign)

pdf-services:          --token T [--token-header x-callback-token] | --user U --password P
learning-manager:      --user U --password P | --hmac-secret S [--hmac-header x-alm-signature]
                       [--hmac-algorithm sha256] [--hmac-encoding base64|hex] [--hmac-prefix '']
`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    source: { type: 'string' },
    status: { type: 'string', default: 'succeeded' },
    batch: { type: 'string', default: '1' },
    'client-secret': { type: 'string' },
    'client-id': { type: 'string' },
    'serve-keys': { type: 'boolean', default: false },
    'keys-port': { type: 'string', default: '3999' },
    'keys-dir': { type: 'string', default: './data/simulator-keys' },
    via: { type: 'string', default: 'webhook' },
    'journal-port': { type: 'string', default: '3998' },
    token: { type: 'string' },
    'token-header': { type: 'string', default: 'x-callback-token' },
    user: { type: 'string' },
    password: { type: 'string' },
    'hmac-secret': { type: 'string' },
    'hmac-header': { type: 'string', default: 'x-alm-signature' },
    'hmac-algorithm': { type: 'string', default: 'sha256' },
    'hmac-encoding': { type: 'string', default: 'base64' },
    'hmac-prefix': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

function fail (message: string): never {
  process.stderr.write(`simulate: ${message}\n\n${USAGE}`)
  process.exit(2)
}

if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const kindArg = positionals[0]
if (kindArg === undefined && !values['serve-keys']) fail('a kind is required')
if (kindArg !== undefined && !isSampleKind(kindArg)) fail(`unknown kind "${kindArg}"`)
const kind = kindArg as SampleKind | undefined
const status = values.status as SampleStatus
if (!['succeeded', 'failed', 'running'].includes(status)) fail(`--status must be succeeded, failed or running, not "${values.status}"`)
const batch = Number(values.batch)
if (!Number.isInteger(batch) || batch < 1 || batch > 20) fail('--batch must be an integer from 1 to 20')
const keysPort = Number(values['keys-port'])
if (!Number.isInteger(keysPort) || keysPort < 0 || keysPort > 65535) fail('--keys-port must be a port number')
const via = values.via
if (via !== 'webhook' && via !== 'journal') fail(`--via must be webhook or journal, not "${via}"`)
if (via === 'journal' && (kind === undefined || SAMPLE_KINDS[kind] !== 'adobe-io-events')) fail('--via journal needs an Adobe I/O Events kind (lightroom, photoshop, dgr, indesign, cc-asset): only I/O Events registrations have a journal')
const journalPort = Number(values['journal-port'])
if (!Number.isInteger(journalPort) || journalPort < 0 || journalPort > 65535) fail('--journal-port must be a port number')

const keyServer = values['serve-keys'] ? await serveKeys(simulatorKeys(values['keys-dir']), keysPort) : undefined
if (keyServer !== undefined) {
  process.stdout.write(`key server: ADOBE_PUBLIC_KEY_BASE_URL=${keyServer.url}\n`)
  // Keep the key server up until Ctrl-C when there is nothing to send.
  if (kind === undefined) {
    process.stdout.write('serving the simulator public keys; start the gateway with that variable, Ctrl-C to stop\n')
    const stop = () => keyServer.server.close(() => process.exit(0))
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }
}

if (kind !== undefined && via === 'journal') {
  await serveJournal(kind)
} else if (kind !== undefined) {
  const code = await send(kind)
  keyServer?.server.closeAllConnections()
  keyServer?.server.close()
  process.exitCode = code
}

function credentialsFor (kind: SampleKind): Credentials {
  switch (SAMPLE_KINDS[kind]) {
    case 'adobe-io-events':
      return values['client-secret'] !== undefined
        ? { type: 'adobe-hmac', clientSecret: values['client-secret'] }
        : { type: 'adobe-signature', keys: simulatorKeys(values['keys-dir']) }
    case 'pdf-services':
      if (values.token !== undefined) return { type: 'header', header: values['token-header'], value: values.token }
      if (values.user !== undefined) return { type: 'basic', username: values.user, password: values.password ?? '' }
      return { type: 'none' }
    case 'learning-manager': {
      if (values['hmac-secret'] !== undefined) {
        const encoding = values['hmac-encoding']
        if (encoding !== 'base64' && encoding !== 'hex') fail('--hmac-encoding must be base64 or hex')
        return { type: 'hmac', header: values['hmac-header'], secret: values['hmac-secret'], algorithm: values['hmac-algorithm'], encoding, prefix: values['hmac-prefix'] }
      }
      if (values.user !== undefined) return { type: 'basic', username: values.user, password: values.password ?? '' }
      return { type: 'none' }
    }
  }
}

/** Sends every sample body; returns the exit code (0 when every answer was 2xx). */
async function send (kind: SampleKind): Promise<number> {
  const url = values.url ?? `http://127.0.0.1:3000/webhooks/${values.source ?? defaultSourceName(kind)}`
  const credentials = credentialsFor(kind)
  let failures = 0
  for (const body of sampleBodies(kind, { status, batch, clientId: values['client-id'] })) {
    const raw = JSON.stringify(body)
    const headers = { 'content-type': 'application/json', ...deliveryHeaders(kind, body), ...authHeaders(raw, credentials) }
    try {
      const res = await fetch(url, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(15_000) })
      const answer = (await res.text()).slice(0, 300)
      const events = Array.isArray(body) ? body.length : kind === 'learning-manager' ? (body as { events: unknown[] }).events.length : 1
      process.stdout.write(`${kind}: POST ${url} (${events} event${events === 1 ? '' : 's'}) → ${res.status} ${answer}\n`)
      if (res.status < 200 || res.status > 299) failures++
    } catch (err) {
      process.stdout.write(`${kind}: POST ${url} failed: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}\n`)
      failures++
    }
  }
  return failures === 0 ? 0 : 1
}

/**
 * Publishes the sample events to a fake Adobe journal (each event of a batch
 * is its own journal entry, as Adobe stores them) and serves it until Ctrl-C.
 */
async function serveJournal (kind: SampleKind): Promise<void> {
  const journal = await startFakeJournal({ port: journalPort, path: '/events/organizations/simulator/integrations/simulator/journal' })
  let published = 0
  for (const body of sampleBodies(kind, { status, batch, clientId: values['client-id'] })) {
    for (const event of Array.isArray(body) ? body : [body]) {
      journal.publish(event)
      published++
    }
  }
  process.stdout.write(`${kind}: published ${published} event${published === 1 ? '' : 's'} to the fake journal\n`)
  process.stdout.write(`journal url: ${journal.url}\n`)
  process.stdout.write(`token url: ${journal.tokenUrl}\n`)
  // The fake IMS's fixed test credentials: nothing real is printed.
  const fileConfig = {
    sources: [{ name: values.source ?? defaultSourceName(kind), kind: 'adobe-io-events', journal: { url: journal.url, imsOrgId: FAKE_CLIENT.imsOrgId, start: 'oldest' } }],
    oauth: { tokenUrl: journal.tokenUrl, clientId: FAKE_CLIENT.clientId, clientSecret: FAKE_CLIENT.clientSecret, scopes: ['openid'] }
  }
  process.stdout.write(`gateway config (the fake IMS's fixed test credentials; keep your source's other settings):\n${JSON.stringify(fileConfig, null, 2)}\n`)
  process.stdout.write('serving the journal until Ctrl-C; start a worker with that config to read it\n')
  const stop = () => { void journal.close().then(() => process.exit(0)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
