import { hostname } from 'node:os'
import { Queue, Worker, type Job, type WorkerOptions } from 'bullmq'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../src/config.ts'
import type { Envelope } from '../src/ingest/envelope.ts'
import { JobStatusStore } from '../src/job-status.ts'
import { QUEUE, QUEUE_OPTIONS, type ForwardJob, type OutputsJob } from '../src/queues.ts'
import { ConnectionErrorLog } from '../src/connection-errors.ts'
import { closeRedis, createWorkerRedis, type RedisClient } from '../src/redis.ts'
import { activeTracing } from '../src/tracing.ts'
import { eventsHandler } from './handlers/events.ts'
import { forwardHandler } from './handlers/forward.ts'
import { Deliveries } from './delivery.ts'
import { outputsHandler } from './handlers/outputs.ts'
import { DestinationClient } from './destination-client.ts'
import { OAuthTokens } from './oauth-token.ts'
import { startJournalReaders } from './journal/index.ts'

export interface WorkerDeps {
  /** Connection to use (not closed by `close()`); one is created from `redisUrl` when omitted. */
  redis?: RedisClient
}

/**
 * A job whose lock ran out (its worker died) goes back to wait this many
 * times; once more and it is failed, so a job that kills its worker every time
 * cannot crash the fleet forever.
 */
const MAX_STALLED_COUNT = 2

/**
 * Starts one worker per queue (`events`, `forward`, `outputs`) in this
 * process. Any number of processes may run against one Redis: BullMQ hands
 * each job to one of them, and a job whose worker died is recovered by the
 * others' stalled checks once its lock expires. `close()` stops taking jobs
 * and waits for the ones in flight.
 */
export async function startWorkers (config: GatewayConfig, log: Logger, deps: WorkerDeps = {}): Promise<{ close(): Promise<void> }> {
  const ownsRedis = deps.redis === undefined
  const redis = deps.redis ?? createWorkerRedis(config)
  const connectionErrors = new ConnectionErrorLog(log)
  // The workers' blocking connections reconnect with it; their `ready` is not observable.
  connectionErrors.watchRedis('redis', redis, Object.values(QUEUE).map(name => `worker:${name}`))
  const prefix = config.queuePrefix

  const store = new JobStatusStore(redis, prefix)
  // Tracing on: the fan-out jobs carry the event's trace context, and each job runs in a span continuing it.
  const telemetry = activeTracing()?.telemetry
  const forwardQueue = new Queue<ForwardJob>(QUEUE.forward, { ...QUEUE_OPTIONS, connection: redis, prefix, telemetry })
  const outputsQueue = new Queue<OutputsJob>(QUEUE.outputs, { ...QUEUE_OPTIONS, connection: redis, prefix, telemetry })
  // Without a listener BullMQ prints each connection error's stack to the console, outside the JSON log.
  // The queues share `redis` and re-emit its errors: one component, so an outage is one line.
  connectionErrors.watch('redis', forwardQueue)
  connectionErrors.watch('redis', outputsQueue)
  const destinations = new DestinationClient()
  const deliveries = new Deliveries({ config, redis, log, doneTtlSeconds: Math.ceil(config.dedupWindowMs / 1000), client: destinations })
  const tokens = config.oauth === undefined ? undefined : new OAuthTokens(config.oauth, { timeoutMs: config.outputs.timeoutMs })

  const options: WorkerOptions = {
    connection: redis,
    prefix,
    name: `${hostname()}:${process.pid}`,
    concurrency: config.worker.concurrency,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: MAX_STALLED_COUNT,
    telemetry
  }
  const workers = [
    new Worker<Envelope>(QUEUE.events, eventsHandler({ config, store, forwardQueue, outputsQueue, deliveries, log }), options),
    new Worker<ForwardJob>(QUEUE.forward, forwardHandler(deliveries), options),
    new Worker<OutputsJob>(QUEUE.outputs, outputsHandler({ outputs: config.outputs, store, tokens, log }), options)
  ]
  for (const worker of workers) {
    const queue = worker.name
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (job === undefined) return
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError'
      log[final ? 'error' : 'warn']({ queue, jobId: job.id, attempt: job.attemptsMade, final, reason: err.message }, final ? 'job failed (dead letter)' : 'job attempt failed')
    })
    worker.on('stalled', (jobId: string) => log.warn({ queue, jobId }, 'stalled job moved back to wait'))
    connectionErrors.watch(`worker:${queue}`, worker)
  }
  await Promise.all(workers.map(w => w.waitUntilReady()))
  const journals = startJournalReaders(config, redis, log)
  log.info({ prefix, concurrency: config.worker.concurrency, queues: workers.map(w => w.name) }, 'workers started')

  let closing: Promise<void> | undefined
  return {
    close () {
      closing ??= (async () => {
        await journals.close()
        // Not forced: each worker finishes its in-flight jobs before it resolves.
        await Promise.all(workers.map(w => w.close()))
        await Promise.all([forwardQueue.close(), outputsQueue.close()])
        await destinations.close()
        if (ownsRedis) await closeRedis(redis)
        connectionErrors.close()
        log.info('workers stopped')
      })()
      return closing
    }
  }
}
