import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'

/** A Kubernetes object as written in a manifest (only the fields the checks read are typed). */
export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [field: string]: unknown
}

/** A kustomization.yaml (kind Kustomization or Component), as far as these checks follow it. */
export interface Kustomization {
  kind: 'Kustomization' | 'Component'
  resources?: string[]
  components?: string[]
  patches?: { path?: string, patch?: string }[]
  replicas?: { name: string, count: number }[]
}

const KUSTOMIZATION = 'kustomization.yaml'

/** Every `.yaml`/`.yml` file under `dir`, recursively, sorted. */
export function yamlFiles (dir: string): string[] {
  return readdirSync(dir).sort().flatMap(name => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return yamlFiles(path)
    return /\.ya?ml$/.test(name) ? [path] : []
  })
}

/** The YAML documents of one file; a syntax error throws, naming the file. */
export function readDocuments (path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${path} document ${i}: ${doc.errors[0]!.message}`)
    return doc.toJS() as unknown
  }).filter(doc => doc !== null)
}

/** Whether a file is a kustomization (read by kustomize, not applied to the cluster). */
export function isKustomization (path: string): boolean {
  return path.endsWith(`/${KUSTOMIZATION}`)
}

export function readKustomization (dir: string): Kustomization {
  return readDocuments(join(dir, KUSTOMIZATION))[0] as Kustomization
}

/** Paths a kustomization names (resources, components, patch files), relative to its directory, that do not exist. */
export function missingReferences (kustomizationFile: string): string[] {
  const dir = dirname(kustomizationFile)
  const k = readDocuments(kustomizationFile)[0] as Kustomization
  const named = [...k.resources ?? [], ...k.components ?? [], ...(k.patches ?? []).flatMap(p => p.path === undefined ? [] : [p.path])]
  return named.filter(ref => {
    const path = resolve(dir, ref)
    if (!existsSync(path)) return true
    // A directory entry is itself a kustomization.
    return statSync(path).isDirectory() && !existsSync(join(path, KUSTOMIZATION))
  }).map(ref => `${relative(process.cwd(), kustomizationFile)}: ${ref}`)
}

/**
 * What kustomize would emit for a directory, as far as the checks need it:
 * resources (recursively), then components, then the directory's own patches
 * (strategic-merge patches: `$patch: delete` removes the target, otherwise maps
 * are merged and lists replaced), then `replicas`. Missing files are left out
 * (`missingReferences` reports them). Name, namespace and image transformers
 * are not applied; the checks do not depend on them.
 */
export function build (dir: string): Manifest[] {
  const k = readKustomization(dir)
  let docs: Manifest[] = []
  for (const ref of k.resources ?? []) {
    const path = resolve(dir, ref)
    if (!existsSync(path)) continue
    docs.push(...(statSync(path).isDirectory() ? build(path) : readDocuments(path) as Manifest[]))
  }
  for (const ref of k.components ?? []) docs = applyComponent(docs, resolve(dir, ref))
  for (const patch of k.patches ?? []) {
    if (patch.path === undefined) throw new Error(`${dir}: inline patches are not followed by this check; use a patch file`)
    const path = resolve(dir, patch.path)
    if (existsSync(path)) docs = applyPatches(docs, readDocuments(path) as Manifest[])
  }
  for (const { name, count } of k.replicas ?? []) {
    const target = docs.find(d => d.kind === 'Deployment' && d.metadata.name === name)
    if (target === undefined) throw new Error(`${dir}: replicas for ${name}, which is no Deployment`)
    target.spec = { ...target.spec as object, replicas: count }
  }
  return docs
}

function applyComponent (docs: Manifest[], dir: string): Manifest[] {
  const k = readKustomization(dir)
  if (k.kind !== 'Component') throw new Error(`${dir} is listed as a component but is a ${k.kind}`)
  let out = [...docs]
  for (const ref of k.resources ?? []) out.push(...readDocuments(resolve(dir, ref)) as Manifest[])
  for (const patch of k.patches ?? []) out = applyPatches(out, readDocuments(resolve(dir, patch.path!)) as Manifest[])
  return out
}

function applyPatches (docs: Manifest[], patches: Manifest[]): Manifest[] {
  let out = docs
  for (const patch of patches) {
    const i = out.findIndex(d => d.kind === patch.kind && d.metadata.name === patch.metadata.name)
    if (i < 0) throw new Error(`patch ${patch.kind}/${patch.metadata.name} matches no resource`)
    if (patch.$patch === 'delete') {
      out = out.filter((_, j) => j !== i)
    } else {
      out = out.map((d, j) => j === i ? merge(d, patch) as Manifest : d)
    }
  }
  return out
}

function merge (target: unknown, patch: unknown): unknown {
  if (!isObject(target) || !isObject(patch)) return structuredClone(patch)
  const out: Record<string, unknown> = { ...target }
  for (const [key, value] of Object.entries(patch)) out[key] = merge(target[key], value)
  return out
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
