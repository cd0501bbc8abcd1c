import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * The bench's stand-ins for Adobe's key host and for a customer's destination:
 * plain local HTTP servers on 127.0.0.1:0, without tap (test/helpers registers
 * teardowns on a tap test; the bench closes its peers itself).
 */

export interface LocalServer {
  url: string
  port: number
  close (): Promise<void>
}

export async function localServer (handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<LocalServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks)))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

export interface SigningKey { privateKey: KeyObject, privatePem: string, pem: string, path: string }
export interface SigningKeys { key1: SigningKey, key2: SigningKey }

/** Adobe's two signing key pairs (RSA 2048, as Adobe uses), made fresh per run. */
export function signingKeys (): SigningKeys {
  const make = (path: string): SigningKey => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    return {
      privateKey,
      privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      path
    }
  }
  return { key1: make('/prod/keys/pub-key-bench1.pem'), key2: make('/prod/keys/pub-key-bench2.pem') }
}

/** Serves the two public keys as static.adobeioevents.com would; counts fetches. */
export async function keyServer (keys: SigningKeys): Promise<LocalServer & { hits: () => number }> {
  const byPath = new Map([[keys.key1.path, keys.key1.pem], [keys.key2.path, keys.key2.pem]])
  let hits = 0
  const srv = await localServer((req, res) => {
    hits++
    const pem = byPath.get(req.url ?? '')
    if (pem === undefined) { res.writeHead(404).end('not found'); return }
    res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pem)
  })
  return { ...srv, hits: () => hits }
}

/**
 * A destination that answers 200 at once and records when each envelope id
 * arrived (performance.now() of this process, the load generator's clock).
 */
export async function destinationServer (): Promise<LocalServer & { arrivals: Map<string, number> }> {
  const arrivals = new Map<string, number>()
  const srv = await localServer((_req, res, body) => {
    const at = performance.now()
    try {
      const id = (JSON.parse(body.toString('utf8')) as { id?: unknown }).id
      if (typeof id === 'string' && !arrivals.has(id)) arrivals.set(id, at)
    } catch {}
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  return { ...srv, arrivals }
}
