import { readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import Type, { type Static, type TObject, type TSchema, type TUnsafe } from 'typebox'

// ajv-formats ships CJS; its default export is the function under ESM interop.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const schemaDir = new URL('../schemas/', import.meta.url)

/** Reads `schemas/<name>.schema.json`. */
export function loadSchema (name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${name}.schema.json`, schemaDir), 'utf8'))
}

const AJV_OPTIONS = { allErrors: false, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true } as const

/** One Ajv for the process, so every schema is compiled once at boot. */
export const ajv = addFormats(new Ajv({ ...AJV_OPTIONS, coerceTypes: false }))

/** The environment is text: this Ajv turns `"3000"` into `3000` where the schema says integer. */
export const envAjv = addFormats(new Ajv({ ...AJV_OPTIONS, coerceTypes: true }))

const compiled = new Map<string, ValidateFunction>()

/** Compiles (once) and returns the validator for `schemas/<name>.schema.json`. */
export function validator<T = unknown> (name: string): ValidateFunction<T> {
  let fn = compiled.get(name)
  if (fn === undefined) {
    fn = ajv.compile(loadSchema(name))
    compiled.set(name, fn)
  }
  return fn as ValidateFunction<T>
}

/**
 * The plain JSON Schema of a TypeBox schema, as ajv validates it and as
 * `schemas/*.schema.json` publishes it. A property with a `default` is typed as
 * present (ajv fills it in before anything reads the object), so TypeBox lists
 * it in `required`; a file or environment may still leave it out, so it is
 * taken out of `required` here.
 */
export function jsonSchema (schema: TSchema): Record<string, unknown> {
  return relaxDefaults(JSON.parse(JSON.stringify(schema))) as Record<string, unknown>
}

function relaxDefaults (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relaxDefaults)
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) out[k] = relaxDefaults(v)
  const props = out.properties as Record<string, { default?: unknown }> | undefined
  if (Array.isArray(out.required) && props !== undefined) {
    const required = (out.required as string[]).filter(key => props[key]?.default === undefined)
    if (required.length > 0) out.required = required
    else delete out.required
  }
  return out
}

/**
 * A union of object schemas told apart by one constant property (`kind`,
 * `type`). Written as `if`/`then` per variant rather than `anyOf`, so ajv fills
 * each variant's defaults and names the offending property in its error; the
 * static type is still the union of the variants.
 */
export function taggedUnion<const V extends TObject[]> (tag: string, variants: V, options: { description?: string } = {}): TUnsafe<Static<V[number]>> {
  const tags = variants.map(v => (v.properties[tag] as { const?: unknown } | undefined)?.const)
  if (tags.some(t => typeof t !== 'string')) throw new Error(`taggedUnion: every variant needs a constant "${tag}"`)
  return Type.Unsafe<Static<V[number]>>({
    ...options,
    type: 'object',
    required: [tag],
    properties: { [tag]: { enum: tags } },
    allOf: variants.map((v, i) => ({ if: { properties: { [tag]: { const: tags[i] } } }, then: v }))
  })
}

/** One readable line for the first schema error, e.g. `/sources/0/kind must be equal to one of the allowed values`. */
export function describeError (errors: ErrorObject[] | null | undefined, root = ''): string {
  const err = errors?.[0]
  if (err === undefined) return 'is invalid'
  const where = `${root}${err.instancePath}` || '(root)'
  const extra = err.keyword === 'additionalProperties'
    ? ` (${String((err.params as { additionalProperty?: string }).additionalProperty)})`
    : err.keyword === 'enum'
      ? ` (${(err.params as { allowedValues?: unknown[] }).allowedValues?.join(', ')})`
      : ''
  return `${where} ${err.message ?? 'is invalid'}${extra}`
}
