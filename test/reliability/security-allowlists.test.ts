import { readdir } from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import type { Job } from 'bullmq'
import fc from 'fast-check'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { JobStatusStore } from '../../src/job-status.ts'
import { checkUrl } from '../../src/net/allowed-url.ts'
import { isSafeKeyPath, PublicKeyCache } from '../../src/verify/public-keys.ts'
import { outputDirFor, outputsHandler } from '../../workers/handlers/outputs.ts'
import { OAuthTokens } from '../../workers/oauth-token.ts'
import { captureLog, httpServer, keyServer, signingKeys, testRedis, uniquePrefix } from '../helpers/index.ts'
import type { OutputsJob } from '../../src/queues.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 20260508)

t.test('output URL variants: only allow-listed hosts, whatever the spelling', async t => {
  const policy = { allowHosts: ['*.adobe.io', 'files.example.com'], allowHttp: false }
  const allowed = [
    'https://x.adobe.io/a',
    'https://X.ADOBE.IO/a', // hosts are case-insensitive
    'https://x.adobe.io./a', // the same host, fully qualified
    'https://deep.sub.adobe.io/a?X-Amz-Signature=1',
    'https://files.example.com/a',
    'https://files%2eexample.com/a', // the URL parser decodes the host: still files.example.com
    'https://ｆｉｌｅｓ.example.com/a' // full-width letters normalize (IDNA) to the same host
  ]
  const refused = [
    'http://x.adobe.io/a', // no plain http unless allowHttp
    'https://user:pw@x.adobe.io/a', // credentials in the URL
    'https://x.adobe.io@evil.example/a', // the allowed name as userinfo
    'https://x.adobe.io:443@evil.example/a',
    'https://x.adobe.io%2f@evil.example/a',
    'https://evil.example#@x.adobe.io/a',
    'https://evil.example\\@x.adobe.io/a', // backslash is a path separator for https
    'https://evil.example?.x.adobe.io/a',
    'https://x.adobe.io.evil.example/a',
    'https://x.adobe.io\t.evil.example/a', // tabs are stripped by the parser
    'https://evil-adobe.io/a',
    'https://adobe.io/a', // `*.adobe.io` is subdomains only
    'https://.adobe.io/a', // an empty label is not a subdomain
    'https://..adobe.io/a',
    'https://files.example.com.evil.example/a',
    'https://x.adobe.io../a',
    'https://127.0.0.1/a',
    'https://2130706433/a', // 127.0.0.1 in decimal
    'https://0x7f000001/a', // …in hex
    'https://0177.0.0.1/a', // …in octal
    'https://127.1/a',
    'https://[::1]/a',
    'https://[::ffff:127.0.0.1]/a',
    'https://169.254.169.254/latest/meta-data/',
    'file:///etc/passwd',
    'data:text/plain,hello',
    'ftp://x.adobe.io/a',
    'javascript:alert(1)',
    '//x.adobe.io/a', // relative: no base
    '',
    'https://'
  ]
  for (const url of allowed) t.ok(checkUrl(url, policy).ok, `allowed: ${url}`)
  for (const url of refused) t.notOk(checkUrl(url, policy).ok, `refused: ${JSON.stringify(url)}`)

  // Any string at all: allowed only when the parsed host really is in the list.
  let problem: string | undefined
  fc.assert(fc.property(fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string({ unit: 'binary', maxLength: 80 }).map(s => `https://${s}`)), raw => {
    const result = checkUrl(raw, policy)
    if (!result.ok) return true
    const host = result.url.hostname.replace(/\.$/, '')
    const ok = result.url.protocol === 'https:' && result.url.username === '' && result.url.password === '' &&
      (host === 'files.example.com' || (host.endsWith('.adobe.io') && !host.split('.').includes('')))
    if (!ok) problem ??= raw
    return ok
  }), { seed: SEED, numRuns: 2000 })
  t.equal(problem, undefined, 'no generated URL reaches a host outside the list')
})

