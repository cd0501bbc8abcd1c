import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { uniquePrefix, wipe } from './helpers/index.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

t.test('a process logs each configuration warning at boot, as JSON naming the source', async t => {
  const prefix = uniquePrefix()
  t.teardown(() => wipe(prefix))
  // Without a config file the gateway serves source "adobe"; without ADOBE_CLIENT_ID it has no clientId.
  const child = spawn(process.execPath, ['src/bin/gateway.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', QUEUE_PREFIX: prefix, GATEWAY_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit')
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  const warned = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>
        buffered = buffered.slice(nl + 1)
        lines.push(line)
        if (line.level === 40 && line.source === 'adobe') resolve(line)
      }
    })
    child.once('exit', code => reject(new Error(`gateway exited (${code}) before warning: ${JSON.stringify(lines)}`)))
  })
  const warning = await warned
  t.match(warning.msg, /recipient check off/)
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0)
})
