import { runUntilSignalled } from '../lifecycle.ts'
import { startWorkers } from '../../workers/start.ts'

/** `npm run worker`: one worker per queue; run as many processes as the load needs. */
await runUntilSignalled('worker', startWorkers)
