import { createHmac, verify as verifySignature, type KeyObject } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { keyPathInvalid, keyUnavailable, signatureInvalid, signatureMissing } from '../errors.ts'
import { safeEqual } from './constant-time.ts'
import { isSafeKeyPath, type PublicKeyCache } from './public-keys.ts'

const PAIRS = [
  { signature: 'x-adobe-digital-signature-1', keyPath: 'x-adobe-public-key1-path' },
  { signature: 'x-adobe-digital-signature-2', keyPath: 'x-adobe-public-key2-path' }
] as const

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return typeof v === 'string' && v !== '' ? v : undefined
}

export interface AdobeProofOptions {
  keys: PublicKeyCache
  /** Client secret for the legacy `x-adobe-signature` HMAC; undefined disables it. */
  clientSecret?: string
}

/**
 * Adobe I/O Events authenticity, on the raw bytes: a valid RSA-SHA256 digital
 * signature with either published key, or (when a client secret is set) a
 * valid legacy HMAC. One valid proof is enough.
 *
 * Returns synchronously when the outcome needs no key fetch (cache hits, HMAC).
 */
export function verifyAdobeProof (rawBody: Buffer, headers: IncomingHttpHeaders, opts: AdobeProofOptions): void | Promise<void> {
  const legacy = header(headers, 'x-adobe-signature')
  const presented = PAIRS.flatMap(p => {
    const signature = header(headers, p.signature)
    const keyPath = header(headers, p.keyPath)
    return signature !== undefined && keyPath !== undefined ? [{ ...p, signatureValue: signature, keyPathValue: keyPath }] : []
  })
  // An unsafe key path is never fetched; the other pair may still prove the request.
  const pairs = presented.filter(p => isSafeKeyPath(p.keyPathValue))
  const hmacUsable = legacy !== undefined && opts.clientSecret !== undefined
  if (presented.length === 0 && !hmacUsable) {
    throw signatureMissing(opts.clientSecret !== undefined
      ? 'x-adobe-digital-signature-1/-2 with x-adobe-public-key1/2-path, or x-adobe-signature'
      : 'x-adobe-digital-signature-1/-2 with x-adobe-public-key1/2-path')
  }
  if (hmacUsable) {
    const expected = createHmac('sha256', opts.clientSecret!).update(rawBody).digest('base64')
    if (safeEqual(legacy, expected)) return
    if (pairs.length === 0) throw signatureInvalid('x-adobe-signature')
  }
  if (pairs.length === 0) throw keyPathInvalid(presented[0]!.keyPath)

  const keys = pairs.map(p => {
    try {
      return opts.keys.get(p.keyPathValue)
    } catch (err) {
      return Promise.reject(err)
    }
  })
  if (keys.every(k => !(k instanceof Promise))) {
    if (pairs.some((p, i) => matches(rawBody, p.signatureValue, keys[i] as KeyObject))) return
    throw signatureInvalid('digital signature')
  }
  return Promise.allSettled(keys).then(results => {
    let unavailable: unknown
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') {
        if (matches(rawBody, pairs[i]!.signatureValue, r.value)) return
      } else {
        unavailable ??= r.reason
      }
    }
    // A signature we could not check might have been the valid one: retriable.
    if (unavailable !== undefined) throw keyUnavailable(unavailable)
    throw signatureInvalid('digital signature')
  })
}

function matches (rawBody: Buffer, signatureB64: string, key: KeyObject): boolean {
  try {
    return verifySignature('RSA-SHA256', rawBody, key, Buffer.from(signatureB64, 'base64'))
  } catch {
    return false
  }
}
