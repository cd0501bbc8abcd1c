import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import t from 'tap'
import { logDestination, loggerOptions } from '../src/logger.ts'
import { REDIS_URL } from './helpers/index.ts'

const ROOT = join(import.meta.dirname, '..')

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

// The same program, as the entry points create their logger, run with stdout a pipe or a pseudo-terminal.
const loggingProgram = [process.execPath, '--input-type=module', '-e', [
  'import { pino } from "pino"',
  'import { logDestination, loggerOptions } from "./src/logger.ts"',
  'pino(loggerOptions("info"), logDestination()).child({ role: "gateway" }).info({ port: 3000 }, "hello")'
].join(';')]
const exec = promisify(execFile)
const childEnv = { PATH: process.env.PATH ?? '', TERM: 'dumb' }

t.test('off a terminal (containers, CI, pipes) every log line is JSON', async t => {
  t.equal(logDestination({ isTTY: false }), undefined, 'no stream: pino writes JSON lines to stdout')
  t.equal(logDestination({}), undefined, 'stdout with no isTTY (a pipe, a file) is not a terminal')
  const piped = await exec(loggingProgram[0]!, loggingProgram.slice(1), { cwd: ROOT, env: childEnv })
  t.match(JSON.parse(piped.stdout), { level: 30, role: 'gateway', port: 3000, msg: 'hello' }, 'a pipe gets one JSON line')
})

const hasScript = await exec('script', ['--version']).then(() => true, () => false)
t.test('on a terminal the lines are readable (pino-pretty)', { skip: hasScript ? false : 'script(1) is not installed: no pseudo-terminal' }, async t => {
  const command = loggingProgram.map(arg => `'${arg.replaceAll("'", "'\\''")}'`).join(' ')
  const tty = await exec('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: childEnv })
  const lines = tty.stdout.split(/\r?\n/).filter(l => l !== '')
  t.match(lines[0], /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[gateway\] hello$/, 'time, level, role and message on one line')
  t.match(lines[1], /^\s+port: 3000$/, 'then the fields, one per line')
  t.notOk(lines.some(l => l.startsWith('{')), 'no JSON')
})
