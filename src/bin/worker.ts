import { enableCompileCache } from 'node:module'

// V8 keeps the compiled modules on disk (NODE_COMPILE_CACHE, else the temp
// directory): a restart loads them with about a third less CPU. It applies to
// modules loaded after this call, hence the dynamic imports below.
enableCompileCache()
const { runUntilSignalled } = await import('../lifecycle.ts')
const { startWorkers } = await import('../../workers/start.ts')

/** `npm run worker`: one worker per queue; run as many processes as the load needs. */
await runUntilSignalled('worker', startWorkers)
