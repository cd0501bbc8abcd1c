/**
 * Preloaded into a worker process (`NODE_OPTIONS=--import=…`) by
 * processes.test.ts: the process SIGKILLs itself at the first position write
 * of a page that queued events, i.e. after the page's events are durably
 * queued and before its position is stored, the window at-least-once covers.
 */
import { JournalPositions } from '../../../src/journal-state.ts'

const commit = JournalPositions.prototype.commit
JournalPositions.prototype.commit = async function (this: JournalPositions, ...args: Parameters<typeof commit>) {
  if ((args[3].incr?.queued ?? 0) > 0) process.kill(process.pid, 'SIGKILL')
  return await commit.apply(this, args)
}
