import Type, { type Static } from 'typebox'
import { taggedUnion } from '../src/schemas.ts'

/** Name of a source or destination: it appears in URLs, metrics labels and queue data. */
export const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'Unique name: 1-64 letters, digits, `_`, `.`, `-`, starting with a letter or digit.' })

/** `host`, `host:port` or `*.domain` (any subdomain). */
export const HostPattern = Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$', examples: ['*.adobe.io'] })

const HeaderName = Type.String({ pattern: '^[A-Za-z0-9-]+$', description: 'Header name (case-insensitive).' })

/** How a provider without signatures of its own proves a request is from it. */
export const Auth = taggedUnion('type', [
  Type.Object({
    type: Type.Literal('none', { description: 'No check: anyone who knows the URL can post. Only behind a boundary you trust.' })
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('basic', { description: 'HTTP basic authentication (`Authorization: Basic ...`).' }),
    username: Type.String({ minLength: 1, description: 'Expected user name.' }),
    password: Type.String({ minLength: 1, writeOnly: true, description: 'Expected password.' })
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('header', { description: 'A shared token in a header, compared in constant time.' }),
    header: HeaderName,
    value: Type.String({ minLength: 8, writeOnly: true, description: 'Expected token.' })
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('hmac', { description: 'An HMAC of the raw body in a header.' }),
    header: HeaderName,
    algorithm: Type.Enum(['sha1', 'sha256', 'sha512'], { default: 'sha256', description: 'Hash of the HMAC.' }),
    encoding: Type.Enum(['base64', 'hex'], { default: 'base64', description: 'How the digest is written in the header.' }),
    prefix: Type.String({ default: '', description: 'Text before the digest in the header, e.g. `sha256=`.' }),
    secrets: Type.Array(Type.String({ minLength: 8 }), { minItems: 1, writeOnly: true, description: 'Accepted keys (any one matching is enough): several while rotating.' })
  }, { additionalProperties: false })
], { description: 'How the gateway checks that a request comes from the provider.' })

export type AuthConfig = Static<typeof Auth>