t.test('key path variants: never another host, never a traversal, never a query', async t => {
  const refused = [
    '/../secret.pem', '/prod/keys/../../x.pem', '/prod/keys/%2e%2e/x.pem', '/prod/keys/%2E%2E%2Fx.pem', '/prod/keys/.%2e/x.pem',
    '/prod/keys/..%2fx.pem', '/prod/keys/%252e%252e/x.pem', '/prod\\keys\\x.pem', '/prod/keys/..\\x.pem', '/prod//keys/x.pem',
    '//evil.example/x.pem', '/@evil.example/x.pem', '@evil.example/x.pem', 'https://evil.example/x.pem', ':@evil.example/x.pem',
    '/prod/keys/x.pem?x=1', '/prod/keys/x.pem#f', '/prod/keys/x.pem/', '/prod/keys/x.PEM', '/prod/keys/x.pem\u0000', '/prod/keys/x.pem\n',
    '/prod/keys/pub\u2025.pem', '/prod/keys/\uff0e\uff0e/x.pem', '/./x.pem', '/..', '', '/', '.pem', '/prod/keys/ x.pem', '/\t/x.pem'
  ]
  for (const path of refused) t.notOk(isSafeKeyPath(path), `refused: ${JSON.stringify(path)}`)
  t.ok(isSafeKeyPath('/prod/keys/pub-key-voy5XEbWmT.pem'), 'Adobe\'s own path shape is accepted')

  // Any path the check accepts stays on the base URL's host, with the path exactly as given (no normalization).
  const base = 'https://static.adobeioevents.com'
  let problem: string | undefined
  let accepted = 0
  fc.assert(fc.property(fc.oneof(
    fc.string({ unit: fc.constantFrom(...'/.-_aZ09%\\@:?#'.split('')), maxLength: 30 }).map(s => `/${s}.pem`),
    fc.string({ unit: 'binary', maxLength: 40 })
  ), path => {
    if (!isSafeKeyPath(path)) return true
    accepted++
    const url = new URL(base + path)
    const ok = url.origin === base && url.pathname === path && url.search === '' && url.hash === ''
    if (!ok) problem ??= path
    return ok
  }), { seed: SEED, numRuns: 3000 })
  t.equal(problem, undefined, 'every accepted path stays on the key host, unnormalized')
  t.comment(`key path property: 3000 generated paths, ${accepted} accepted, all on the base host`)
})

t.test('a key server redirect is not followed: 503 material, the other host never contacted', async t => {
  const elsewhere = await httpServer(t, (_req, res) => { res.writeHead(200).end(signingKeys().key1.pem) })
  let elsewhereHits = 0
  elsewhere.server.on('request', () => { elsewhereHits++ })
  const keyHost = await httpServer(t, (_req, res) => { res.writeHead(302, { location: `${elsewhere.url}/prod/keys/k.pem` }).end() })
  const cache = new PublicKeyCache({ baseUrl: keyHost.url, ttlMs: 60_000, timeoutMs: 1000, log: pino({ level: 'silent' }) })
  await t.rejects(Promise.resolve(cache.get('/prod/keys/k.pem')), { name: 'KeyFetchError' })
  t.equal(elsewhereHits, 0, 'the redirect target was never contacted')
})

t.test('made-up key paths cannot evict Adobe\'s keys, grow memory, or fan out into unbounded fetches and error lines', async t => {
  const keys = await keyServer(t)
  const log = captureLog('debug')
  // A generous fetch timeout: on a loaded machine a 1 s one can expire and look like a key-host outage.
  const cache = new PublicKeyCache({ baseUrl: keys.url, ttlMs: 60_000, timeoutMs: 10_000, log: log.logger })
  const { key1, key2 } = signingKeys()
  await cache.get(key1.path)
  await cache.get(key2.path)
  const before = keys.totalHits()

  const storm = 1000
  const results = await Promise.allSettled(Array.from({ length: storm }, (_, i) => Promise.resolve(cache.get(`/made/up/${i}.pem`))))
  t.ok(results.every(r => r.status === 'rejected'), 'every made-up path fails (503 at the edge)')
  const fetched = keys.totalHits() - before
  t.ok(fetched <= 16, `only ${fetched} of ${storm} made-up paths were fetched (budget 16 per 10 s)`)
  t.ok(cache.sizes.failures <= 256, `failure memory bounded (${JSON.stringify(cache.sizes)})`)
  t.equal(cache.sizes.keys, 2, 'only real keys are cached')
  t.notOk(cache.get(key1.path) instanceof Promise, 'Adobe\'s key 1 is still a synchronous cache hit')
  t.notOk(cache.get(key2.path) instanceof Promise, 'Adobe\'s key 2 is still a synchronous cache hit')
  // Told apart by level and fields: an outage is an error with its cause, a bad path a warning with a reason, the budget a warning with its limits.
  const errorLines = log.lines.filter(l => l.level === 50 && l.keyPath !== undefined && l.err !== undefined)
  const errors = errorLines.length
  const budget = log.lines.filter(l => l.level === 40 && l.maxNewPathFetches !== undefined).length
  const warnings = log.lines.filter(l => l.level === 40 && l.keyPath !== undefined && l.reason !== undefined).length
  t.equal(errors, 0, `made-up paths answered 404 are no outage of the key host ${JSON.stringify(errorLines.map(l => l.err))}`)
  t.ok(warnings <= 16, `${warnings} warnings for ${storm} bad paths (one per fetched path)`)
  t.equal(budget, 1, 'the budget is reported once')
  t.comment(`${storm} made-up key paths: ${fetched} fetched, ${errors} error lines, cache ${JSON.stringify(cache.sizes)}`)
})

