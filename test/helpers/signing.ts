import { createHmac, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'

/**
 * Adobe's ways of signing a delivery, as the tests, the bench and the
 * simulator send them. No tap here: the bench and the simulator import it.
 */

/** One of Adobe's signing key pairs and the path its public key is served at. */
export interface SigningKey {
  privateKey: KeyObject
  /** PKCS#8 PEM of the private key (for signing in worker threads). */
  privatePem: string
  /** SPKI PEM of the public key, as the key server serves it. */
  pem: string
  path: string
}

/** Adobe's two signing keys (`x-adobe-public-key1-path`, `…key2-path`). */
export interface SigningKeys {
  key1: SigningKey
  key2: SigningKey
}

/** A key pair object from a private key (RSA 2048, as Adobe uses, when none is given). */
export function signingKey (path: string, privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey): SigningKey {
  return {
    privateKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
    path
  }
}

let cachedKeys: SigningKeys | undefined
/** Fresh key pairs under the given paths; without paths, one pair per process shared by every test (RSA generation is slow). */
export function signingKeys (paths?: [string, string]): SigningKeys {
  if (paths !== undefined) return { key1: signingKey(paths[0]), key2: signingKey(paths[1]) }
  cachedKeys ??= { key1: signingKey('/prod/keys/pub-key-voy5XEbWmT.pem'), key2: signingKey('/prod/keys/pub-key-maAv3Tg6ZH.pem') }
  return cachedKeys
}

/** The RSA-SHA256 signature Adobe sends for `body`, base64. */
export const rsaSignature = (body: string | Buffer, key: KeyObject): string => sign('RSA-SHA256', Buffer.from(body), key).toString('base64')

/** The four `x-adobe-…` headers of a digitally signed delivery, from its two signatures. */
export function adobeSignatureHeaders (keys: SigningKeys, signature1: string, signature2: string): Record<string, string> {
  return {
    'x-adobe-public-key1-path': keys.key1.path,
    'x-adobe-public-key2-path': keys.key2.path,
    'x-adobe-digital-signature-1': signature1,
    'x-adobe-digital-signature-2': signature2
  }
}

/**
 * Headers Adobe I/O Events would send for this body: RSA signatures with key 1
 * and key 2. `only` keeps one valid signature, `tamper` spoils one.
 */
export function adobeSignedHeaders (body: string | Buffer, opts: { keys?: SigningKeys, only?: 1 | 2, tamper?: 1 | 2 } = {}): Record<string, string> {
  const keys = opts.keys ?? signingKeys()
  const wrong = rsaSignature('something else', keys.key1.privateKey)
  const one = opts.only === 2 || opts.tamper === 1 ? wrong : rsaSignature(body, keys.key1.privateKey)
  const two = opts.only === 1 || opts.tamper === 2 ? wrong : rsaSignature(body, keys.key2.privateKey)
  return { 'content-type': 'application/json', ...adobeSignatureHeaders(keys, one, two) }
}

/** The legacy `x-adobe-signature` HMAC header. */
export function adobeHmacHeaders (body: string | Buffer, clientSecret: string): Record<string, string> {
  return { 'content-type': 'application/json', 'x-adobe-signature': createHmac('sha256', clientSecret).update(body).digest('base64') }
}
