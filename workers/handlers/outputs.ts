import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { UnrecoverableError, type Job } from 'bullmq'
import type { Logger } from 'pino'
import type { OutputsConfig } from '../../src/config.ts'
import type { JobStatusStore, OutputEntry } from '../../src/job-status.ts'
import { checkUrl } from '../../src/net/allowed-url.ts'
import { jobIdFor } from '../../src/queues.ts'
import type { OutputRef } from '../../src/sources/index.ts'
import { withSpan } from '../../src/tracing.ts'
import type { OAuthTokens } from '../oauth-token.ts'
import type { OutputsJob } from '../../src/queues.ts'

const MAX_REDIRECTS = 5
const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** What became of one output in one attempt. */
type Outcome =
  | { kind: 'saved' | 'present', file: string, bytes: number }
  /** 4xx: the URL will not give the file (expired pre-signed link, user's own upload URL…). */
  | { kind: 'not-downloadable', reason: string }
  /** Against the policy: disallowed host or redirect, over the size cap. Never retried. */
  | { kind: 'refused', reason: string }
  /** 5xx, timeout, connection error: worth another attempt. */
  | { kind: 'retry', reason: string }

export interface OutputsHandlerDeps {
  outputs: OutputsConfig
  store: JobStatusStore
  /** Present when the config has an `oauth` block. */
  tokens?: OAuthTokens
  log: Logger
}

/** The directory an event's outputs go to: a hash of the envelope id, safe as a path segment. */
export const outputDirFor = (dir: string, eventId: string) => resolve(dir, jobIdFor(eventId))

/** `https://h/p?X-Amz-Signature=…` → `https://h/p`: pre-signed query strings are credentials. */
export function withoutQuery (raw: string): string {
  try {
    const url = new URL(raw)
    return `${url.origin}${url.pathname}`
  } catch {
    return raw.split(/[?#]/, 1)[0]!
  }
}

/** A file name that cannot leave its directory or hide: `[A-Za-z0-9._-]`, no leading dot, bounded. */
export function safeFileName (hint: string | undefined, fallback: string): string {
  const name = (hint ?? '').normalize('NFKC').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 128)
  return name === '' ? fallback : name
}

/**
 * The `outputs` queue: downloads each output of a succeeded job into
 * `outputs.dir/<hash of envelope id>/<name>`, streamed to a temp file and
 * renamed into place, so a file that exists is whole; an existing file is not
 * fetched again (redelivery). Every output's fate is recorded on the job
 * status. The job fails for good when an output is against the policy (host
 * not allowed, redirect to such a host, over the cap) and is retried when one
 * met a 5xx or a timeout; 4xx outputs are recorded as not downloadable.
 */
export function outputsHandler (deps: OutputsHandlerDeps) {
  const { outputs: policy, store } = deps

  return async function handleOutputs (job: Job<OutputsJob>) {
    const { eventId, jobId } = job.data
    const log = deps.log.child({ eventId, jobId })
    const dir = outputDirFor(policy.dir, eventId)
    await mkdir(dir, { recursive: true })
    await removeLeftovers(dir)

    const names = new Set<string>()
    const results: { ref: OutputRef, outcome: Outcome }[] = []
    for (const [i, ref] of job.data.outputs.entries()) {
      let name = safeFileName(ref.name ?? lastSegment(ref.url), `output-${i}`)
      if (names.has(name)) name = `${i}-${name}`
      names.add(name)
      const outcome = await withSpan('download', 'internal', () => ({ 'server.address': URL.parse(ref.url)?.hostname ?? '', 'aeg.output.name': name }), async (span) => {
        const outcome = await download(ref, join(dir, name), deps)
        span?.setAttribute('aeg.output.outcome', outcome.kind)
        return outcome
      })
      results.push({ ref, outcome })
      log[outcome.kind === 'saved' || outcome.kind === 'present' ? 'info' : 'warn'](
        { url: withoutQuery(ref.url), outcome: outcome.kind, ...('bytes' in outcome ? { bytes: outcome.bytes } : { reason: outcome.reason }) },
        'output')
    }

    if (jobId !== undefined) {
      const at = new Date().toISOString()
      for (const { ref, outcome } of results) {
        const entry: OutputEntry = { url: withoutQuery(ref.url), at }
        if ('file' in outcome) Object.assign(entry, { file: outcome.file, bytes: outcome.bytes })
        else {
          entry.error = outcome.reason
          if (outcome.kind === 'not-downloadable') entry.downloadable = false
        }
        await store.recordOutput(jobId, entry)
      }
    }

    // Retriable outputs first: a refused one (already recorded) must not stop the
    // others' retries; the job fails for good only when nothing is left to retry.
    const retry = results.flatMap(r => r.outcome.kind === 'retry' ? [`${withoutQuery(r.ref.url)}: ${r.outcome.reason}`] : [])
    if (retry.length > 0) throw new Error(`output not downloaded yet: ${retry.join('; ')}`)
    const refused = results.flatMap(r => r.outcome.kind === 'refused' ? [`${withoutQuery(r.ref.url)}: ${r.outcome.reason}`] : [])
    if (refused.length > 0) throw new UnrecoverableError(`output refused: ${refused.join('; ')}`)
    return { outputs: results.map(r => r.outcome.kind) }
  }
}

class TooLarge extends Error {}

async function download (ref: OutputRef, file: string, deps: OutputsHandlerDeps): Promise<Outcome> {
  const { outputs: policy, tokens } = deps
  const present = await stat(file).catch(() => undefined)
  if (present?.isFile()) return { kind: 'present', file, bytes: present.size }

  // One deadline for the whole fetch: every hop, the token and the body.
  const signal = AbortSignal.timeout(policy.timeoutMs)
  let token: string | undefined
  let tokenRetried = false
  let url = ref.url
  let firstOrigin: string | undefined
  for (let hop = 0; ; hop++) {
    const checked = checkUrl(url, policy)
    if (!checked.ok) {
      return { kind: 'refused', reason: hop === 0 ? `URL not allowed (${checked.reason})` : `redirected to a URL that is not allowed (${checked.reason})` }
    }
    firstOrigin ??= checked.url.origin
    const headers: Record<string, string> = { accept: '*/*' }
    // The bearer token goes to the status URL's own origin only, never to where it redirects.
    if (ref.oauth === true && tokens !== undefined && checked.url.origin === firstOrigin) {
      try {
        token ??= await tokens.token()
      } catch (err) {
        return { kind: 'retry', reason: (err as Error).message }
      }
      headers.authorization = `Bearer ${token}`
      headers['x-api-key'] = tokens.clientId
    }

    let response: Response
    try {
      response = await fetch(checked.url, { headers, redirect: 'manual', signal })
    } catch (err) {
      return { kind: 'retry', reason: fetchFailure(err, policy.timeoutMs) }
    }
    const status = response.status

    if (REDIRECTS.has(status)) {
      await response.body?.cancel()
      const location = response.headers.get('location')
      if (location === null) return { kind: 'refused', reason: `answered ${status} without a Location` }
      if (hop >= MAX_REDIRECTS) return { kind: 'refused', reason: `more than ${MAX_REDIRECTS} redirects` }
      url = new URL(location, checked.url).toString()
      continue
    }
    if (status === 401 && token !== undefined && !tokenRetried) {
      // The cached token may have been revoked: one more try with a fresh one.
      await response.body?.cancel()
      tokens!.invalidate()
      token = undefined
      tokenRetried = true
      hop--
      continue
    }
    // 408 and 429 are the storage asking us to come back later, not a verdict.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      await response.body?.cancel()
      return { kind: 'not-downloadable', reason: `answered ${status}` }
    }
    if (status < 200 || status >= 300) {
      await response.body?.cancel()
      return { kind: 'retry', reason: `answered ${status}` }
    }

    const declared = Number(response.headers.get('content-length') ?? NaN)
    if (declared > policy.maxBytes) {
      await response.body?.cancel()
      return { kind: 'refused', reason: `is ${declared} bytes, over the ${policy.maxBytes}-byte cap` }
    }
    return await save(response, file, policy, signal)
  }
}

