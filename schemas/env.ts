import Type, { type Static, type TSchema } from 'typebox'

/*
 * Every environment variable the gateway and the workers read, in one place:
 * its type, range, default and the description that docs/configuration.md and
 * .env.example are generated from (`npm run gen:config`). A variable without a
 * default is unset unless given; an empty value counts as unset.
 */

const Port = (fallback: number, description: string) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback, description })

/** A section of the generated docs and `.env.example`. */
export interface EnvSection {
  title: string
  /** Printed under the section title. */
  note?: string
  vars: Record<string, TSchema>
}

const network = {
  PORT: Port(3000, 'Public webhook port. Put a TLS-terminating proxy in front: Adobe requires HTTPS.'),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Bind address of both ports.' }),
  ADMIN_PORT: Port(3001, 'Admin port: Bull Board at /admin/queues, Prometheus /metrics, /healthz, /readyz. Keep it off the internet.')
}

const admin = {
  ADMIN_USER: Type.Optional(Type.String({ minLength: 1, description: 'User name of the HTTP basic auth that guards /metrics and Bull Board (probes stay open). Set together with ADMIN_PASSWORD; without both, the admin port is not opened (a warning says why) unless ADMIN_AUTH=off.' })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8, description: 'Password of that basic auth, at least 8 characters; use a long random one (e.g. `openssl rand -base64 24`). Bull Board can retry and delete jobs, so there is no default.', writeOnly: true })),
  ADMIN_AUTH: Type.Enum(['on', 'off'], { default: 'on', description: '`off` serves the admin port without authentication: only behind a network boundary you trust.' })
}

const queue = {
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'Redis holding the queues, the dedup keys and job statuses (`rediss://` for TLS). Run it with AOF and `maxmemory-policy noeviction`. docker compose overrides it with its redis service.' }),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^\\s*[^\\s,:]+:[0-9]{1,5}\\s*(,\\s*[^\\s,:]+:[0-9]{1,5}\\s*)*$', examples: ['redis-1:6379,redis-2:6379,redis-3:6379'], description: 'Redis Cluster instead of one Redis: comma-separated `host:port` seed nodes. Every process then connects with a cluster client, REDIS_URL only lends its user, password and TLS (`rediss://`), and QUEUE_PREFIX must carry a {hash tag}.' })),
  QUEUE_PREFIX: Type.String({ pattern: '^[^:\\s]+$', default: '{aeg}', description: 'Key prefix of the queues in Redis; no `:` or spaces. Keep the {braces}: the hash tag puts every key of a queue in one Redis Cluster slot. Give each gateway sharing one Redis its own prefix.' })
}

const sources = {
  GATEWAY_CONFIG: Type.Optional(Type.String({ minLength: 1, description: 'Path of the JSON config file (sources, destinations, outputs, oauth, validation; see docs/configuration.md). `${NAME}` inside it is replaced by the environment variable NAME. Unset: ./gateway.config.json if present, else one source `adobe` built from ADOBE_CLIENT_ID and ADOBE_CLIENT_SECRET. In docker compose, put the file in ./config and set `./config/gateway.config.json`.' })),
  ADOBE_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, description: 'Without a config file: client id of the default `adobe` source (kind adobe-io-events); events whose recipient_client_id differs are refused with 403. Unset: the recipient is not checked.' })),
  ADOBE_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'Without a config file: client secret of the default `adobe` source; enables the legacy x-adobe-signature HMAC as a second accepted proof. Digital signatures are always checked.', writeOnly: true })),
  ADOBE_PUBLIC_KEY_BASE_URL: Type.String({ pattern: '^https?://[^/?#]+$', default: 'https://static.adobeioevents.com', description: 'Origin the Adobe I/O Events digital-signature public keys are fetched from (no path).' }),
  KEY_FETCH_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 9000, default: 3000, description: 'Deadline of one public key fetch (ms); past it the request is answered 503 and Adobe retries.' }),
  KEY_CACHE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 86400, description: 'How long a fetched public key is cached (seconds, at most 24 h).' })
}

