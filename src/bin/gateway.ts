import { enableCompileCache } from 'node:module'

// V8 keeps the compiled modules on disk (NODE_COMPILE_CACHE, else the temp
// directory): a restart loads them with about a third less CPU. It applies to
// modules loaded after this call, hence the dynamic imports below.
enableCompileCache()
const { startGateway } = await import('../gateway.ts')
const { runUntilSignalled } = await import('../lifecycle.ts')

/** `npm run gateway`: the public webhook port and the admin port. */
await runUntilSignalled('gateway', startGateway)
