import { connect } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  eventually, fixture, httpServer, keyServer, listeningPort, roleEnv, spawnRole, testRedis, uniquePrefix, workersReady
} from '../helpers/index.ts'
import { CLIENT_ID, SECRETS, basicAuth, credentialHeaders, hostileSources, rawExchange, validEvent, type AuthMode, type SourceName } from './hostile-support.ts'

/**
 * The gateway and a worker as real processes at LOG_LEVEL=trace, driven
 * through every source kind with right, wrong and missing credentials, the
 * admin port with wrong and right basic auth, forwarding to a destination
 * with a secret, and an output fetched with an OAuth token. Then every line
 * they wrote is scanned for every secret, signature, token and basic-auth
 * value that went over the wire.
 */
t.test('no secret, signature, token or basic-auth credential reaches any log line (gateway + worker at trace)', async t => {
  const prefix = uniquePrefix()
  testRedis(t, prefix)
  const keys = await keyServer(t)
  /** Every sensitive value seen on the wire, by what it is. */
  const sensitive = new Map<string, string>()
  const remember = (what: string, value: string | undefined) => { if (value !== undefined && value.length >= 6) sensitive.set(value, what) }
  for (const [name, value] of Object.entries(SECRETS)) [value].flat().forEach((v, i) => remember(`secret ${name}${i || ''}`, v))

  const forwarded = new Set<string>()
  const destination = await httpServer(t, (req, res) => {
    remember('webhook-signature', String(req.headers['webhook-signature']))
    forwarded.add(String(req.headers['webhook-id']))
    res.writeHead(204).end()
  })
  let tokenRequests = 0
  const bearerSeen: string[] = []
  const files = await httpServer(t, (req, res) => {
    if (req.method === 'POST' && req.url === '/ims/token') {
      tokenRequests++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: SECRETS.accessToken, expires_in: 3600 }))
      return
    }
    if (req.url?.startsWith('/v1/status/')) {
      bearerSeen.push(String(req.headers.authorization))
      if (req.headers.authorization !== `Bearer ${SECRETS.accessToken}`) { res.writeHead(401).end(); return }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"succeeded"}')
      return
    }
    if (req.url?.startsWith('/out.pdf')) { res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.7 test'); return }
    res.writeHead(404).end()
  })

  const dir = await mkdtemp(join(tmpdir(), 'aeg-security-logs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'gateway.config.json')
  const sources = hostileSources() as Record<string, any>[]
  sources[0]!.clientSecret = '${LR_SECRET}'
  sources[1]!.auth.value = '${PDF_TOKEN}'
  sources[2]!.auth.password = '${ALM_PASSWORD}'
  sources[3]!.auth.secrets = ['${ALM_HMAC_OLD}', '${ALM_HMAC_NEW}']
  await writeFile(configFile, JSON.stringify({
    sources,
    destinations: [{ name: 'orders', url: destination.url, secret: '${FORWARD_SECRET}' }],
    outputs: { dir: join(dir, 'outputs'), allowHosts: ['127.0.0.1'], allowHttp: true },
    oauth: { tokenUrl: `${files.url}/ims/token`, clientId: 'oauth-client', clientSecret: '${OAUTH_SECRET}', scopes: ['openid'] }
  }))
  const env = {
    ...roleEnv({ prefix, configFile, keysUrl: keys.url }),
    ADMIN_USER: 'ops',
    ADMIN_PASSWORD: SECRETS.adminPassword,
    LOG_LEVEL: 'trace',
    LR_SECRET: SECRETS.lrClientSecret,
    PDF_TOKEN: SECRETS.pdfToken,
    ALM_PASSWORD: SECRETS.almPassword,
    ALM_HMAC_OLD: SECRETS.almHmac[0],
    ALM_HMAC_NEW: SECRETS.almHmac[1],
    FORWARD_SECRET: SECRETS.forwardSecret,
    OAUTH_SECRET: SECRETS.oauthClientSecret,
    JOB_BACKOFF_MS: '50',
    HEADERS_TIMEOUT_MS: '500',
    REQUEST_TIMEOUT_MS: '1000'
  }
  const gateway = spawnRole(t, 'src/bin/gateway.ts', env)
  const worker = spawnRole(t, 'src/bin/worker.ts', env)
  const port = await listeningPort(gateway, 'gateway')
  const adminPort = await listeningPort(gateway, 'admin')
  await worker.waitForLog(workersReady)

  const post = async (source: string, body: Buffer, headers: Record<string, string>) => {
    for (const [name, value] of Object.entries(headers)) {
      if (/signature|token|authorization/i.test(name)) remember(`${name} header`, value)
      if (name === 'authorization') remember('basic credentials (decoded)', Buffer.from(value.replace(/^Basic /, ''), 'base64').toString())
    }
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/${source}`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/json', ...headers } })
    await res.arrayBuffer()
    return res.status
  }

  // Every source kind, with right, wrong and missing credentials (both proofs for lr, both rotation secrets for almh).
  const accepted: string[] = []
  const statuses: Record<string, number[]> = {}
  for (const source of ['lr', 'pdf', 'alm', 'almh'] as SourceName[]) {
    for (const mode of ['valid', 'wrong', 'missing'] as AuthMode[]) {
      for (const variant of [0, 1]) {
        const event = validEvent(source, variant)
        const body = Buffer.from(JSON.stringify(event))
        const status = await post(source, body, credentialHeaders(source, body, mode, variant));
        (statuses[`${source}/${mode}`] ??= []).push(status)
        if (mode === 'valid') {
          t.equal(status, 200, `${source} accepts valid credentials (variant ${variant})`)
          accepted.push(source)
        } else {
          t.equal(status, 401, `${source} refuses ${mode} credentials (variant ${variant})`)
        }
      }
    }
  }

  // Outputs: a Dynamic Graphics Render status URL fetched with an OAuth token, a PDF with a pre-signed download link.
  const dgr = fixture('adobe-io-events/dgr-single.json')
  dgr.id = 'sec-dgr-1'
  dgr.eventid = 'sec-dgr-1'
  dgr.recipientclientid = CLIENT_ID
  dgr.data.value.status_url = `${files.url}/v1/status/sec-dgr-1`
  const dgrBody = Buffer.from(JSON.stringify(dgr))
  t.equal(await post('lr', dgrBody, credentialHeaders('lr', dgrBody, 'valid')), 200)
  const pdf = validEvent('pdf') as { statusResponse: { asset: { downloadUri: string } } }
  pdf.statusResponse.asset.downloadUri = `${files.url}/out.pdf?X-Amz-Signature=${SECRETS.presignedSignature}&X-Amz-Credential=cred`
  const pdfBody = Buffer.from(JSON.stringify(pdf))
  t.equal(await post('pdf', pdfBody, credentialHeaders('pdf', pdfBody, 'valid')), 200)

  // Malformed HTTP carrying credentials: Node hands the raw bytes to the client-error handler.
  const rawAuth = basicAuth(SECRETS.almUser, SECRETS.almPassword)
  const raw = await rawExchange(port, Buffer.from(`POST /webhooks/alm HTTP/1.1\r\nHost: x\r\nAuthorization: ${rawAuth}\r\nX-Callback-Token: ${SECRETS.pdfToken}\r\nBad Header: \x01\r\n\r\n`, 'latin1'))
  t.equal(raw?.status, 400, 'malformed request answered 400')
  // A request with credentials whose body never completes: the 408 path.
  const slow = connect(port, '127.0.0.1')
  let slowText = ''
  slow.on('data', d => { slowText += d })
  slow.on('error', () => {})
  slow.write(`POST /webhooks/pdf HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Callback-Token: ${SECRETS.pdfToken}\r\nContent-Length: 100\r\n\r\n{`)
  await new Promise(resolve => slow.on('close', resolve))
  t.match(slowText, /^HTTP\/1\.1 408 /, 'incomplete body answered 408')

  // Admin port: anonymous, wrong password, wrong user, right credentials.
  const adminStatuses: number[] = []
  for (const auth of [undefined, basicAuth('ops', `${SECRETS.adminPassword}-wrong`), basicAuth('admin', SECRETS.adminPassword), basicAuth('ops', SECRETS.adminPassword)]) {
    if (auth !== undefined) {
      remember('admin authorization header', auth)
      remember('admin credentials (decoded)', Buffer.from(auth.slice(6), 'base64').toString())
    }
    for (const path of ['/metrics', '/admin/queues/api/queues']) {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { headers: auth === undefined ? {} : { authorization: auth } })
      await res.arrayBuffer()
      adminStatuses.push(res.status)
    }
  }
  t.same(adminStatuses, [401, 401, 401, 401, 401, 401, 200, 200], 'admin refuses anonymous and wrong credentials, serves the right ones')

  // Side effects happened: every accepted event forwarded (signed with the secret), the status URL fetched with the token.
  // One forward per event: Learning Manager payloads carry several.
  const almEvents = (fixture('learning-manager/course-enrollment.json').events as unknown[]).length
  const expectedForwards = accepted.filter(s => s === 'lr' || s === 'pdf').length + accepted.filter(s => s.startsWith('alm')).length * almEvents + 2
  await eventually(() => forwarded.size >= expectedForwards, 20_000)
  await eventually(() => bearerSeen.length > 0, 20_000)
  t.equal(tokenRequests, 1, 'one OAuth token requested')
  t.same(bearerSeen, [`Bearer ${SECRETS.accessToken}`], 'the status URL was fetched with the bearer token')
  await worker.waitForLog(l => l.outcome !== undefined && String(l.url).endsWith('/out.pdf'))
  remember('bearer header', `Bearer ${SECRETS.accessToken}`)

  // Stop both so every line is flushed, then scan.
  t.equal(await gateway.stop('SIGTERM'), 0)
  t.equal(await worker.stop('SIGTERM'), 0)
  const streams = [
    { name: 'gateway', text: gateway.lines.map(l => JSON.stringify(l)).join('\n') + gateway.stderr() },
    { name: 'worker', text: worker.lines.map(l => JSON.stringify(l)).join('\n') + worker.stderr() }
  ]
  const leaks: string[] = []
  for (const { name, text } of streams) {
    // Buffers serialize as byte arrays: decode them so raw packets are scanned as text too.
    const decoded = [...text.matchAll(/"type":"Buffer","data":\[([\d,]*)\]/g)].map(m => Buffer.from(m[1]!.split(',').filter(Boolean).map(Number)).toString('latin1'))
    const haystack = [text, ...decoded].join('\n')
    for (const [value, what] of sensitive) if (haystack.includes(value)) leaks.push(`${name} log contains the ${what}`)
  }
  t.same(leaks, [], 'no sensitive value in any log line')
  t.comment(`scanned ${gateway.lines.length} gateway and ${worker.lines.length} worker log lines (LOG_LEVEL=trace) for ${sensitive.size} sensitive values: ${leaks.length} leaks`)
  t.comment(`answers: ${Object.entries(statuses).map(([k, v]) => `${k} ${v.join('/')}`).join(', ')}; admin ${adminStatuses.join('/')}; forwards ${forwarded.size}; token requests ${tokenRequests}`)
})
