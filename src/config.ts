import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { envSchema } from 'env-schema'
import { describeError, loadSchema, validator } from './schemas.ts'

export type AuthConfig =
  | { type: 'none' }
  | { type: 'basic', username: string, password: string }
  | { type: 'header', header: string, value: string }
  | { type: 'hmac', header: string, algorithm: 'sha1' | 'sha256' | 'sha512', encoding: 'base64' | 'hex', prefix: string, secrets: string[] }

export type SourceConfig =
  | { name: string, kind: 'adobe-io-events', clientId?: string, clientSecret?: string, verify: 'signature' | 'none', journal?: JournalConfig }
  | { name: string, kind: 'pdf-services', auth: AuthConfig }
  | { name: string, kind: 'learning-manager', auth: AuthConfig }

/** Where a source's Adobe I/O Events journal is read (the registration's `rel:events` link). */
export interface JournalConfig {
  url: string
  imsOrgId: string
  /** Where reading begins when no position is stored yet. */
  start: 'latest' | 'oldest'
}

export interface DestinationConfig {
  name: string
  url: string
  secret: string
  timeoutMs?: number
  match?: { source?: string[], status?: string[], type?: string[] }
}

export interface OutputsConfig {
  dir: string
  allowHosts: string[]
  allowHttp: boolean
  maxBytes: number
  timeoutMs: number
}

export interface OAuthConfig {
  tokenUrl: string
  clientId: string
  clientSecret: string
  scopes: string[]
}

export interface GatewayFileConfig {
  sources: SourceConfig[]
  destinations: DestinationConfig[]
  outputs: OutputsConfig
  oauth?: OAuthConfig
  validation: { allowHosts: string[], allowHttp: boolean }
}

export interface GatewayConfig extends GatewayFileConfig {
  port: number
  host: string
  adminPort: number
  redisUrl: string
  /** Redis Cluster seed nodes: when set, connections are cluster clients (REDIS_URL lends only credentials and TLS). */
  redisClusterNodes?: { host: string, port: number }[]
  queuePrefix: string
  publicKeyBaseUrl: string
  admin: { user?: string, password?: string, auth: 'on' | 'off' }
  logLevel: string
  bodyLimit: number
  ackTimeoutMs: number
  dedupWindowMs: number
  keyFetchTimeoutMs: number
  keyCacheTtlMs: number
  worker: {
    concurrency: number
    attempts: number
    backoffMs: number
    forwardTimeoutMs: number
    /** Lock lifetime of an active job; a crashed worker's jobs are recovered once it expires. */
    lockDurationMs: number
    /** How often stalled jobs (lock expired) are moved back to wait. */
    stalledIntervalMs: number
  }
  shutdownTimeoutMs: number
  /** Socket and request deadlines of both HTTP ports: slow or idle clients cannot hold a connection. */
  http: HttpTimeouts
}

export interface HttpTimeouts {
  /** Whole headers received within this (Node `headersTimeout`), else 408 and close. */
  headersTimeoutMs: number
  /** Whole request, headers and body, received within this (Node `requestTimeout`), else 408 and close. */
  requestTimeoutMs: number
  /** A socket without traffic for this long is destroyed (Node `server.timeout`). */
  connectionTimeoutMs: number
  /** Idle time allowed between requests on a kept-alive connection. */
  keepAliveTimeoutMs: number
}

/** Header names that carry a configured source's shared token or signature (redacted from logs). */
export function secretHeaders (config: Pick<GatewayFileConfig, 'sources'>): string[] {
  return config.sources.flatMap(s => s.kind !== 'adobe-io-events' && (s.auth.type === 'header' || s.auth.type === 'hmac') ? [s.auth.header] : [])
}

/** A configuration problem; the message is one line naming the setting. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

interface Env {
  PORT: number, HOST: string, ADMIN_PORT: number, REDIS_URL: string, REDIS_CLUSTER_NODES?: string, QUEUE_PREFIX: string
  GATEWAY_CONFIG?: string, ADOBE_PUBLIC_KEY_BASE_URL: string, ADOBE_CLIENT_ID?: string, ADOBE_CLIENT_SECRET?: string
  ADMIN_USER?: string, ADMIN_PASSWORD?: string, ADMIN_AUTH: 'on' | 'off', LOG_LEVEL: string, BODY_LIMIT: number
  ACK_TIMEOUT_MS: number, DEDUP_WINDOW_SECONDS: number, KEY_FETCH_TIMEOUT_MS: number, KEY_CACHE_TTL_SECONDS: number
  WORKER_CONCURRENCY: number, JOB_ATTEMPTS: number, JOB_BACKOFF_MS: number, FORWARD_TIMEOUT_MS: number, SHUTDOWN_TIMEOUT_MS: number
  WORKER_LOCK_DURATION_MS: number, WORKER_STALLED_INTERVAL_MS: number
  HEADERS_TIMEOUT_MS: number, REQUEST_TIMEOUT_MS: number, CONNECTION_TIMEOUT_MS: number, KEEP_ALIVE_TIMEOUT_MS: number
}

const DEFAULT_CONFIG_FILE = './gateway.config.json'

/**
 * Builds the validated configuration from the environment (and the config file
 * it names). Nothing below this module reads `process.env`.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): GatewayConfig {
  const e = readEnv(env)
  checkTimeouts(e)
  const redisClusterNodes = clusterNodes(e)
  const file = readConfigFile(e, env, cwd)
  return {
    ...file,
    port: e.PORT,
    host: e.HOST,
    adminPort: e.ADMIN_PORT,
    redisUrl: e.REDIS_URL,
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
      lockDurationMs: e.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: e.WORKER_STALLED_INTERVAL_MS
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    http: {
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      connectionTimeoutMs: e.CONNECTION_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS
    }
  }
}

function readEnv (env: NodeJS.ProcessEnv): Env {
  // Empty strings mean "unset" (docker compose passes `VAR=` for blank .env lines).
  const data = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''))
  try {
    return envSchema<Env>({ schema: loadSchema('env'), data, dotenv: false })
  } catch (err) {
    // env-schema reports e.g. "env/PORT must be <= 65535"; keep it one line.
    throw new ConfigError(String((err as Error).message).split('\n')[0]!.replace(/^env\//, ''))
  }
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

/** Validates (and fills defaults into) a config-file object. */
export function validateFileConfig (raw: unknown): GatewayFileConfig {
  const validate = validator<GatewayFileConfig>('config')
  if (!validate(raw)) throw new ConfigError(`GATEWAY_CONFIG: ${describeError(validate.errors)}`)
  const names = new Set<string>()
  for (const s of raw.sources) {
    if (names.has(s.name)) throw new ConfigError(`GATEWAY_CONFIG: /sources: source name "${s.name}" is used twice`)
    names.add(s.name)
    if (s.kind === 'adobe-io-events' && s.journal !== undefined && raw.oauth === undefined) {
      throw new ConfigError(`GATEWAY_CONFIG: /sources: source "${s.name}" reads a journal, which needs the top-level oauth block (client credentials)`)
    }
    if (s.kind !== 'adobe-io-events' && s.auth.type === 'hmac') {
      s.auth.algorithm ??= 'sha256'
      s.auth.encoding ??= 'base64'
      s.auth.prefix ??= ''
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
