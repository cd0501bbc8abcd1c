import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigSchema, type GatewayFileConfig } from '../schemas/config.ts'
import { EnvSchema, type Env } from '../schemas/env.ts'
import { ajv, describeError, envAjv, jsonSchema } from './schemas.ts'

export type { AuthConfig } from '../schemas/common.ts'
export type { DestinationConfig, GatewayFileConfig, OAuthConfig, OutputsConfig } from '../schemas/config.ts'
export type { Env } from '../schemas/env.ts'
export type { JournalConfig } from './sources/adobe-io-events.ts'
export type { SourceConfig } from './sources/index.ts'

/**
 * The runtime configuration every module consumes: the config file plus the
 * environment mapped to camelCase (see `fromEnv`).
 */
export type GatewayConfig = GatewayFileConfig & ReturnType<typeof fromEnv>

/** Socket and request deadlines of both HTTP ports: slow or idle clients cannot hold a connection. */
export type HttpTimeouts = GatewayConfig['http']

/** Header names that carry a configured source's shared token or signature (redacted from logs). */
export function secretHeaders (config: Pick<GatewayFileConfig, 'sources'>): string[] {
  return config.sources.flatMap(s => 'auth' in s && (s.auth.type === 'header' || s.auth.type === 'hmac') ? [s.auth.header] : [])
}

/** A configuration problem; the message is one line naming the setting. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

const DEFAULT_CONFIG_FILE = './gateway.config.json'

/**
 * Builds the validated configuration from the environment (and the config file
 * it names). Nothing below this module reads `process.env`.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): GatewayConfig {
  const e = readEnv(env)
  checkTimeouts(e)
  const file = readConfigFile(e, env, cwd)
  return { ...file, ...fromEnv(e) }
}

/** The environment's share of the configuration: one line per variable that something reads. */
function fromEnv (e: Env) {
  const redisClusterNodes = clusterNodes(e)
  return {
    port: e.PORT,
    host: e.HOST,
    adminPort: e.ADMIN_PORT,
    redisUrl: e.REDIS_URL,
    // Redis Cluster seed nodes: when set, connections are cluster clients (REDIS_URL lends only credentials and TLS).
    ...(redisClusterNodes !== undefined && { redisClusterNodes }),
    queuePrefix: e.QUEUE_PREFIX,
    publicKeyBaseUrl: e.ADOBE_PUBLIC_KEY_BASE_URL,
    admin: { user: e.ADMIN_USER, password: e.ADMIN_PASSWORD, auth: e.ADMIN_AUTH },
    logLevel: e.LOG_LEVEL,
    bodyLimit: e.BODY_LIMIT,
    ackTimeoutMs: e.ACK_TIMEOUT_MS,
    dedupWindowMs: e.DEDUP_WINDOW_SECONDS * 1000,
    keyFetchTimeoutMs: e.KEY_FETCH_TIMEOUT_MS,
    keyCacheTtlMs: e.KEY_CACHE_TTL_SECONDS * 1000,
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
      forwardTimeoutMs: e.FORWARD_TIMEOUT_MS,
      /** One matching destination: the first attempt is made by the events job. */
      forwardInline: e.FORWARD_INLINE === 'on',
      /** Lock lifetime of an active job; a crashed worker's jobs are recovered once it expires. */
      lockDurationMs: e.WORKER_LOCK_DURATION_MS,
      /** How often stalled jobs (lock expired) are moved back to wait. */
      stalledIntervalMs: e.WORKER_STALLED_INTERVAL_MS
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    http: {
      /** Whole headers received within this (Node `headersTimeout`), else 408 and close. */
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      /** Whole request, headers and body, received within this (Node `requestTimeout`), else 408 and close. */
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      /** A socket without traffic for this long is destroyed (Node `server.timeout`). */
      connectionTimeoutMs: e.CONNECTION_TIMEOUT_MS,
      /** Idle time allowed between requests on a kept-alive connection. */
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS
    }
  }
}

