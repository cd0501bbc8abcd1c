import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import {
  adminExposureFaults, autoscalingFaults, commandFaults, containerEnv, disruptionBudgetFaults, envNameFaults, gracePeriodFaults,
  hardeningFaults, kedaListFaults, mountedConfigFile, probeFaults, ROLE_COMMANDS, schemaFaults,
  secretPlaceholderFaults, servicePortFaults, workloads, writableMounts
} from './kubernetes-checks.ts'
import { build, isKustomization, missingReferences, readDocuments, readKustomization, yamlFiles, type Manifest } from './kustomize.ts'

const root = join(import.meta.dirname, '..', '..')
const deployDir = join(root, 'deploy', 'kubernetes')
const rel = (path: string) => relative(root, path)

const files = yamlFiles(deployDir)
const kustomizationFiles = files.filter(isKustomization)
/** Directories kustomize can build on their own (components only inside one). */
const targets = kustomizationFiles.map(dirname).filter(dir => readKustomization(dir).kind === 'Kustomization')
const built = new Map(targets.map(dir => [rel(dir), build(dir)]))
const base = built.get('deploy/kubernetes/base')!
const example = built.get('deploy/kubernetes/overlays/example')!

/** A copy of `docs` with one object changed, to show a check catching it. */
function broken (docs: Manifest[], kind: string, name: string, change: (doc: any) => void): Manifest[] {
  const copy = structuredClone(docs)
  const doc = copy.find(d => d.kind === kind && d.metadata.name === name)
  if (doc === undefined) throw new Error(`no ${kind}/${name} to break`)
  change(doc)
  return copy
}
const gatewayContainer = (d: any) => d.spec.template.spec.containers[0]

t.test('the layout: a base, an example overlay and the KEDA component', async t => {
  t.same(targets.map(rel).sort(), ['deploy/kubernetes/base', 'deploy/kubernetes/overlays/example'])
  t.ok(existsSync(join(deployDir, 'components', 'keda-redis', 'kustomization.yaml')))
})

