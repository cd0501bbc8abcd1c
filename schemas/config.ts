import Type, { type Static } from 'typebox'
import { SOURCE_KINDS, type SourceConfig } from '../src/sources/index.ts'
import { taggedUnion } from '../src/schemas.ts'
import { HostPattern, Name } from './common.ts'

/*
 * The config file (GATEWAY_CONFIG). Each source kind brings the schema of its
 * own `sources` entries (`configSchema` in its module); this file composes them
 * with the rest. docs/configuration.md and schemas/config.schema.json are
 * generated from it (`npm run gen:config`).
 */

/** One `sources` entry: whichever kind's schema its `kind` names. */
export const Source = Type.Unsafe<SourceConfig>(taggedUnion('kind', Object.values(SOURCE_KINDS).map(k => k.configSchema), {
  description: 'A webhook source, served at POST /webhooks/<name>.'
}))

const Names = (description: string) => Type.Array(Type.String(), { minItems: 1, description })

export const Destination = Type.Object({
  name: Name,
  url: Type.String({ pattern: '^https?://', description: 'Where each event envelope is POSTed.' }),
  secret: Type.String({ minLength: 8, writeOnly: true, description: 'Key of the signature on every forward (`webhook-signature`, HMAC-SHA256): a `whsec_...` secret is base64 key bytes, any other its UTF-8 bytes.' }),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120000, description: 'Deadline of one POST (ms); default FORWARD_TIMEOUT_MS.' })),
  match: Type.Optional(Type.Object({
    source: Type.Optional(Names('Only events of these source names.')),
    status: Type.Optional(Names('Only these job statuses (e.g. succeeded, failed).')),
    type: Type.Optional(Names('Only these event types.'))
  }, { additionalProperties: false, description: 'Forward only events matching every list given; without `match`, every event.' }))
}, { additionalProperties: false, description: 'An HTTP endpoint every matching event is POSTed to, signed; retried with backoff (JOB_ATTEMPTS, JOB_BACKOFF_MS) until it answers 2xx.' })

export const Outputs = Type.Object({
  dir: Type.String({ minLength: 1, default: './data/outputs', description: 'Directory the outputs of succeeded jobs are written to.' }),
  allowHosts: Type.Array(HostPattern, { default: [], description: 'Hosts outputs may be downloaded from (`host`, `host:port`, `*.domain` for any subdomain); empty: nothing is downloaded.' }),
  allowHttp: Type.Boolean({ default: false, description: 'Also allow plain-HTTP output URLs (by default https only).' }),
  maxBytes: Type.Integer({ minimum: 1, default: 536870912, description: 'Largest output downloaded (bytes).' }),
  timeoutMs: Type.Integer({ minimum: 100, maximum: 600000, default: 60000, description: 'Deadline of one download (ms).' })
}, { additionalProperties: false, default: {}, description: 'Downloading the output files of succeeded jobs.' })

export const OAuth = Type.Object({
  tokenUrl: Type.String({ pattern: '^https?://', default: 'https://ims-na1.adobelogin.com/ims/token/v3', description: 'IMS token endpoint.' }),
  clientId: Type.String({ minLength: 1, description: 'OAuth server-to-server client id.' }),
  clientSecret: Type.String({ minLength: 1, writeOnly: true, description: 'Its client secret.' }),
  scopes: Type.Array(Type.String(), { default: ['openid', 'AdobeID'], description: 'Scopes requested with the token.' })
}, { additionalProperties: false, description: 'OAuth server-to-server credentials (client-credentials grant): the token fetches Dynamic Graphics Render / InDesign `status_url`s (without this block they are fetched without a token) and reads the journals of sources that have one.' })

export const Validation = Type.Object({
  allowHosts: Type.Array(HostPattern, { default: ['*.adobe.io', '*.adobe.com'], description: 'Hosts a validationUrl may point to (`host`, `host:port`, `*.domain`).' }),
  allowHttp: Type.Boolean({ default: false, description: 'Also allow a plain-HTTP validationUrl (by default https only).' })
}, { additionalProperties: false, default: {}, description: 'Where an asynchronous challenge (validationUrl) may be fetched from.' })

/** The config file named by GATEWAY_CONFIG. */
export const ConfigSchema = Type.Object({
  sources: Type.Array(Source, { minItems: 1, description: 'The webhook sources; names are unique.' }),
  destinations: Type.Array(Destination, { default: [], description: 'Where events are forwarded; names are unique.' }),
  outputs: Outputs,
  oauth: Type.Optional(OAuth),
  validation: Validation
}, { additionalProperties: false, title: 'Gateway config file (GATEWAY_CONFIG)' })

export type GatewayFileConfig = Static<typeof ConfigSchema>
export type DestinationConfig = Static<typeof Destination>
export type OutputsConfig = Static<typeof Outputs>
export type OAuthConfig = Static<typeof OAuth>
