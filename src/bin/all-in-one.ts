import { enableCompileCache } from 'node:module'

// V8 keeps the compiled modules on disk (NODE_COMPILE_CACHE, else the temp
// directory): a restart loads them with about a third less CPU. It applies to
// modules loaded after this call, hence the dynamic imports below.
enableCompileCache()
const { logBullBoard, startGateway } = await import('../gateway.ts')
const { runUntilSignalled } = await import('../lifecycle.ts')
const { startWorkers } = await import('../../workers/start.ts')

/**
 * `npm start`: the whole product on one machine — the gateway and one worker
 * in one process against REDIS_URL. In production run the roles separately
 * (`npm run gateway`, `npm run worker` × N) or with docker compose.
 */
await runUntilSignalled('aeg', async (config, log) => {
  const gateway = await startGateway(config, log.child({ part: 'gateway' }))
  const workers = await startWorkers(config, log.child({ part: 'worker' }))
  logBullBoard(config, gateway, log)
  return {
    async close () {
      // Stop taking webhooks first, then let the worker finish what is in flight.
      await gateway.close()
      await workers.close()
    }
  }
})