t.test('every file a kustomization names exists', async t => {
  t.ok(kustomizationFiles.length >= 3, 'base, component and overlay kustomizations found')
  for (const file of kustomizationFiles) t.same(missingReferences(file), [], rel(file))

  const dir = mkdtempSync(join(tmpdir(), 'aeg-k8s-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'kustomization.yaml'), 'kind: Kustomization\nresources: [absent.yaml]\npatches: [{ path: gone.yaml }]\ncomponents: [../nowhere]\n')
  t.equal(missingReferences(join(dir, 'kustomization.yaml')).length, 3, 'a missing resource, patch and component are each reported')
})

t.test('every YAML document is a known kind and valid against its schema', async t => {
  const referenced = new Set<string>()
  for (const file of kustomizationFiles) {
    const k = readDocuments(file)[0] as { resources?: string[], patches?: { path?: string }[] }
    for (const ref of [...k.resources ?? [], ...(k.patches ?? []).flatMap(p => p.path ?? [])]) referenced.add(join(dirname(file), ref))
  }
  for (const file of files.filter(f => !isKustomization(f))) {
    t.ok(referenced.has(file), `${rel(file)} is used by a kustomization`)
    for (const doc of readDocuments(file) as Manifest[]) {
      const faults = schemaFaults(doc)
      // A patch is partial: it must name a known kind, and is validated once applied (below).
      const partial = isPatch(file) && faults.every(p => !p.includes('no model'))
      t.same(partial ? [] : faults, [], `${rel(file)}: ${doc.kind}/${doc.metadata?.name}`)
    }
  }
  for (const [dir, docs] of built) {
    for (const doc of docs) t.same(schemaFaults(doc), [], `${dir} builds a valid ${doc.kind}/${doc.metadata.name}`)
  }

  t.match(schemaFaults({ apiVersion: 'v1', kind: 'Frobnicator', metadata: { name: 'x' } }), [/no model/], 'an unknown kind fails')
  t.match(schemaFaults({ apiVersion: 'example.com/v1', kind: 'Deployment', metadata: { name: 'x' } }), [/no model/], 'an unknown apiVersion fails')
  const badDeployment = broken(base, 'Deployment', 'aeg-gateway', d => { gatewayContainer(d).ports[0].containerPort = 'http' }).find(d => d.kind === 'Deployment')!
  t.match(schemaFaults(badDeployment), [/containerPort must be integer/], 'a wrong type fails')
  const badScaledObject = broken(example, 'ScaledObject', 'aeg-worker', d => { d.spec.minReplicaCount = 'two' }).find(d => d.kind === 'ScaledObject')!
  t.not(schemaFaults(badScaledObject).length, 0, 'a ScaledObject is validated too')
})

function isPatch (file: string): boolean {
  return kustomizationFiles.some(k => ((readDocuments(k)[0] as { patches?: { path?: string }[] }).patches ?? [])
    .some(p => p.path !== undefined && join(dirname(k), p.path) === file))
}

t.test('the roles run the image\'s entry points', async t => {
  for (const [dir, docs] of built) t.same(commandFaults(docs), [], dir)
  for (const command of Object.values(ROLE_COMMANDS)) t.ok(existsSync(join(root, command.at(-1)!)), `${command.at(-1)} exists`)
  t.not(commandFaults(broken(base, 'Deployment', 'aeg-worker', d => { gatewayContainer(d).command[3] = 'src/bin/gateway.ts' })).length, 0)
})

t.test('every environment variable is one the gateway reads', async t => {
  for (const [dir, docs] of built) t.same(envNameFaults(docs), [], dir)
  t.match(envNameFaults(broken(base, 'ConfigMap', 'aeg-config', d => { d.data.REDIS_HOST = 'redis' })), [/REDIS_HOST is neither/], 'an invented name in the ConfigMap')
  t.match(envNameFaults(broken(base, 'Deployment', 'aeg-gateway', d => { gatewayContainer(d).env = [{ name: 'SHUTDOWN_TIMEOUT', value: '1' }] })), [/SHUTDOWN_TIMEOUT is neither/], 'an invented name in a Deployment')
  t.match(envNameFaults(broken(base, 'Secret', 'aeg-secrets', d => { delete d.stringData.FORWARD_SECRET })), [/uses \$\{FORWARD_SECRET\}/], 'a variable the config file needs is missing')
  t.match(envNameFaults(broken(base, 'Deployment', 'aeg-worker', d => { gatewayContainer(d).envFrom[0].configMapRef.name = 'nope' })), [/ConfigMap nope does not exist/])
})

t.test('the configuration as deployed loads, and refuses to start on the placeholder Redis URL', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'aeg-k8s-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const w of workloads(example)) {
    const { env } = containerEnv(example, w.container)
    const configPath = join(dir, `${w.container.name}.json`)
    writeFileSync(configPath, mountedConfigFile(example, w, env)!)
    const deployed = { ...env, GATEWAY_CONFIG: configPath }
    t.throws(() => loadConfig(deployed, dir), new ConfigError('REDIS_URL must match pattern "^rediss?://"'), `${w.container.name}: placeholder REDIS_URL stops the boot`)
    const config = loadConfig({ ...deployed, REDIS_URL: 'rediss://default:pw@redis.example.com:6380' }, dir)
    t.equal(config.shutdownTimeoutMs, 10000)
    t.same(config.sources.map(s => s.name), ['adobe'])
    if (w.container.name === 'worker') {
      t.ok(writableMounts(w).some(m => config.outputs.dir.startsWith(`${m}/`)), `outputs.dir ${config.outputs.dir} is on a writable volume`)
    }
  }
  const worker = workloads(broken(example, 'Deployment', 'aeg-worker', d => {
    gatewayContainer(d).volumeMounts = gatewayContainer(d).volumeMounts.filter((m: { name: string }) => m.name !== 'data')
  })).find(w => w.container.name === 'worker')!
  t.notOk(writableMounts(worker).some(m => '/app/data/outputs'.startsWith(`${m}/`)), 'without the data volume the outputs dir is not writable')
})

t.test('probes: readiness /readyz and liveness /healthz on a port the gateway listens on', async t => {
  for (const [dir, docs] of built) t.same(probeFaults(docs), [], dir)
  t.match(probeFaults(broken(base, 'Deployment', 'aeg-gateway', d => { gatewayContainer(d).readinessProbe.httpGet.path = '/healthz' })), [/readinessProbe path \/healthz/])
  t.match(probeFaults(broken(base, 'Deployment', 'aeg-gateway', d => { gatewayContainer(d).livenessProbe.httpGet.port = 'http' })), [/port http is not a container port/])
  t.match(probeFaults(broken(base, 'ConfigMap', 'aeg-config', d => { d.data.PORT = '8080' })), [/not where the gateway listens/])
  t.match(probeFaults(broken(base, 'Deployment', 'aeg-gateway', d => { delete gatewayContainer(d).readinessProbe })), [/no readinessProbe/])
})

t.test('services target named container ports; the admin port never leaves the cluster', async t => {
  for (const [dir, docs] of built) {
    t.same(servicePortFaults(docs), [], dir)
    t.same(adminExposureFaults(docs), [], dir)
  }
  t.ok(example.some(d => d.kind === 'Ingress'), 'the example overlay has an Ingress')
  t.match(servicePortFaults(broken(base, 'Service', 'aeg-gateway', d => { d.spec.ports[0].targetPort = 'public' })), [/target port public/])
  t.match(adminExposureFaults(broken(base, 'Service', 'aeg-gateway-admin', d => { d.spec.type = 'LoadBalancer' })), [/exposes the admin port as LoadBalancer/])
  t.match(adminExposureFaults(broken(example, 'Ingress', 'aeg-gateway', d => {
    d.spec.rules[0].http.paths[0].backend.service = { name: 'aeg-gateway-admin', port: { name: 'admin' } }
  })), [/routes to the admin port/])
})

