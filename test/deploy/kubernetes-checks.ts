import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1'
import * as appsV1 from 'kubernetes-models/apps/v1'
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2'
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1'
import * as policyV1 from 'kubernetes-models/policy/v1'
import * as coreV1 from 'kubernetes-models/v1'
import { QUEUE } from '../../src/queues.ts'
import type { Manifest } from './kustomize.ts'

/*
 * Each check returns the faults it found (empty = pass), so a test can both
 * require a clean result for the real manifests and show the check catching a
 * deliberately broken copy.
 */

const root = join(import.meta.dirname, '..', '..')

type Model = new (data: object) => { validate (): void }

/** The model modules by apiVersion: every kind the manifests may use. */
const MODELS: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'autoscaling/v2': autoscalingV2,
  'policy/v1': policyV1,
  'networking.k8s.io/v1': networkingV1,
  'keda.sh/v1alpha1': kedaV1alpha1
}

/** Validates a manifest against the OpenAPI schema of its apiVersion/kind; an unknown kind is a problem. */
export function schemaFaults (doc: Manifest): string[] {
  const Class = MODELS[doc.apiVersion]?.[doc.kind]
  if (typeof Class !== 'function') return [`${doc.apiVersion} ${doc.kind}: no model for this kind`]
  try {
    new (Class as Model)(doc).validate()
    return []
  } catch (err) {
    return [`${doc.kind}/${doc.metadata?.name}: ${(err as Error).message}`]
  }
}

interface EnvSchema { properties: Record<string, { default?: unknown }> }

/** The gateway's environment variables (schemas/env.schema.json) with their defaults. */
export const envSchema = JSON.parse(readFileSync(join(root, 'schemas', 'env.schema.json'), 'utf8')) as EnvSchema

type Container = coreV1.IContainer
type PodSpec = coreV1.IPodSpec

export interface Workload {
  deployment: appsV1.IDeployment & Manifest
  pod: PodSpec
  container: Container
}

/** Each Deployment's pod spec and its containers. */
export function workloads (docs: Manifest[]): Workload[] {
  return docs.filter(d => d.kind === 'Deployment').flatMap(d => {
    const deployment = d as unknown as Workload['deployment']
    const pod = deployment.spec!.template.spec!
    return pod.containers.map(container => ({ deployment, pod, container }))
  })
}

function find (docs: Manifest[], kind: string, name: string): Manifest | undefined {
  return docs.find(d => d.kind === kind && d.metadata.name === name)
}

/** Key/value pairs a ConfigMap or Secret holds (Secret `data` is base64). */
function keyValues (doc: Manifest): Record<string, string> {
  const out: Record<string, string> = { ...doc.data as Record<string, string> | undefined }
  if (doc.kind === 'Secret') {
    for (const [k, v] of Object.entries(out)) out[k] = Buffer.from(v, 'base64').toString('utf8')
    Object.assign(out, doc.stringData as Record<string, string> | undefined)
  }
  return out
}

/** The environment a container starts with (envFrom sources, then `env`); a missing source is a problem. */
export function containerEnv (docs: Manifest[], container: Container): { env: Record<string, string>, faults: string[] } {
  const env: Record<string, string> = {}
  const faults: string[] = []
  for (const from of container.envFrom ?? []) {
    const kind = from.configMapRef !== undefined ? 'ConfigMap' : 'Secret'
    const name = (from.configMapRef ?? from.secretRef)!.name!
    const source = find(docs, kind, name)
    if (source === undefined) faults.push(`${container.name}: envFrom ${kind} ${name} does not exist`)
    else Object.assign(env, keyValues(source))
  }
  for (const e of container.env ?? []) env[e.name] = e.value ?? `(from ${e.valueFrom === undefined ? 'nowhere' : 'a reference'})`
  return { env, faults }
}

