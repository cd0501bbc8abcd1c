import { destinationServer as recordingDestination, serveKeys, type KeyServer, type LocalServer } from '../test/helpers/peers.ts'
import { signingKeys as makeSigningKeys, type SigningKeys } from '../test/helpers/signing.ts'

/**
 * The bench's stand-ins for Adobe's key host and for a customer's
 * destination: the test helpers' servers, without tap (the bench closes its
 * peers itself).
 */

export type { LocalServer, SigningKeys }

/** Adobe's two signing key pairs (RSA 2048, as Adobe uses), made fresh per run. */
export const signingKeys = (): SigningKeys => makeSigningKeys(['/prod/keys/pub-key-bench1.pem', '/prod/keys/pub-key-bench2.pem'])

/** Serves the two public keys as static.adobeioevents.com would. */
export const keyServer = (keys: SigningKeys): Promise<KeyServer> => serveKeys(keys)

/**
 * A destination that answers 200 at once and records when each envelope id
 * arrived (performance.now() of this process, the load generator's clock).
 */
export async function destinationServer (): Promise<LocalServer & { arrivals: Map<string, number> }> {
  const arrivals = new Map<string, number>()
  const srv = await recordingDestination({
    record: false,
    respond: () => [200, '{}'],
    onRequest: ({ body, at }) => {
      try {
        const id = (JSON.parse(body) as { id?: unknown }).id
        if (typeof id === 'string' && !arrivals.has(id)) arrivals.set(id, at)
      } catch {}
    }
  })
  return { server: srv.server, url: srv.url, port: srv.port, close: srv.close, arrivals }
}
