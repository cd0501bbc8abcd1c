import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fixture } from '../helpers/fixtures.ts'
import { eventually } from '../helpers/index.ts'

type Tap = { teardown (fn: () => unknown): void }

export const ROOT = join(import.meta.dirname, '..', '..')
export const ADMIN = { user: 'ops', password: 'admin-password-1' }
export const basic = (user = ADMIN.user, password = ADMIN.password) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** A Lightroom job-status event (the seed fixture) with its own event id, as the raw body Adobe signs. */
export function lightroomBody (eventId: string, jobId = `job-${eventId}`): string {
  const event = fixture('adobe-io-events/lightroom-job-status.json')
  event.event_id = eventId
  event.event.body.jobId = jobId
  return JSON.stringify(event)
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

/** A gateway or worker process started from its production entry point, logging JSON to stdout. */
export interface RoleProcess {
  child: ChildProcess
  lines: Record<string, unknown>[]
  /** Resolves with the first log line that `match` accepts. */
  waitForLog (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  /** Sends `signal` and resolves with the exit code. */
  stop (signal?: NodeJS.Signals): Promise<number | null>
  exited: Promise<number | null>
  stderr: () => string
}

/** Spawns `node --import tsx <entry>` like `npm run gateway|worker` does; killed at teardown if still running. */
export function spawnRole (t: Tap, entry: string, env: Record<string, string>): RoleProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: Record<string, unknown>[] = []
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      lines.push({ msg: line })
    }
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
      return (await eventually(() => {
        if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}: ${stderr}`)
        return lines.find(match)
      }, timeoutMs))!
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
