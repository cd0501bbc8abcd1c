import type { IncomingHttpHeaders } from 'node:http'
import Type, { type Static, type TObject } from 'typebox'
import { Auth, Name } from '../../schemas/common.ts'
import type { Delivery, Envelope, EventFacts } from '../ingest/envelope.ts'
import { verifyCredentials } from '../verify/credentials.ts'
import type { PublicKeyCache } from '../verify/public-keys.ts'
import type { SourceConfig } from './index.ts'

/** Adobe batches hold at most this many events; more is refused with 400. */
export const MAX_BATCH = 20

export interface SourceDeps {
  keys: PublicKeyCache
}

/** What a verified, parsed body asks of the edge. */
export type Parsed =
  | { kind: 'events', events: EventFacts[] }
  | { kind: 'validation', url: string }

/** Something a worker downloads for a succeeded job. */
export interface OutputRef {
  url: string
  /** File name hint (sanitized by the worker). */
  name?: string
  /** Fetch with the OAuth server-to-server token (status URLs of Firefly services). */
  oauth?: boolean
}

/**
 * A configured webhook source. Each kind module builds one from its config:
 * `verify` runs on the raw bytes before anything is parsed, `parse` turns the
 * parsed JSON into per-event facts (400/403 on a bad shape or recipient).
 */
export interface Source {
  readonly name: string
  readonly kind: SourceConfig['kind']
  verify (rawBody: Buffer, headers: IncomingHttpHeaders): void | Promise<void>
  parse (body: unknown, delivery: Delivery): Parsed
  /** Response body for an accepted delivery. */
  ack (accepted: number): unknown
}

/** What every entry of the config file's `sources` has. */
export interface BaseSourceConfig {
  name: string
  kind: string
}

/** One module per source kind. */
export interface SourceKind<C extends BaseSourceConfig = SourceConfig> {
  readonly kind: C['kind']
  /**
   * Schema of one `sources` entry of this kind (with its `name` and `kind`);
   * `C` is its static type. The config file's schema is composed from these.
   */
  readonly configSchema: TObject
  create (config: C, deps: SourceDeps): Source
  /** Outputs to download for a succeeded job announced by this envelope. */
  outputs (envelope: Envelope): OutputRef[]
}

/**
 * The config schema of a kind whose requests carry the shared `auth` proof
 * (none, basic, a header token, HMAC) and that has no settings of its own.
 */
export function authSourceConfigSchema<K extends string> (kind: K, description: string) {
  return Type.Object({ name: Name, kind: Type.Literal(kind), auth: Auth }, { additionalProperties: false, description })
}

/** A source whose requests carry the shared `auth` proof; the kind supplies how its bodies parse and what it answers. */
export function authSource (config: { name: string, kind: Source['kind'], auth: Static<typeof Auth> }, behaviour: Pick<Source, 'parse' | 'ack'>): Source {
  const { auth } = config
  return {
    name: config.name,
    kind: config.kind,
    verify: (rawBody, headers) => verifyCredentials(auth, rawBody, headers),
    ...behaviour
  }
}

/** `obj[k1][k2]…` for plain JSON, or undefined. */
export function dig (value: unknown, ...path: (string | number)[]): unknown {
  let cur = value
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, unknown>)[p]
  }
  return cur
}