const validateEnv = envAjv.compile<Env>(jsonSchema(EnvSchema))

/**
 * Validates the variables the schema knows, nothing else of `env`: an empty
 * value is unset (docker compose passes `VAR=` for every blank line of an
 * env file), so its default applies.
 */
function readEnv (env: NodeJS.ProcessEnv): Env {
  const data = Object.fromEntries(Object.keys(EnvSchema.properties).flatMap(k => env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]]))
  if (!validateEnv(data)) {
    const err = validateEnv.errors![0]!
    if (err.keyword === 'dependencies') {
      const { property, missingProperty } = err.params as { property: string, missingProperty: string }
      throw new ConfigError(`${missingProperty} must be set when ${property} is set`)
    }
    throw new ConfigError(describeError([err]).replace(/^\//, ''))
  }
  return data
}

function checkTimeouts (e: Env): void {
  // Node refuses a headers deadline past the request deadline, and both bound the same clock.
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS (${e.HEADERS_TIMEOUT_MS}) must not exceed REQUEST_TIMEOUT_MS (${e.REQUEST_TIMEOUT_MS})`)
  }
  // A request may wait for a key fetch and then for the enqueue with no bytes moving:
  // an idle deadline shorter than that would drop the socket before the answer.
  if (e.CONNECTION_TIMEOUT_MS <= e.KEY_FETCH_TIMEOUT_MS + e.ACK_TIMEOUT_MS) {
    throw new ConfigError(`CONNECTION_TIMEOUT_MS (${e.CONNECTION_TIMEOUT_MS}) must exceed KEY_FETCH_TIMEOUT_MS + ACK_TIMEOUT_MS (${e.KEY_FETCH_TIMEOUT_MS + e.ACK_TIMEOUT_MS})`)
  }
}

/**
 * The seed nodes of REDIS_CLUSTER_NODES. A cluster runs a MULTI or a script
 * only on keys of one slot, and BullMQ's scripts touch many keys of a queue:
 * the prefix's `{hash tag}` is what puts them all in one slot.
 */
function clusterNodes (e: Env): { host: string, port: number }[] | undefined {
  if (e.REDIS_CLUSTER_NODES === undefined) return undefined
  const nodes = e.REDIS_CLUSTER_NODES.split(',').map(s => s.trim()).map(s => {
    const i = s.lastIndexOf(':')
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) }
  })
  const bad = nodes.find(n => !(n.port >= 1 && n.port <= 65535))
  if (bad !== undefined) throw new ConfigError(`REDIS_CLUSTER_NODES: port of ${bad.host} must be 1-65535`)
  if (!hasHashTag(e.QUEUE_PREFIX)) {
    throw new ConfigError(`QUEUE_PREFIX "${e.QUEUE_PREFIX}" needs a {hash tag} (e.g. {aeg}) when REDIS_CLUSTER_NODES is set: a queue's keys must share one cluster slot`)
  }
  return nodes
}

/** Redis Cluster hashes a key by the text between its first `{` and the next `}`, when not empty. */
export function hasHashTag (prefix: string): boolean {
  const open = prefix.indexOf('{')
  if (open < 0) return false
  const close = prefix.indexOf('}', open + 1)
  return close > open + 1
}