/** The setting a process runs with: the container's environment, else the schema default. */
export function setting (env: Record<string, string>, name: string): string {
  return env[name] ?? String(envSchema.properties[name]?.default)
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/** The config file a container mounts at GATEWAY_CONFIG, when it does. */
export function mountedConfigFile (docs: Manifest[], w: Workload, env: Record<string, string>): string | undefined {
  const path = env.GATEWAY_CONFIG
  if (path === undefined) return undefined
  for (const mount of w.container.volumeMounts ?? []) {
    if (!path.startsWith(`${mount.mountPath}/`)) continue
    const volume = w.pod.volumes?.find(v => v.name === mount.name)
    if (volume?.configMap === undefined) continue
    const map = find(docs, 'ConfigMap', volume.configMap.name!)
    return map === undefined ? undefined : keyValues(map)[path.slice(mount.mountPath.length + 1)]
  }
  return undefined
}

/**
 * Every variable a container is given is one the gateway reads (env schema) or
 * one its config file interpolates; every variable the file interpolates is given.
 */
export function envNameFaults (docs: Manifest[]): string[] {
  const known = new Set(Object.keys(envSchema.properties))
  return workloads(docs).flatMap(w => {
    const { env, faults } = containerEnv(docs, w.container)
    const file = mountedConfigFile(docs, w, env)
    if (env.GATEWAY_CONFIG !== undefined && file === undefined) faults.push(`${w.container.name}: GATEWAY_CONFIG ${env.GATEWAY_CONFIG} is not a mounted ConfigMap key`)
    const referenced = new Set([...(file ?? '').matchAll(VAR)].map(m => m[1]!))
    for (const name of Object.keys(env)) {
      if (!known.has(name) && !referenced.has(name)) faults.push(`${w.container.name}: ${name} is neither a gateway variable nor used by the config file`)
    }
    for (const name of referenced) {
      if (env[name] === undefined) faults.push(`${w.container.name}: the config file uses \${${name}}, which the container is not given`)
    }
    return faults
  })
}

/** The command each role runs, as the Dockerfile's image expects it. */
export const ROLE_COMMANDS: Record<string, string[]> = {
  gateway: ['node', 'src/bin/gateway.ts'],
  worker: ['node', 'src/bin/worker.ts']
}

export function commandFaults (docs: Manifest[]): string[] {
  return workloads(docs).flatMap(w => {
    const expected = ROLE_COMMANDS[w.container.name]
    if (expected === undefined) return [`container ${w.container.name}: not a known role`]
    return JSON.stringify(w.container.command) === JSON.stringify(expected) ? [] : [`${w.container.name}: command ${JSON.stringify(w.container.command)}`]
  })
}

/**
 * The gateway's probes: readiness `/readyz` and liveness `/healthz` over HTTP,
 * on a named container port whose number is the PORT or ADMIN_PORT the process
 * listens on; workers have no port, hence no HTTP probe.
 */
export function probeFaults (docs: Manifest[]): string[] {
  return workloads(docs).flatMap(w => {
    const c = w.container
    const { env } = containerEnv(docs, c)
    const listening = new Set([Number(setting(env, 'PORT')), Number(setting(env, 'ADMIN_PORT'))])
    const faults: string[] = []
    const probes: [string, coreV1.IProbe | undefined, string | undefined][] = [
      ['readinessProbe', c.readinessProbe, '/readyz'],
      ['livenessProbe', c.livenessProbe, '/healthz'],
      ['startupProbe', c.startupProbe, undefined]
    ]
    for (const [field, probe, path] of probes) {
      if (c.name !== 'gateway') {
        if (probe?.httpGet !== undefined) faults.push(`${c.name}: ${field} over HTTP, but a worker serves no port`)
        continue
      }
      if (probe === undefined) {
        if (path !== undefined) faults.push(`${c.name}: no ${field}`)
        continue
      }
      const get = probe.httpGet
      if (get === undefined) { faults.push(`${c.name}: ${field} is not an HTTP GET`); continue }
      if (path !== undefined && get.path !== path) faults.push(`${c.name}: ${field} path ${get.path}, expected ${path}`)
      if (path === undefined && !['/healthz', '/readyz'].includes(get.path!)) faults.push(`${c.name}: ${field} path ${get.path}`)
      const port = typeof get.port === 'number' ? get.port : c.ports?.find(p => p.name === get.port)?.containerPort
      if (port === undefined) faults.push(`${c.name}: ${field} port ${get.port} is not a container port`)
      else if (!listening.has(port)) faults.push(`${c.name}: ${field} port ${port} is not where the gateway listens (${[...listening].join(', ')})`)
    }
    if (c.name === 'gateway') {
      for (const p of c.ports ?? []) {
        if (!listening.has(p.containerPort)) faults.push(`${c.name}: container port ${p.name} ${p.containerPort} is not PORT or ADMIN_PORT`)
      }
    }
    return faults
  })
}

/** Seconds of a `preStop: exec: [sleep, N]` hook, 0 without one. */
function preStopSeconds (c: Container): number {
  const command = c.lifecycle?.preStop?.exec?.command
  return command?.[0] === 'sleep' ? Number(command[1]) : 0
}

/** The kubelet's SIGKILL comes after the preStop hook and the process's whole shutdown budget. */
export function gracePeriodFaults (docs: Manifest[]): string[] {
  return workloads(docs).flatMap(w => {
    const { env } = containerEnv(docs, w.container)
    const shutdownMs = Number(setting(env, 'SHUTDOWN_TIMEOUT_MS'))
    const neededMs = shutdownMs + preStopSeconds(w.container) * 1000
    const grace = w.pod.terminationGracePeriodSeconds
    if (grace === undefined) return [`${w.deployment.metadata.name}: no terminationGracePeriodSeconds`]
    return grace * 1000 > neededMs ? [] : [`${w.deployment.metadata.name}: terminationGracePeriodSeconds ${grace} s is not above SHUTDOWN_TIMEOUT_MS ${shutdownMs} ms + preStop`]
  })
}

/** Non-root, no privilege escalation, no capabilities, seccomp, read-only root, bounded resources. */
export function hardeningFaults (docs: Manifest[]): string[] {
  return workloads(docs).flatMap(w => {
    const pod = w.pod.securityContext ?? {}
    const sc = w.container.securityContext ?? {}
    const name = `${w.deployment.metadata.name}/${w.container.name}`
    const faults: string[] = []
    const runAsUser = sc.runAsUser ?? pod.runAsUser
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) faults.push(`${name}: runAsNonRoot is not true`)
    if (runAsUser !== 1000) faults.push(`${name}: runAsUser ${runAsUser}, expected 1000 (the image's node user)`)
    if (sc.allowPrivilegeEscalation !== false) faults.push(`${name}: allowPrivilegeEscalation is not false`)
    if (sc.readOnlyRootFilesystem !== true) faults.push(`${name}: readOnlyRootFilesystem is not true`)
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) faults.push(`${name}: capabilities do not drop ALL`)
    if (sc.capabilities?.add !== undefined && sc.capabilities.add.length > 0) faults.push(`${name}: adds capabilities`)
    if ((sc.seccompProfile ?? pod.seccompProfile)?.type !== 'RuntimeDefault') faults.push(`${name}: seccomp profile is not RuntimeDefault`)
    for (const kind of ['requests', 'limits'] as const) {
      for (const resource of ['cpu', 'memory']) {
        if (w.container.resources?.[kind]?.[resource] === undefined) faults.push(`${name}: no ${resource} ${kind}`)
      }
    }
    return faults
  })
}

