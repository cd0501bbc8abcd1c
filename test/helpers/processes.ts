import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'
import { REDIS_URL } from './redis.ts'
import { within } from './wait.ts'

/** The repository root (the cwd of spawned roles). */
export const ROOT = join(import.meta.dirname, '..', '..')
/** The admin credentials the process tests set. */
export const ADMIN = { user: 'ops', password: 'admin-password-1' }
export const basic = (user = ADMIN.user, password = ADMIN.password) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** A gateway or worker process started from its production entry point, logging JSON to stdout. */
export interface RoleProcess {
  child: ChildProcess
  lines: Record<string, unknown>[]
  /** Resolves with the first log line that `match` accepts (past or future); fails if the process exits first. */
  waitForLog (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  /** Sends `signal` and resolves with the exit code. */
  stop (signal?: NodeJS.Signals): Promise<number | null>
  exited: Promise<number | null>
  stderr: () => string
}

/** Spawns `node <entry>` like `npm run gateway|worker` does; killed at teardown if still running. */
export function spawnRole (t: Test, entry: string, env: Record<string, string>): RoleProcess {
  const child = spawn(process.execPath, [entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: Record<string, unknown>[] = []
  const watchers = new Set<(line: Record<string, unknown>) => void>()
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>
    try {
      line = JSON.parse(text) as Record<string, unknown>
    } catch {
      line = { msg: text }
    }
    lines.push(line)
    for (const watch of watchers) watch(line)
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    async waitForLog (match, timeoutMs = 20_000) {
      const seen = lines.find(match)
      if (seen !== undefined) return seen
      let watch: ((line: Record<string, unknown>) => void) | undefined
      const found = new Promise<Record<string, unknown>>((resolve, reject) => {
        watch = (line) => { if (match(line)) resolve(line) }
        watchers.add(watch)
        void exited.then(code => reject(new Error(`${entry} exited with ${code}: ${stderr}`)))
      })
      try {
        return await within(found, timeoutMs, `${entry}: no such log line`)
      } finally {
        watchers.delete(watch!)
      }
    },
    async stop (signal = 'SIGTERM') {
      child.kill(signal)
      return await exited
    }
  }
}

/** The port a role process listens on, read from Fastify's "Server listening at" line. */
export async function listeningPort (role: RoleProcess, which: 'gateway' | 'admin'): Promise<number> {
  const line = await role.waitForLog(l => typeof l.msg === 'string' && l.msg.startsWith('Server listening at http://127.0.0.1:') &&
    (which === 'admin' ? l.port === 'admin' : l.port === undefined))
  return Number(/:(\d+)$/.exec(line.msg as string)![1])
}

/** The worker role's ready line, known by its fields (the queues it consumes), not its wording. */
export const workersReady = (line: Record<string, unknown>): boolean => Array.isArray(line.queues) && line.concurrency !== undefined

/** What every role process of a test gets: the test Redis, loopback, free ports, its prefix, its config file and key server. */
export function roleEnv (opts: { prefix: string, configFile?: string, keysUrl: string }): Record<string, string> {
  return {
    REDIS_URL,
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    QUEUE_PREFIX: opts.prefix,
    ...(opts.configFile !== undefined && { GATEWAY_CONFIG: opts.configFile }),
    ADOBE_PUBLIC_KEY_BASE_URL: opts.keysUrl
  }
}
