import type { SourceConfig } from '../config.ts'
import { adobeIoEvents } from './adobe-io-events.ts'
import { learningManager } from './learning-manager.ts'
import { pdfServices } from './pdf-services.ts'
import type { Source, SourceDeps, SourceKind } from './source.ts'

/** Every source kind the gateway knows. Adding a provider = one module + one line here. */
export const SOURCE_KINDS: { [K in SourceConfig['kind']]: SourceKind<Extract<SourceConfig, { kind: K }>> } = {
  'adobe-io-events': adobeIoEvents,
  'pdf-services': pdfServices,
  'learning-manager': learningManager
}

export function sourceKind (kind: SourceConfig['kind']): SourceKind {
  return SOURCE_KINDS[kind] as SourceKind
}

/** Builds the configured sources, by name. */
export function createSources (configs: SourceConfig[], deps: SourceDeps): Map<string, Source> {
  return new Map(configs.map(c => [c.name, sourceKind(c.kind).create(c, deps)]))
}

export type { Source, SourceDeps, SourceKind, OutputRef, Parsed } from './source.ts'