/** Mount paths a container can write: volumes mounted read-write (its root filesystem is read-only). */
export function writableMounts (w: Workload): string[] {
  return (w.container.volumeMounts ?? []).filter(m => m.readOnly !== true).map(m => m.mountPath)
}

/** The admin port (Bull Board can delete jobs) is reachable only inside the cluster. */
export function adminExposureFaults (docs: Manifest[]): string[] {
  const faults: string[] = []
  const adminServicePorts = new Set<string>()
  for (const doc of docs.filter(d => d.kind === 'Service')) {
    const spec = (doc as unknown as coreV1.IService).spec!
    for (const p of spec.ports ?? []) {
      if (p.targetPort !== 'admin' && p.targetPort !== 3001 && p.name !== 'admin') continue
      adminServicePorts.add(`${doc.metadata.name}:${p.name}`).add(`${doc.metadata.name}:${p.port}`)
      if ((spec.type ?? 'ClusterIP') !== 'ClusterIP') faults.push(`Service ${doc.metadata.name} exposes the admin port as ${spec.type}`)
    }
  }
  for (const doc of docs.filter(d => d.kind === 'Ingress')) {
    const spec = (doc as unknown as networkingV1.IIngress).spec!
    const backends = [spec.defaultBackend, ...(spec.rules ?? []).flatMap(r => r.http?.paths.map(p => p.backend) ?? [])]
    for (const b of backends) {
      if (b?.service === undefined) continue
      const port = b.service.port?.name ?? b.service.port?.number
      if (adminServicePorts.has(`${b.service.name}:${port}`)) faults.push(`Ingress ${doc.metadata.name} routes to the admin port (${b.service.name}:${port})`)
    }
  }
  return faults
}

/** Service target ports name ports of the pods they select. */
export function servicePortFaults (docs: Manifest[]): string[] {
  return docs.filter(d => d.kind === 'Service').flatMap(doc => {
    const spec = (doc as unknown as coreV1.IService).spec!
    const selected = workloads(docs).filter(w => Object.entries(spec.selector ?? {}).every(([k, v]) => w.deployment.spec!.template.metadata?.labels?.[k] === v))
    if (selected.length === 0) return [`Service ${doc.metadata.name} selects no pod`]
    return (spec.ports ?? []).flatMap(p => selected.some(w => w.container.ports?.some(cp => cp.name === p.targetPort || cp.containerPort === p.targetPort))
      ? []
      : [`Service ${doc.metadata.name}: target port ${p.targetPort} is no container port of the pods it selects`])
  })
}

