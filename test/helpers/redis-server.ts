import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

type Tap = { teardown (fn: () => unknown): void }

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

/**
 * A private redis-server on a free port, for tests that must stop, kill or
 * fill Redis without touching the shared one. Stopped and its dir removed at teardown.
 */
export async function privateRedis (t: Tap, args: string[] = []) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'aeg-redis-'))
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, ...args], { stdio: 'ignore' })
    const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {}) // refused while the server starts: retried below
    for (let i = 0; i < 200; i++) {
      try {
        await probe.connect()
        await probe.ping()
        probe.disconnect()
        return
      } catch {
        probe.disconnect()
        await new Promise(resolve => setTimeout(resolve, 25))
      }
    }
    throw new Error(`redis-server on ${port} did not start`)
  }
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise(resolve => child!.once('exit', resolve))
    child.kill(signal)
    await exited
  }
  await start()
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { port, url: `redis://127.0.0.1:${port}`, dir, start, stop }
}
