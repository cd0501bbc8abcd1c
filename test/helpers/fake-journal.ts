import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

import type { Test } from 'tap'

/** One request the fake journal answered (or is answering). */
export interface JournalRequest {
  /** Path and query as sent. */
  url: string
  query: URLSearchParams
  token: string | undefined
  apiKey: string | undefined
  orgId: string | undefined
  status?: number
  /** Requests for the journal in flight when this one arrived (0 = none overlapped it). */
  concurrent: number
}

export const FAKE_CLIENT = { clientId: 'journal-client', clientSecret: 'journal-client-secret', imsOrgId: 'FAKE0RG@AdobeOrg' }

/** A fault answered instead of the journal's own answer, for the next `times` journal requests. */
interface Fault { status: number, headers: Record<string, string>, times: number }

/**
 * Adobe I/O Events journal and IMS token endpoint, as documented, on
 * 127.0.0.1:0. `publish(event)` appends to the journal; pages follow
 * `Link rel="next"` (relative, `since=<position>`, exclusive); no parameters
 * = the oldest retained; `latest=true` = the end; `seek=-PT…` = a point in
 * time; 204 + `retry-after` at the end; 410 for an expired position
 * (`expireBefore`); 401 for a missing, unknown or expired token. Faults
 * (`failNext`), a held answer (`holdNext`), and `down()`/`up()` of the whole
 * host are injectable; every journal request is recorded, with how many others
 * were in flight at the time.
 */
export async function fakeJournal (t: Test, opts: FakeJournalOptions = {}) {
  const journal = await startFakeJournal(opts)
  t.teardown(journal.close)
  return journal
}

export interface FakeJournalOptions {
  /** Events per page (10). */
  pageSize?: number
  /** `retry-after` on a 204, in seconds (1); null sends none. */
  retryAfterSeconds?: number | null
  /** Port on 127.0.0.1 (0 = any free one, the default). */
  port?: number
  /** Path of the journal (default: a random one, like a registration's). */
  path?: string
}