/**
 * The gateway Deployment has a PodDisruptionBudget selecting its pods that
 * still lets a drain evict one (a budget allowing no eviction blocks node
 * upgrades for good).
 */
export function disruptionBudgetFaults (docs: Manifest[]): string[] {
  const budgets = docs.filter(d => d.kind === 'PodDisruptionBudget').map(d => ({ name: d.metadata.name, spec: (d as unknown as policyV1.IPodDisruptionBudget).spec! }))
  return docs.filter(d => d.kind === 'Deployment' && d.metadata.labels?.['app.kubernetes.io/component'] === 'gateway').flatMap(d => {
    const deployment = d as unknown as Workload['deployment']
    const labels = deployment.spec!.template.metadata?.labels ?? {}
    const replicas = deployment.spec!.replicas ?? 1
    const mine = budgets.filter(b => Object.keys(b.spec.selector?.matchLabels ?? {}).length > 0 &&
      Object.entries(b.spec.selector!.matchLabels!).every(([k, v]) => labels[k] === v))
    if (mine.length === 0) return [`Deployment ${d.metadata.name}: no PodDisruptionBudget selects its pods`]
    return mine.flatMap(b => {
      const allowed = b.spec.maxUnavailable !== undefined ? Number(b.spec.maxUnavailable) : replicas - Number(b.spec.minAvailable ?? 0)
      return allowed >= 1 ? [] : [`PodDisruptionBudget ${b.name} allows no eviction of ${replicas} replicas`]
    })
  })
}

/** Secrets in the repository hold placeholders only, never anything that looks real. */
export function secretPlaceholderFaults (docs: Manifest[]): string[] {
  return docs.filter(d => d.kind === 'Secret').flatMap(doc =>
    Object.entries(keyValues(doc)).filter(([, v]) => v !== 'REPLACE_ME').map(([k]) => `Secret ${doc.metadata.name}: ${k} is not the REPLACE_ME placeholder`))
}

interface ScaleTarget { kind: string, name: string, by: string }

function scaleTargets (docs: Manifest[]): ScaleTarget[] {
  return docs.flatMap(d => {
    if (d.kind !== 'HorizontalPodAutoscaler' && d.kind !== 'ScaledObject') return []
    const ref = (d.spec as { scaleTargetRef: { kind?: string, name: string } }).scaleTargetRef
    return [{ kind: ref.kind ?? 'Deployment', name: ref.name, by: `${d.kind}/${d.metadata.name}` }]
  })
}

/**
 * Autoscaling of one built kustomization: every autoscaler targets an existing
 * Deployment, none is driven by two autoscalers (KEDA makes an HPA of its own),
 * and an autoscaled Deployment leaves `replicas` to its autoscaler.
 */
export function autoscalingFaults (docs: Manifest[]): string[] {
  const faults: string[] = []
  const seen = new Map<string, string>()
  for (const t of scaleTargets(docs)) {
    const target = find(docs, t.kind, t.name) as (appsV1.IDeployment & Manifest) | undefined
    if (target === undefined) { faults.push(`${t.by} targets ${t.kind}/${t.name}, which does not exist`); continue }
    const other = seen.get(t.name)
    if (other !== undefined) faults.push(`${t.kind}/${t.name} is scaled by both ${other} and ${t.by}`)
    seen.set(t.name, t.by)
    if (target.spec?.replicas !== undefined) faults.push(`${t.kind}/${t.name} sets replicas, which ${t.by} owns`)
  }
  return faults
}

/**
 * KEDA's Redis triggers watch BullMQ's wait list of every queue,
 * `<QUEUE_PREFIX>:<queue>:wait`, under the prefix the workers use.
 */
export function kedaListFaults (docs: Manifest[]): string[] {
  const faults: string[] = []
  for (const so of docs.filter(d => d.kind === 'ScaledObject')) {
    const name = (so.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name
    const w = workloads(docs).find(w => w.deployment.metadata.name === name)
    if (w === undefined) { faults.push(`ScaledObject ${so.metadata.name}: no Deployment ${name}`); continue }
    const prefix = setting(containerEnv(docs, w.container).env, 'QUEUE_PREFIX')
    const triggers = (so.spec as { triggers: { type: string, metadata: Record<string, string> }[] }).triggers
    const lists = triggers.filter(t => t.type === 'redis').map(t => t.metadata.listName)
    const expected = Object.values(QUEUE).map(q => `${prefix}:${q}:wait`)
    for (const list of expected) if (!lists.includes(list)) faults.push(`ScaledObject ${so.metadata.name}: no trigger on ${list}`)
    for (const list of lists) if (!expected.includes(list!)) faults.push(`ScaledObject ${so.metadata.name}: ${list} is not a wait list of the workers' queues`)
  }
  return faults
}