/** Output storage that may redirect anywhere; a second server stands for every host that is not allowed. */
async function outputWorld (t: Test) {
  const forbidden = { hits: 0, auth: [] as (string | undefined)[] }
  const other = await httpServer(t, (req, res) => { forbidden.hits++; forbidden.auth.push(req.headers.authorization); res.writeHead(200).end('secret internal data') })
  const trusted = { auth: [] as (string | undefined)[] }
  const second = await httpServer(t, (req, res) => { trusted.auth.push(req.headers.authorization); res.writeHead(200).end('{"status":"ok"}') })
  let redirectTo = ''
  const storage = await httpServer(t, (req, res) => {
    const path = (req.url ?? '').split('?')[0]!
    if (path === '/redirect') { res.writeHead(302, { location: redirectTo }).end(); return }
    if (path === '/to-second') { res.writeHead(302, { location: `${second.url}/status.json` }).end(); return }
    if (path === '/ims/token') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"bearer-XYZ-123","expires_in":3600}'); return }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('file bytes')
  })
  const dir = await mkdtemp(join(tmpdir(), 'aeg-allowlist-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const outputs = { dir, allowHosts: [`127.0.0.1:${storage.port}`, `127.0.0.1:${second.port}`], allowHttp: true, maxBytes: 10_000, timeoutMs: 2000 }
  const tokens = new OAuthTokens({ tokenUrl: `${storage.url}/ims/token`, clientId: 'c', clientSecret: 's', scopes: [] }, { timeoutMs: 2000 })
  const handle = outputsHandler({ outputs, store: new JobStatusStore(redis, prefix), tokens, log: pino({ level: 'silent' }) })
  let n = 0
  const run = async (url: string, oauth = false) => {
    const eventId = `ev-${n++}`
    const job = { data: { eventId, jobId: undefined, outputs: [{ url, oauth }] } } as unknown as Job<OutputsJob>
    try {
      return { result: await handle(job), dir: outputDirFor(dir, eventId) }
    } catch (err) {
      return { error: err as Error, dir: outputDirFor(dir, eventId) }
    }
  }
  return { storage, other, forbidden, trusted, dir, run, setRedirect: (to: string) => { redirectTo = to } }
}

t.test('output URLs and redirects to hosts outside the allow-list are refused before any connection', async t => {
  const w = await outputWorld(t)
  const p = w.other.port
  const variants = [
    `http://localhost:${p}/x`,
    `http://LOCALHOST:${p}/x`,
    `http://localhost.:${p}/x`,
    `http://2130706433:${p}/x`,
    `http://0x7f.1:${p}/x`,
    `http://0177.0.0.1:${p}/x`,
    `http://127.1:${p}/x`,
    `http://[::ffff:127.0.0.1]:${p}/x`,
    `http://127.0.0.1:${p}/x`, // the allowed address, another port
    `http://user:pw@127.0.0.1:${w.storage.port}/x`, // the allowed host, with credentials
    `http://127.0.0.1:${w.storage.port}@localhost:${p}/x`,
    `//localhost:${p}/x`, // protocol-relative
    'file:///etc/passwd',
    'data:text/plain,hello',
    `ftp://127.0.0.1:${w.storage.port}/x`
  ]
  const outcomes: string[] = []
  for (const variant of variants) {
    // As the output URL itself (protocol-relative only makes sense as a Location).
    if (!variant.startsWith('//')) {
      const direct = await w.run(variant)
      t.equal(direct.error?.name, 'UnrecoverableError', `direct ${variant}: failed for good`)
      t.match(direct.error?.message, /URL not allowed/, `direct ${variant}: ${direct.error?.message}`)
    }
    w.setRedirect(variant)
    const redirected = await w.run(`${w.storage.url}/redirect`)
    t.equal(redirected.error?.name, 'UnrecoverableError', `redirect to ${variant}: failed for good`)
    t.match(redirected.error?.message, /redirected to a URL that is not allowed/)
    const files = await readdir(redirected.dir).catch(() => [])
    t.same(files, [], `redirect to ${variant}: nothing written`)
    outcomes.push(redirected.error?.message ?? 'ok')
  }
  t.equal(w.forbidden.hits, 0, 'the host outside the allow-list was never contacted')
  t.comment(`${variants.length} URL variants refused directly and as redirects; forbidden host hits: ${w.forbidden.hits}`)
})

t.test('traversal in an output URL cannot write outside the event\'s directory', async t => {
  const w = await outputWorld(t)
  for (const path of ['/..%2f..%2f..%2fetc%2fpasswd', '/a/../../../../x', '/%2e%2e/%2e%2e/evil', '/..\\..\\evil', '/.hidden']) {
    const { result, dir } = await w.run(`${w.storage.url}${path}`)
    t.ok(result, `${path}: downloaded`)
    const files = await readdir(dir)
    t.equal(files.length, 1, `${path}: one file`)
    t.equal(relative(w.dir, join(dir, files[0]!)).split('/').length, 2, `${path}: saved as ${files[0]} inside its own directory`)
    t.notOk(files[0]!.startsWith('.'), 'not hidden')
  }
})

t.test('the OAuth bearer token goes to the status URL\'s origin only, never to where it redirects', async t => {
  const w = await outputWorld(t)
  const { result } = await w.run(`${w.storage.url}/to-second`, true)
  t.ok(result, 'followed to the second allowed host')
  t.same(w.trusted.auth, [undefined], 'the second host got no Authorization header')
})
