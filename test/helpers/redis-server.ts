import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Test } from 'tap'

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
export async function privateRedis (t: Test, args: string[] = []) {
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

/**
 * A private Redis Cluster of `size` masters (no replicas) on free ports, each
 * node a redis-server of its own, slots assigned with `redis-cli --cluster
 * create`. Resolves once every node reports cluster_state:ok. Stopped and its
 * dir removed at teardown.
 */
export async function privateRedisCluster (t: Test, size = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'aeg-cluster-'))
  const ports: number[] = []
  const busPorts: number[] = []
  // The bus port is given too: the default (port + 10000) can be past 65535 for an ephemeral port.
  for (let i = 0; i < size; i++) {
    ports.push(await freePort())
    busPorts.push(await freePort())
  }
  const children = ports.map((port, i) => spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-port', String(busPorts[i])
  ], { stdio: 'ignore' }))
  const probes = ports.map(port => {
    const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {}) // refused while the server starts: retried below
    return probe
  })
  const stop = async () => {
    for (const p of probes) p.disconnect()
    await Promise.all(children.map(async child => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }))
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)

  /** Polls `check` every 25 ms until it holds, for at most `ms`. */
  const until = async (what: string, ms: number, check: () => Promise<boolean>) => {
    const deadline = Date.now() + ms
    while (!await check().catch(() => false)) {
      if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${ms} ms`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  }
  await until('nodes did not start', 5000, async () => {
    for (const p of probes) {
      if (p.status !== 'ready') {
        p.disconnect()
        await p.connect()
      }
      await p.ping()
    }
    return true
  })
  const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  create.stdout!.on('data', (c: Buffer) => { output += c.toString() })
  create.stderr!.on('data', (c: Buffer) => { output += c.toString() })
  const code = await new Promise<number | null>(resolve => create.once('exit', resolve))
  if (code !== 0) throw new Error(`redis-cli --cluster create exited ${code}: ${output.slice(-500)}`)
  await until('cluster_state did not become ok', 10_000, async () => {
    const infos = await Promise.all(probes.map(p => p.cluster('INFO') as Promise<string>))
    return infos.every(info => info.includes('cluster_state:ok'))
  })
  return {
    ports,
    /** `REDIS_CLUSTER_NODES` for this cluster. */
    nodes: ports.map(p => `127.0.0.1:${p}`).join(','),
    /** A plain connection to each node (for per-node inspection). */
    probes,
    stop
  }
}
