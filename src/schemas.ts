import { readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'

// ajv-formats ships CJS; its default export is the function under ESM interop.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const schemaDir = new URL('../schemas/', import.meta.url)

/** Reads `schemas/<name>.schema.json`. */
export function loadSchema (name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${name}.schema.json`, schemaDir), 'utf8'))
}

/** One Ajv for the process, so every schema is compiled once at boot. */
export const ajv = addFormats(new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, strict: true, strictRequired: false, allowUnionTypes: true }))

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
