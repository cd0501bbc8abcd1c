import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import t from 'tap'
import { loggerOptions } from '../src/logger.ts'
import { REDIS_URL } from './helpers/index.ts'

function capture () {
  let text = ''
  const log = pino(loggerOptions('info'), new Writable({ write (chunk, _enc, cb) { text += chunk.toString(); cb() } }))
  return { log, text: () => text }
}

t.test('a Redis reply error is logged with its command name, never its arguments', async t => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  const payload = 'https://bucket.s3.amazonaws.com/out.pdf?X-Amz-Signature=very-secret'
  // A real transaction refused by Redis, as an enqueue is under OOM: EXECABORT with the queued command's error.
  const err = await redis.multi().set('aeg-logger-test', payload).hset('aeg-logger-test-wrong-arity', 'f').exec().then(() => undefined, (e: Error) => e)
  t.ok(err, 'the transaction was refused')
  const { log, text } = capture()
  log.warn({ err }, 'enqueue refused')
  const line = JSON.parse(text()) as { err: { message: string, command: unknown, previousErrors: { message: string, command: unknown }[] } }
  t.match(line.err.message, /EXECABORT/)
  t.equal(line.err.command, 'exec')
  t.match(line.err.previousErrors, [{ command: 'hset', message: /wrong number of arguments/ }])
  t.notOk(text().includes('X-Amz-Signature'), 'the command arguments are not in the line')
})

t.test('a reply error of a single command keeps its name only', async t => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  const err = await redis.hset('secret-arg-value').then(() => undefined, (e: Error) => e)
  const { log, text } = capture()
  log.error({ err }, 'failed')
  t.match(JSON.parse(text()), { err: { command: 'hset' } })
  t.notOk(text().includes('secret-arg-value'))
})
