import { stdSerializers, type DestinationStream, type LoggerOptions } from 'pino'
import pretty from 'pino-pretty'

/**
 * Header and config paths that carry secrets. Pino replaces them before a line
 * is written, so a signature, token or password never reaches the log.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-adobe-signature"]',
  'req.headers["x-adobe-digital-signature-1"]',
  'req.headers["x-adobe-digital-signature-2"]',
  'req.headers["x-api-key"]',
  'req.headers["x-callback-token"]',
  'req.headers["access-token"]',
  'headers.authorization',
  'headers["x-adobe-signature"]',
  'headers["x-adobe-digital-signature-1"]',
  'headers["x-adobe-digital-signature-2"]',
  '*.clientSecret',
  '*.secret',
  '*.password',
  '*.token',
  '*.access_token',
  'config'
]

export function loggerOptions (level: string, extraRedact: string[] = []): LoggerOptions {
  return {
    level,
    redact: { paths: [...REDACT_PATHS, ...extraRedact.map(h => `req.headers["${h.toLowerCase()}"]`)], censor: '[redacted]' },
    // Request logs keep method, url (query strings of webhooks carry no secrets) and id only.
    serializers: {
      req: (req: { method: string, url: string, id: string, headers: Record<string, unknown> }) => ({
        method: req.method, url: req.url, reqId: req.id, contentType: req.headers['content-type'], contentLength: req.headers['content-length']
      }),
      err: errorWithoutCommandArgs
    }
  }
}

/**
 * Where a process's log lines go. On a terminal (`npm start` in a shell):
 * pino-pretty, one readable line per entry, written synchronously so the last
 * lines before an exit are not lost. Anywhere else (containers, CI, a pipe,
 * a log shipper): undefined, i.e. pino's default JSON lines on stdout.
 */
export function logDestination (stdout: { isTTY?: boolean } = process.stdout): DestinationStream | undefined {
  if (stdout.isTTY !== true) return undefined
  return pretty({
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,role,part',
    // "[gateway] …" / "[aeg/worker] …": which role (and part of the all-in-one) spoke.
    messageFormat: (line, messageKey) => {
      const speaker = [line.role, line.part].filter(p => typeof p === 'string').join('/')
      return `${speaker === '' ? '' : `[${speaker}] `}${String(line[messageKey] ?? '')}`
    }
  })
}

type RedisCommand = { name?: unknown, args?: unknown }

/**
 * Pino's error serializer, minus what ioredis hangs on a Redis reply error:
 * `command.args` and `previousErrors[].command.args` are the full arguments
 * of the failed command, i.e. whole queued envelopes (pre-signed output URLs
 * included) on an enqueue refused with OOM or EXECABORT. The command name
 * stays; its arguments never reach the log.
 */
export function errorWithoutCommandArgs (err: Error): Record<string, unknown> {
  const serialized = stdSerializers.err(err) as unknown as Record<string, unknown>
  const commandName = (command: unknown) => (command as RedisCommand | undefined)?.name
  if (serialized.command !== undefined) serialized.command = commandName(serialized.command)
  if (Array.isArray(serialized.previousErrors)) {
    serialized.previousErrors = (serialized.previousErrors as { message?: unknown, command?: unknown }[])
      .map(e => ({ message: e?.message, command: commandName(e?.command) }))
  }
  return serialized
}
