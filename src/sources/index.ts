import { adobeIoEvents } from './adobe-io-events.ts'
import { learningManager } from './learning-manager.ts'
import { pdfServices } from './pdf-services.ts'
import type { BaseSourceConfig, Source, SourceDeps, SourceKind } from './source.ts'

/** Every source kind the gateway knows. Adding a provider = one module + one line here. */
export const SOURCE_KINDS = {
  'adobe-io-events': adobeIoEvents,
  'pdf-services': pdfServices,
  'learning-manager': learningManager
} satisfies Record<string, SourceKind<BaseSourceConfig>>

type ConfigOf<K> = K extends { create (config: infer C, deps: SourceDeps): Source } ? C : never

/** One entry of the config file's `sources`: the union of every kind's config, derived from its schema. */
export type SourceConfig = ConfigOf<(typeof SOURCE_KINDS)[keyof typeof SOURCE_KINDS]>

export function sourceKind (kind: SourceConfig['kind']): SourceKind {
  return SOURCE_KINDS[kind] as SourceKind
}

/** Builds the configured sources, by name. */
export function createSources (configs: SourceConfig[], deps: SourceDeps): Map<string, Source> {
  return new Map(configs.map(c => [c.name, sourceKind(c.kind).create(c, deps)]))
}

export type { Source, SourceDeps, SourceKind, OutputRef, Parsed } from './source.ts'
