import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import type { Test } from 'tap'
import { buildApp, type AppDeps } from '../../src/app.ts'
import { loadConfig, validateFileConfig, type GatewayConfig, type GatewayFileConfig, type SourceConfig } from '../../src/config.ts'
import { loggerOptions } from '../../src/logger.ts'
import { closeRedis, createEdgeRedis, type RedisClient } from '../../src/redis.ts'
import { REDIS_URL } from './redis.ts'

/** Every property optional, at every depth (arrays of deep-partial items). */
export type DeepPartial<T> = T extends (infer U)[]
  ? DeepPartial<U>[]
  : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T

/**
 * A config file as a test writes it: what the schema fills in by default may
 * be left out. `validateFileConfig` checks it, so a wrong one fails the test.
 */
export type TestFileConfig = DeepPartial<GatewayFileConfig> & { sources: DeepPartial<SourceConfig>[] }

/** A full config from the environment defaults plus a config-file object. */
export function testConfig (file: TestFileConfig, env: Record<string, string> = {}): GatewayConfig {
  const base = loadConfig({ REDIS_URL, LOG_LEVEL: 'silent', ...env }, '/nonexistent')
  return { ...base, ...validateFileConfig(structuredClone(file)) }
}

/** A ready app (inject-able), closed at teardown. */
export async function buildTestApp (t: Test, config: GatewayConfig, deps: AppDeps = {}, configure?: (app: FastifyInstance) => void) {
  const app = await buildApp(config, { logger: pino({ level: 'silent' }), ...deps })
  t.teardown(() => app.close())
  configure?.(app)
  await app.ready()
  return app
}

/** The edge's kind of Redis connection (fail-fast), up before it is returned and closed at teardown. */
export async function edgeRedis (t: Test, config: GatewayConfig): Promise<RedisClient> {
  const redis = createEdgeRedis(config)
  t.teardown(() => closeRedis(redis))
  if (redis.status !== 'ready') await once(redis, 'ready')
  return redis
}

/** Log lines captured as parsed objects, plus the raw text (for secret scans). */
export interface CapturedLog {
  logger: Logger
  lines: Record<string, unknown>[]
  text: () => string
}

/** A logger with the product's options whose output the test reads. */
export function captureLog (level = 'debug', extraRedact: string[] = []): CapturedLog {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk, _enc, cb) { raw.push(chunk.toString()); cb() }
  })
  const logger = pino(loggerOptions(level, extraRedact), stream)
  return {
    logger,
    get lines () { return raw.join('').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>) },
    text: () => raw.join('')
  }
}

/**
 * The value of one sample in Prometheus text exposition: `name{labels} value`,
 * labels matched as a subset. Undefined when no such sample is exposed.
 */
export function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(l => [l[1], l[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return undefined
}

/** A temporary directory, removed at teardown. */
export async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aeg-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}