/** `fakeJournal` without tap (the demo and the simulator): the caller stops it with `close()`. */
export async function startFakeJournal (opts: FakeJournalOptions = {}) {
  const pageSize = opts.pageSize ?? 10
  const journalPath = opts.path ?? `/events/organizations/1234/integrations/5678/${randomBytes(8).toString('hex')}`
  const entries: { position: string, event: unknown, at: number }[] = []
  /** Index of the oldest retained entry. */
  let oldest = 0
  const validTokens = new Set<string>()
  let tokenGrants = 0
  const requests: JournalRequest[] = []
  let inFlight = 0
  let maxConcurrent = 0
  const faults: Fault[] = []
  let held: { match: (r: JournalRequest) => boolean, arrived: () => void, release: Promise<void> } | undefined
  const waiters: { match: (r: JournalRequest) => boolean, resolve: (r: JournalRequest) => void }[] = []
  let retryAfter = opts.retryAfterSeconds === undefined ? 1 : opts.retryAfterSeconds

  const positionOf = (i: number) => `p${i}:${randomBytes(4).toString('hex')}`
  const link = (position: string) => `<${journalPath}?since=${encodeURIComponent(position)}>; rel="next", <${journalPath}/validate?since=${encodeURIComponent(position)}>; rel="validate"`
  /** The position before the first event ever published. */
  const ORIGIN = 'origin:0'

  function page (res: ServerResponse, from: number, cursor: string): number {
    const slice = entries.slice(from, from + pageSize)
    if (slice.length === 0) {
      const headers: Record<string, string> = { link: link(cursor) }
      if (retryAfter !== null) headers['retry-after'] = String(retryAfter)
      res.writeHead(204, headers).end()
      return 204
    }
    const last = slice.at(-1)!.position
    res.writeHead(200, { 'content-type': 'application/json', link: link(last) })
      .end(JSON.stringify({ events: slice.map(e => ({ position: e.position, event: e.event })), _page: { last, count: slice.length } }))
    return 200
  }

  function journal (req: IncomingMessage, res: ServerResponse, url: URL, record: JournalRequest): number {
    if (record.token === undefined || !validTokens.has(record.token) || record.apiKey !== FAKE_CLIENT.clientId || record.orgId !== FAKE_CLIENT.imsOrgId) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}')
      return 401
    }
    const fault = faults[0]
    if (fault !== undefined) {
      if (--fault.times <= 0) faults.shift()
      res.writeHead(fault.status, fault.headers).end('fault')
      return fault.status
    }
    const since = url.searchParams.get('since')
    if (since !== null) {
      if (since === ORIGIN) return oldest === 0 ? page(res, 0, ORIGIN) : gone(res, since)
      const i = entries.findIndex(e => e.position === since)
      if (i < 0 || i < oldest - 1) return gone(res, since)
      return page(res, i + 1, since)
    }
    if (url.searchParams.get('latest') === 'true') return page(res, entries.length, entries.at(-1)?.position ?? ORIGIN)
    const seek = url.searchParams.get('seek')
    if (seek !== null) {
      const from = Date.now() - durationMs(seek)
      const i = entries.findIndex((e, j) => j >= oldest && e.at >= from)
      const start = i < 0 ? entries.length : i
      return page(res, start, start === 0 ? ORIGIN : entries[start - 1]!.position)
    }
    return page(res, oldest, oldest === 0 ? ORIGIN : entries[oldest - 1]!.position)
  }

  function gone (res: ServerResponse, since: string): number {
    res.writeHead(410, { 'content-type': 'text/plain' }).end(`Events at position ${since} have expired.`)
    return 410
  }

  function token (body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body)
    if (form.get('grant_type') !== 'client_credentials' || form.get('client_id') !== FAKE_CLIENT.clientId || form.get('client_secret') !== FAKE_CLIENT.clientSecret) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}')
      return
    }
    const access = `tok-${++tokenGrants}-${randomBytes(6).toString('hex')}`
    validTokens.add(access)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: access, token_type: 'bearer', expires_in: 86399 }))
  }

  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake')
      if (req.method === 'POST' && url.pathname === '/ims/token/v3') return token(Buffer.concat(chunks).toString(), res)
      if (req.method !== 'GET' || url.pathname !== journalPath) { res.writeHead(404).end(); return }
      const auth = req.headers.authorization
      const record: JournalRequest = {
        url: req.url ?? '',
        query: url.searchParams,
        token: auth?.startsWith('Bearer ') ? auth.slice(7) : undefined,
        apiKey: req.headers['x-api-key'] as string | undefined,
        orgId: req.headers['x-ims-org-id'] as string | undefined,
        concurrent: inFlight
      }
      inFlight++
      maxConcurrent = Math.max(maxConcurrent, inFlight)
      requests.push(record)
      res.on('close', () => { inFlight-- })
      const answer = () => {
        if (res.destroyed) return
        record.status = journal(req, res, url, record)
        for (const w of waiters.splice(0)) {
          if (w.match(record)) w.resolve(record)
          else waiters.push(w)
        }
      }
      if (held !== undefined && held.match(record)) {
        const h = held
        held = undefined
        h.arrived()
        void h.release.then(answer)
      } else {
        answer()
      }
    })
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  server.listen(opts.port ?? 0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (!server.listening) return
    for (const s of sockets) s.destroy()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }
  return {
    /** Stops the server for good (connections dropped). */
    close: stop,
    url: `${origin}${journalPath}`,
    tokenUrl: `${origin}/ims/token/v3`,
    requests,
    /** Most journal requests ever in flight at once. */
    get maxConcurrent () { return maxConcurrent },
    get tokenGrants () { return tokenGrants },
    get size () { return entries.length },
    /** Appends an event; returns its position. */
    publish (event: unknown): string {
      const position = positionOf(entries.length)
      entries.push({ position, event, at: Date.now() })
      return position
    },
    /** Events before index `n` expire: reading after their positions answers 410, no parameters start at `n`. */
    expireBefore (n: number) { oldest = n },
    /** Every token granted so far stops working (401), as after expiry or revocation. */
    expireTokens () { validTokens.clear() },
    /** The next `times` journal requests (after auth) are answered `status` with `headers`. */
    failNext (times: number, status: number, headers: Record<string, string> = {}) { faults.push({ status, headers, times }) },
    setRetryAfter (seconds: number | null) { retryAfter = seconds },
    /**
     * Holds the next journal request `match` accepts unanswered: resolves `arrived` once it
     * came in; it is answered when `release()` is called (if its client is still there).
     */
    holdNext (match: (r: JournalRequest) => boolean = () => true) {
      let arrived!: () => void
      let release!: () => void
      const arrivedP = new Promise<void>(resolve => { arrived = resolve })
      const releaseP = new Promise<void>(resolve => { release = resolve })
      held = { match, arrived, release: releaseP }
      return { arrived: arrivedP, release }
    },
    /** Resolves with the first journal request answered from now on that `match` accepts. */
    nextAnswered (match: (r: JournalRequest) => boolean = () => true): Promise<JournalRequest> {
      return new Promise(resolve => waiters.push({ match, resolve }))
    },
    /** The host goes away: connections refused until `up()`. */
    down: stop,
    /** The host comes back on the same port. */
    async up () {
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    }
  }
}

export type FakeJournal = Awaited<ReturnType<typeof fakeJournal>>

/** Milliseconds of an ISO 8601 duration such as `-PT2H` or `-P1DT30M` (sign ignored). */
function durationMs (text: string): number {
  const m = /^-?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text)
  if (m === null) return 0
  const [, d, h, min, s] = m.map(v => Number(v ?? 0))
  return ((d! * 24 + h!) * 60 + min!) * 60_000 + s! * 1000
}
