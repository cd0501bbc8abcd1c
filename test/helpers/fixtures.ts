import { readFileSync } from 'node:fs'

/** A seed fixture as a fresh object (tests may change ids without affecting others). */
export function fixture<T = any> (path: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')) as T
}
