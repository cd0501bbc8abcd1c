import { ConfigError, loadConfig } from '../src/config.ts'
import { closeRedis, createWorkerRedis } from '../src/redis.ts'
import { JournalPositions, journalSources, type JournalReset } from '../src/journal-state.ts'

const USAGE = `usage:
  npm run journal -- status
  npm run journal -- reset <source> latest        read from now on
  npm run journal -- reset <source> oldest        read every event the journal still keeps (up to 7 days)
  npm run journal -- reset <source> seek -PT2H    read from a point in time (ISO 8601 duration back from now, Adobe's seek parameter)

Uses the same environment as the gateway and workers (REDIS_URL, QUEUE_PREFIX, GATEWAY_CONFIG).
A running reader picks a reset up at its next request.`

/** An ISO 8601 duration back in time, as Adobe's `seek` takes it: -PT2H, -P1D, -P5DT2H. */
const SEEK = /^-P(?=\d|T\d)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/

function fail (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

/** `npm run journal`: shows or resets the stored journal positions. */
async function main (args: string[]): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`)
    throw err
  }
  const sources = journalSources(config).map(s => s.name)
  const [command, source, mode, duration] = args
  let reset: JournalReset | undefined
  if (command === 'reset') {
    if (source === undefined || !sources.includes(source)) fail(`${source === undefined ? 'no source given' : `source "${source}" reads no journal`}; journal sources: ${sources.join(', ') || '(none)'}\n\n${USAGE}`)
    if (mode === 'latest' || mode === 'oldest') reset = mode
    else if (mode === 'seek' && duration !== undefined && SEEK.test(duration)) reset = `seek:${duration}`
    else fail(`reset needs latest, oldest or seek <-PT2H-like duration>\n\n${USAGE}`)
  } else if (command !== 'status') {
    fail(USAGE)
  }

  const redis = createWorkerRedis(config, { connectionName: 'aeg-journal-cli', maxRetriesPerRequest: 1 })
  try {
    const positions = new JournalPositions(redis, config.queuePrefix)
    if (reset !== undefined) {
      await positions.reset(source!, reset)
      process.stdout.write(`${source}: reset to ${reset}; the reader applies it at its next request\n`)
    }
    const status = Object.fromEntries(await Promise.all(sources.map(async name => [name, await positions.status(name)] as const)))
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
  } finally {
    await closeRedis(redis)
  }
}

await main(process.argv.slice(2))