function readConfigFile (e: Env, env: NodeJS.ProcessEnv, cwd: string): GatewayFileConfig {
  const explicit = e.GATEWAY_CONFIG
  const path = resolve(cwd, explicit ?? DEFAULT_CONFIG_FILE)
  let raw: unknown
  if (explicit !== undefined || existsSync(path)) {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new ConfigError(`GATEWAY_CONFIG: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    try {
      raw = JSON.parse(text)
    } catch (err) {
      throw new ConfigError(`GATEWAY_CONFIG: ${path} is not valid JSON: ${(err as Error).message}`)
    }
    raw = interpolate(raw, env, '')
  } else {
    raw = {
      sources: [{
        name: 'adobe',
        kind: 'adobe-io-events',
        ...(e.ADOBE_CLIENT_ID !== undefined && { clientId: e.ADOBE_CLIENT_ID }),
        ...(e.ADOBE_CLIENT_SECRET !== undefined && { clientSecret: e.ADOBE_CLIENT_SECRET })
      }]
    }
  }
  return validateFileConfig(raw)
}

const validateConfig = ajv.compile<GatewayFileConfig>(jsonSchema(ConfigSchema))

/** Validates (and fills defaults into) a config-file object. */
export function validateFileConfig (raw: unknown): GatewayFileConfig {
  if (!validateConfig(raw)) throw new ConfigError(`GATEWAY_CONFIG: ${describeError(validateConfig.errors)}`)
  const names = new Set<string>()
  for (const [i, s] of raw.sources.entries()) {
    if (names.has(s.name)) throw new ConfigError(`GATEWAY_CONFIG: /sources: source name "${s.name}" is used twice`)
    names.add(s.name)
    if (s.kind === 'adobe-io-events' && s.journal !== undefined && raw.oauth === undefined) {
      throw new ConfigError(`GATEWAY_CONFIG: /sources/${i}/journal: source "${s.name}" reads a journal, which needs the top-level "oauth" block (its token authorizes the journal API)`)
    }
  }
  const destNames = new Set<string>()
  for (const d of raw.destinations) {
    if (destNames.has(d.name)) throw new ConfigError(`GATEWAY_CONFIG: /destinations: destination name "${d.name}" is used twice`)
    destNames.add(d.name)
    for (const src of d.match?.source ?? []) {
      if (!names.has(src)) throw new ConfigError(`GATEWAY_CONFIG: /destinations/${d.name}/match/source: unknown source "${src}"`)
    }
  }
  return raw
}

/** How long the Adobe I/O Events journal keeps an event: a reader can be this far behind. */
export const JOURNAL_RETENTION_SECONDS = 7 * 24 * 3600

/** A setting that boots but is probably not what the operator meant; `msg` is one line. */
export interface ConfigWarning {
  msg: string
  [k: string]: unknown
}

/** Valid but risky settings, for the process to log at boot. */
export function configWarnings (config: Pick<GatewayConfig, 'sources' | 'dedupWindowMs'>): ConfigWarning[] {
  const warnings: ConfigWarning[] = []
  for (const s of config.sources) {
    if (s.kind !== 'adobe-io-events') continue
    if (s.clientId === undefined) {
      warnings.push({ msg: `source "${s.name}" has no clientId: events addressed to any client id are accepted (recipient check off)`, source: s.name })
    }
    if (s.journal !== undefined && config.dedupWindowMs < JOURNAL_RETENTION_SECONDS * 1000) {
      const windowSeconds = config.dedupWindowMs / 1000
      warnings.push({
        msg: `source "${s.name}" reads a journal that keeps events ${JOURNAL_RETENTION_SECONDS} s but DEDUP_WINDOW_SECONDS is ${windowSeconds}: an event the webhook already delivered could be queued again if the journal reader lags more than ${windowSeconds} s; set DEDUP_WINDOW_SECONDS=${JOURNAL_RETENTION_SECONDS}`,
        source: s.name,
        dedupWindowSeconds: windowSeconds,
        journalRetentionSeconds: JOURNAL_RETENTION_SECONDS
      })
    }
  }
  return warnings
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/** Replaces `${NAME}` in every string with the environment variable NAME. */
function interpolate (value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (_, name: string) => {
      const v = env[name]
      if (v === undefined || v === '') throw new ConfigError(`GATEWAY_CONFIG: ${path || '/'} refers to \${${name}}, which is not set in the environment`)
      return v
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}/${i}`))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, `${path}/${k}`)]))
  }
  return value
}
