import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

/** What a destination answered: its status and, for a non-2xx answer, the start of its body. */
export interface PostAnswer {
  status: number
  /** First characters of the body on one line (only read for non-2xx answers). */
  excerpt?: string
}

/** No answer (status line and headers) within the time allowed. */
export class PostTimeoutError extends Error {
  constructor (timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`)
    this.name = 'TimeoutError'
  }
}

const EXCERPT_LENGTH = 200
const EXCERPT_READ_LIMIT = 4096
/** Most bytes of a 2xx answer read (and dropped) to reuse its connection. */
const DRAIN_LIMIT = 64 * 1024
const IDLE_SOCKET_MS = 4000

/**
 * POSTs to destinations over kept-alive connections, one pool per worker
 * process. node:http rather than fetch: fetch's WHATWG streams, request
 * cloning and abort signals cost about as much CPU per forward as the rest of
 * the forward job (bench row 5 profile), and a forward needs none of them.
 * Redirects are never followed (a 3xx is returned as the answer).
 */
export class DestinationClient {
  // Idle sockets are closed after a few seconds: servers commonly drop idle
  // keep-alive connections around 5 s, and a POST on a socket the server just
  // closed fails with ECONNRESET.
  readonly #http = new HttpAgent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS })
  readonly #https = new HttpsAgent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS })

  post (url: string, headers: OutgoingHttpHeaders, body: string, timeoutMs: number): Promise<PostAnswer> {
    return this.#post(url, headers, body, timeoutMs).catch((err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
      // The server closed a pooled connection as we reused it: nothing reached
      // it, so one immediate try on a fresh connection (Node's documented advice).
      if (err.reusedSocket === true && err.code === 'ECONNRESET') return this.#post(url, headers, body, timeoutMs)
      throw err
    })
  }

  #post (url: string, headers: OutgoingHttpHeaders, body: string, timeoutMs: number): Promise<PostAnswer> {
    const target = new URL(url)
    const https = target.protocol === 'https:'
    const payload = Buffer.from(body, 'utf8')
    return new Promise<PostAnswer>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(target, {
        method: 'POST',
        agent: https ? this.#https : this.#http,
        headers: { ...headers, 'content-length': payload.byteLength }
      })
      let response: IncomingMessage | undefined
      // One budget for the status line and, on a non-2xx answer, the excerpt of its body.
      const timer = setTimeout(() => {
        if (response === undefined) req.destroy(new PostTimeoutError(timeoutMs))
        else response.destroy()
      }, timeoutMs)
      req.once('error', (err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
        clearTimeout(timer)
        if (response === undefined && req.reusedSocket) err.reusedSocket = true
        reject(err)
      })
      req.once('response', (res: IncomingMessage) => {
        response = res
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) {
          resolve({ status })
          // Drained so the connection goes back to the pool, but within the same
          // budget and a size cap: a body that never ends must not hold a socket.
          let read = 0
          res.on('data', (chunk: Buffer) => {
            read += chunk.byteLength
            if (read > DRAIN_LIMIT) res.destroy()
          })
          res.once('close', () => clearTimeout(timer))
          res.resume()
          return
        }
        void readExcerpt(res).then(excerpt => {
          clearTimeout(timer)
          resolve({ status, excerpt })
        })
      })
      req.end(payload)
    })
  }

  /** Closes the pooled connections (worker shutdown). */
  close (): void {
    this.#http.destroy()
    this.#https.destroy()
  }
}

/** The first characters of a response body, on one line, for a failure reason (reads at most 4 KiB). */
async function readExcerpt (res: IncomingMessage, max = EXCERPT_LENGTH): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res) {
      chunks.push(chunk as Buffer)
      size += (chunk as Buffer).byteLength
      if (size >= EXCERPT_READ_LIMIT) break
    }
  } catch {
    if (chunks.length === 0) return '(body unreadable)'
  } finally {
    // Breaking out of the loop destroys the response; a fully read one just ends.
    res.destroy()
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim()
  return text === '' ? '(empty body)' : text.length > max ? `${text.slice(0, max)}…` : text
}
