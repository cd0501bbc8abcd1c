import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The packages a module's import graph loaded (CommonJS ones, as Fastify and Bull Board are). */
async function loadedPackages (module: string): Promise<string[]> {
  const probe = `await import(${JSON.stringify(module)})
const cache = (await import('node:module')).createRequire(import.meta.url).cache
const names = new Set(Object.keys(cache).map(p => p.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)/)?.[1]).filter(Boolean))
console.log(JSON.stringify([...names]))`
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe], { cwd: ROOT })
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[]
}

t.test('the worker role loads nothing of the HTTP apps (no Fastify, no Bull Board)', async t => {
  const worker = await loadedPackages('./workers/start.ts')
  t.ok(worker.includes('bullmq'), 'the probe sees CommonJS packages (bullmq is loaded)')
  t.same(worker.filter(p => p === 'fastify' || p.startsWith('@bull-board/') || p.startsWith('@fastify/')), [], 'no HTTP app package')
  const gateway = await loadedPackages('./src/app.ts')
  t.ok(gateway.includes('fastify'), 'the same probe does see Fastify where it is used')
})
