import type { Source } from '../sources/index.ts'
import { buildEnvelope, type Delivery, type Envelope } from './envelope.ts'

/** What one parsed body becomes: envelopes to queue, or a validation challenge to answer. */
export type Normalized =
  | { kind: 'events', envelopes: Envelope[] }
  | { kind: 'validation', url: string }

/**
 * Turns one parsed body of a source into its envelopes: the source kind's
 * `parse`, then one envelope per event. The edge (webhook bodies) and the
 * journal reader (journal events) both go through here, so an event that
 * arrives both ways gets the same envelope id and is queued once.
 * Throws the kind's 400/403 errors on a bad shape or recipient.
 */
export function normalize (source: Source, body: unknown, delivery: Delivery): Normalized {
  const parsed = source.parse(body, delivery)
  if (parsed.kind === 'validation') return parsed
  return { kind: 'events', envelopes: parsed.events.map(facts => buildEnvelope(delivery, source.kind, facts)) }
}
