import { startGateway } from '../gateway.ts'
import { runUntilSignalled } from '../lifecycle.ts'
import { startWorkers } from '../../workers/start.ts'

/**
 * `npm start`: the whole product on one machine — the gateway and one worker
 * in one process against REDIS_URL. In production run the roles separately
 * (`npm run gateway`, `npm run worker` × N) or with docker compose.
 */
await runUntilSignalled('aeg', async (config, log) => {
  const gateway = await startGateway(config, log.child({ part: 'gateway' }))
  const workers = await startWorkers(config, log.child({ part: 'worker' }))
  return {
    async close () {
      // Stop taking webhooks first, then let the worker finish what is in flight.
      await gateway.close()
      await workers.close()
    }
  }
})
