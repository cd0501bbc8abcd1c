import { createHmac } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { AuthConfig } from '../config.ts'
import { credentialsInvalid, credentialsMissing, signatureInvalid, signatureMissing } from '../errors.ts'
import { safeEqual, safeEqualAny } from './constant-time.ts'

/**
 * Checks a request against a source's configured `auth`: nothing, HTTP basic,
 * a shared token in a named header, or an HMAC of the raw body (several secrets
 * accepted, for rotation). Every comparison is constant-time.
 */
export function verifyCredentials (auth: AuthConfig, rawBody: Buffer, headers: IncomingHttpHeaders): void {
  switch (auth.type) {
    case 'none':
      return
    case 'basic': {
      const value = headers.authorization
      if (typeof value !== 'string' || !/^basic\s+/i.test(value)) throw credentialsMissing('Authorization: Basic credentials')
      const decoded = Buffer.from(value.replace(/^basic\s+/i, ''), 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      const user = colon === -1 ? decoded : decoded.slice(0, colon)
      const password = colon === -1 ? '' : decoded.slice(colon + 1)
      // Both compared, always, so the time says nothing about which was wrong.
      const ok = [safeEqual(user, auth.username), safeEqual(password, auth.password)].every(Boolean)
      if (!ok) throw credentialsInvalid()
      return
    }
    case 'header': {
      const value = headers[auth.header.toLowerCase()]
      if (typeof value !== 'string' || value === '') throw credentialsMissing(`${auth.header} header`)
      if (!safeEqual(value, auth.value)) throw credentialsInvalid()
      return
    }
    case 'hmac': {
      const value = headers[auth.header.toLowerCase()]
      if (typeof value !== 'string' || value === '') throw signatureMissing(`${auth.header} header`)
      const expected = auth.secrets.map(secret =>
        auth.prefix + createHmac(auth.algorithm, secret).update(rawBody).digest(auth.encoding))
      if (!safeEqualAny(value.trim(), expected)) throw signatureInvalid(auth.header)
    }
  }
}
