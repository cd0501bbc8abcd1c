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

/** Secret of the bench's destination: both pipelines sign with it, the destination checks every signature. */
export const DESTINATION_SECRET = 'whsec_' + Buffer.from('bench-forward-secret-bench-forward').toString('base64')

/**
 * A destination that answers 200 at once (also to the outputs' GET downloads,
 * which it serves) and records when each `webhook-id` first arrived
 * (performance.now() of this process, the load generator's clock), with every
 * Standard Webhooks signature checked.
 */
export async function destinationServer (): Promise<LocalServer & { arrivals: Map<string, number>, readonly badSignatures: number }> {
  const arrivals = new Map<string, number>()
  let badSignatures = 0
  const srv = await recordingDestination({
    secret: DESTINATION_SECRET,
    record: false,
    respond: () => [200, '{}'],
    onRequest: ({ headers, at, signed }) => {
      const id = headers['webhook-id']
      if (typeof id !== 'string') return
      if (!signed) badSignatures++
      if (!arrivals.has(id)) arrivals.set(id, at)
    }
  })
  return { server: srv.server, url: srv.url, port: srv.port, close: srv.close, arrivals, get badSignatures () { return badSignatures } }
}