const edge = {
  BODY_LIMIT: Type.Integer({ minimum: 1024, maximum: 104857600, default: 2621440, description: 'Largest accepted request body (bytes); larger is refused with 413. Adobe batches are at most 2 MB.' }),
  ACK_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 9000, default: 2500, description: 'Longest wait for Redis to confirm an enqueue before answering 503 (Adobe gives up after 10 s and retries).' }),
  DEDUP_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 2592000, default: 86400, description: 'How long an accepted event id suppresses redeliveries of the same event (seconds, at most 30 days). With a journal reader, set it to the journal retention (604800).' })
}

const workers = {
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1000, default: 64, description: 'Jobs processed at once per queue per worker process.' }),
  JOB_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Attempts per job before it is failed (kept as a dead letter, retryable from Bull Board).' }),
  JOB_BACKOFF_MS: Type.Integer({ minimum: 1, maximum: 3600000, default: 2000, description: 'First retry delay (ms); exponential with jitter after that.' }),
  FORWARD_INLINE: Type.Enum(['on', 'off'], { default: 'on', description: 'With one matching destination, the events job makes the first forward attempt itself (one job per event); a forward job takes over when it fails, and takes that destination\'s events for 30 s after a failed or slow (> 1 s) attempt. `off`: every delivery is a forward job of its own (each visible in Bull Board).' }),
  FORWARD_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 10000, description: 'Deadline of one forward POST to a destination (ms), unless the destination sets its own timeoutMs.' }),
  WORKER_LOCK_DURATION_MS: Type.Integer({ minimum: 500, maximum: 600000, default: 30000, description: 'How long a worker\'s lock on an active job lives without renewal (ms); the jobs of a crashed worker are recovered after it expires.' }),
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 30000, description: 'How often workers look for stalled jobs (lock expired) and move them back to wait (ms).' })
}

const processSection = {
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info', description: 'Log level (pino). Secrets, signatures and tokens are never logged.' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 10000, description: 'Graceful shutdown budget on SIGTERM/SIGINT (ms): stop accepting, finish in-flight requests and jobs, close Redis; past it the process exits 1. Keep it below the orchestrator\'s grace period (docker compose: 15 s).' })
}

const http = {
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60000, default: 4000, description: 'Longest a client may take to send the request headers (from connection or from the start of a kept-alive request), then 408 and close. At most REQUEST_TIMEOUT_MS.' }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 120000, default: 6000, description: 'Longest a client may take to send a whole request, headers and body (a 2 MB batch then needs 350 KB/s), then 408 and close.' }),
  CONNECTION_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 20000, description: 'A socket with no traffic either way for this long (ms) is destroyed. Must exceed KEY_FETCH_TIMEOUT_MS + ACK_TIMEOUT_MS.' }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 72000, description: 'How long an idle kept-alive connection stays open between requests (ms); above common load balancers\' 60 s idle timeout, so they close first.' })
}

/** The variables by section, in the order the docs and `.env.example` list them. */
export const ENV_SECTIONS: EnvSection[] = [
  { title: 'Network', vars: network },
  { title: 'Admin port authentication', vars: admin },
  { title: 'Queue backend', vars: queue },
  { title: 'Sources', vars: sources },
  { title: 'Edge', vars: edge },
  { title: 'Workers', vars: workers },
  { title: 'Process', vars: processSection },
  { title: 'HTTP deadlines', note: 'Deadlines of both ports: slow or idle clients cannot hold sockets.', vars: http }
]

/** The gateway's environment, validated and with defaults filled in by `loadConfig`. */
export const EnvSchema = Type.Object({ ...network, ...admin, ...queue, ...sources, ...edge, ...workers, ...processSection, ...http }, {
  title: 'Gateway environment',
  description: 'Environment variables of the gateway and the workers. An empty value counts as unset.',
  dependencies: { ADMIN_USER: ['ADMIN_PASSWORD'], ADMIN_PASSWORD: ['ADMIN_USER'] }
})

export type Env = Static<typeof EnvSchema>