t.test('terminationGracePeriodSeconds covers the preStop pause and SHUTDOWN_TIMEOUT_MS', async t => {
  for (const [dir, docs] of built) t.same(gracePeriodFaults(docs), [], dir)
  t.match(gracePeriodFaults(broken(base, 'Deployment', 'aeg-gateway', d => { d.spec.template.spec.terminationGracePeriodSeconds = 12 })), [/12 s is not above/], 'preStop 5 s + 10 s budget > 12 s')
  t.match(gracePeriodFaults(broken(base, 'ConfigMap', 'aeg-config', d => { d.data.SHUTDOWN_TIMEOUT_MS = '60000' })), [/not above SHUTDOWN_TIMEOUT_MS 60000/, /not above SHUTDOWN_TIMEOUT_MS 60000/])
})

t.test('the gateway has a PodDisruptionBudget that selects its pods and still lets a drain evict one', async t => {
  for (const [dir, docs] of built) t.same(disruptionBudgetFaults(docs), [], dir)
  t.match(disruptionBudgetFaults(base.filter(d => d.kind !== 'PodDisruptionBudget')), [/aeg-gateway: no PodDisruptionBudget/], 'removed from the kustomization')
  t.match(disruptionBudgetFaults(broken(base, 'PodDisruptionBudget', 'aeg-gateway', d => { d.spec.selector.matchLabels['app.kubernetes.io/component'] = 'worker' })), [/no PodDisruptionBudget selects/], 'selecting the workers')
  t.match(disruptionBudgetFaults(broken(base, 'PodDisruptionBudget', 'aeg-gateway', d => { delete d.spec.maxUnavailable; d.spec.minAvailable = 2 })), [/allows no eviction of 2 replicas/], 'minAvailable = replicas')
})

t.test('containers run as the non-root node user with nothing extra allowed', async t => {
  for (const [dir, docs] of built) t.same(hardeningFaults(docs), [], dir)
  t.match(hardeningFaults(broken(base, 'Deployment', 'aeg-worker', d => {
    d.spec.template.spec.securityContext.runAsUser = 0
    delete gatewayContainer(d).securityContext.runAsUser
  })), [/runAsUser 0/])
  t.match(hardeningFaults(broken(base, 'Deployment', 'aeg-gateway', d => { gatewayContainer(d).securityContext.runAsNonRoot = false })), [/runAsNonRoot/])
  t.match(hardeningFaults(broken(base, 'Deployment', 'aeg-gateway', d => { gatewayContainer(d).securityContext.capabilities = { drop: ['NET_RAW'] } })), [/drop ALL/])
  t.match(hardeningFaults(broken(base, 'Deployment', 'aeg-gateway', d => { delete gatewayContainer(d).resources.limits })), [/no cpu limits/, /no memory limits/])
})

t.test('secrets in the repository are placeholders', async t => {
  for (const [dir, docs] of built) t.same(secretPlaceholderFaults(docs), [], dir)
  t.match(secretPlaceholderFaults(broken(base, 'Secret', 'aeg-secrets', d => { d.stringData.ADMIN_PASSWORD = 'hunter22hunter22' })), [/ADMIN_PASSWORD is not the REPLACE_ME placeholder/])
})

t.test('workers: a CPU HPA in the base, KEDA instead of it in the example, never both', async t => {
  t.same(base.filter(d => d.kind === 'HorizontalPodAutoscaler' || d.kind === 'ScaledObject').map(d => d.kind), ['HorizontalPodAutoscaler'])
  t.same(example.filter(d => d.kind === 'HorizontalPodAutoscaler' || d.kind === 'ScaledObject').map(d => d.kind), ['ScaledObject'])
  for (const [dir, docs] of built) {
    t.same(autoscalingFaults(docs), [], dir)
    t.same(kedaListFaults(docs), [], dir)
  }
  const bothScalers = [...example, ...base.filter(d => d.kind === 'HorizontalPodAutoscaler')]
  t.match(autoscalingFaults(bothScalers), [/scaled by both/], 'an HPA next to the ScaledObject')
  t.match(autoscalingFaults(broken(base, 'Deployment', 'aeg-worker', d => { d.spec.replicas = 3 })), [/sets replicas/])
  t.match(kedaListFaults(broken(example, 'ConfigMap', 'aeg-config', d => { d.data.QUEUE_PREFIX = '{prod}' })), [/no trigger on \{prod\}:events:wait/, /no trigger on \{prod\}:forward:wait/, /no trigger on \{prod\}:outputs:wait/, /not a wait list/, /not a wait list/, /not a wait list/])
})
