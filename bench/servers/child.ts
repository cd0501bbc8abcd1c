import type { AddressInfo } from 'node:net'

/**
 * Child-process side of the bench: every server under test runs in its own
 * process (so the load generator never shares its event loop), listens on
 * 127.0.0.1:0, reports its port over IPC, and closes on SIGTERM.
 */
export async function serveForBench (server: { listen (opts: { port: number, host: string }): Promise<unknown>, server: { address (): unknown }, close (): Promise<unknown> }, also: { close (): Promise<unknown> }[] = []): Promise<void> {
  await server.listen({ port: 0, host: '127.0.0.1' })
  const { port } = server.server.address() as AddressInfo
  let closing = false
  const stop = async () => {
    if (closing) return
    closing = true
    await server.close()
    for (const c of also) await c.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
  process.send?.({ ready: true, port })
}

/** For children without an HTTP port (workers). */
export function readyForBench (running: { close (): Promise<unknown> }): void {
  let closing = false
  const stop = async () => {
    if (closing) return
    closing = true
    await running.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
  process.send?.({ ready: true })
}