/** Streams the body to a temp file next to `file`, then renames it into place. */
async function save (response: Response, file: string, policy: OutputsConfig, signal: AbortSignal): Promise<Outcome> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.part`
  let bytes = 0
  const cap = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      if (bytes > policy.maxBytes) callback(new TooLarge())
      else callback(null, chunk)
    }
  })
  try {
    const body = response.body === null ? Readable.from([]) : Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)
    await pipeline(body, cap, createWriteStream(temp, { flags: 'wx' }), { signal })
    await rename(temp, file)
    return { kind: 'saved', file, bytes }
  } catch (err) {
    await unlink(temp).catch(() => {})
    if (err instanceof TooLarge) return { kind: 'refused', reason: `is over the ${policy.maxBytes}-byte cap` }
    return { kind: 'retry', reason: fetchFailure(err, policy.timeoutMs) }
  }
}

/**
 * Temp files of an attempt whose worker died (SIGKILL, OOM). Only this job
 * writes into its directory, and BullMQ runs it once at a time, so any
 * `.part` file found at the start of an attempt is an orphan.
 */
async function removeLeftovers (dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[])
  await Promise.all(names.filter(n => n.endsWith('.part')).map(n => unlink(join(dir, n)).catch(() => {})))
}

function fetchFailure (err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e.name === 'TimeoutError' || (e.name === 'AbortError' && (e.cause as Error | undefined)?.name === 'TimeoutError')) return `no complete answer within ${timeoutMs} ms`
  return `connection failed: ${e.cause?.code ?? e.cause?.message ?? e.message}`
}

function lastSegment (raw: string): string | undefined {
  try {
    return decodeURIComponent(new URL(raw).pathname.split('/').pop() ?? '') || undefined
  } catch {
    return undefined
  }
}
