import { startGateway } from '../gateway.ts'
import { runUntilSignalled } from '../lifecycle.ts'

/** `npm run gateway`: the public webhook port and the admin port. */
await runUntilSignalled('gateway', startGateway)
