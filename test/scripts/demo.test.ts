import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { REDIS_URL, eventually, keysUnder } from '../helpers/index.ts'

// `npm run demo -- --once` as a user runs it: a child process against the real
// Redis, judged only by its report, its exit code and the keys it leaves behind.

const root = fileURLToPath(new URL('../../', import.meta.url))

t.test('the demo acknowledges, forwards (signed) and records every seed event, reads the journal, and cleans up', async t => {
  const child = spawn(process.execPath, ['scripts/demo.ts', '--once'], {
    cwd: root,
    env: { ...process.env, REDIS_URL, LOG_LEVEL: 'warn', DEMO_ONCE: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]

  t.equal(code, 0, `exit code (stderr: ${stderr.slice(0, 2000)})`)
  t.match(stdout, /^Result: OK$/m)

  const prefix = /prefix (\{aeg-demo-[0-9a-f]+\}) \(deleted on exit\)/.exec(stdout)?.[1]
  t.ok(prefix, 'the report names its Redis prefix')

  // One row per event: label, acknowledged, forwarded, recorded.
  const table = stdout.split('\n').filter(line => /^ {2}\S/.test(line) && /signature ok|NOT ARRIVED|BAD SIGNATURE/.test(line))
  const rows = table.map(line => line.trim().split(/ {3,}/))
  const labels = rows.map(r => r[0])
  for (const seed of ['Lightroom job status', 'Photoshop job status', 'DGR single', 'DGR batch 1/2', 'DGR batch 2/2',
    'InDesign batch 1/3', 'InDesign batch 3/3', 'CC asset (XDM)', 'PDF Services done', 'PDF Services failed',
    'Learning Manager 1/2', 'Lightroom, journal only']) {
    t.ok(labels.includes(seed), `a row for ${seed}`)
  }
  for (const [label, acked, forwarded, recorded] of rows) {
    t.equal(acked, label === 'Lightroom, journal only' ? 'journal' : '200', `${label}: acknowledged`)
    t.equal(forwarded, 'signature ok', `${label}: forwarded once with a valid signature`)
    if (/^(CC asset|Learning Manager)/.test(label!)) t.equal(recorded, 'no job id (not a job event)', `${label}: not a job`)
    else t.match(recorded, /^200 (succeeded|failed) \(job /, `${label}: recorded at GET /jobs/:jobId`)
  }
  t.match(rows.find(r => r[0] === 'Photoshop job status')?.[3], /^200 failed/)
  t.match(rows.find(r => r[0] === 'PDF Services failed')?.[3], /^200 failed/)
  t.match(stdout, /1 came through the journal \(queued\), 1 recognised as a duplicate of its webhook delivery \("Lightroom job status" forwarded 1 time\)/)
  t.match(stdout, /0 bad signatures, 0 repeated forwards/)
  t.match(stdout, /Bull Board: http:\/\/127\.0\.0\.1:\d+\/admin\/queues/)

  t.same(await keysLeft(t, prefix!), [], 'no key with the demo prefix remains')
})

/** The keys left under `prefix` in the shared Redis. */
async function keysLeft (t: Test, prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  return await keysUnder(redis, prefix)
}

t.test('left running, the demo\'s Bull Board opens with the credentials it prints; Ctrl-C closes everything and deletes its keys', async t => {
  const child = spawn(process.execPath, ['scripts/demo.ts'], {
    cwd: root,
    env: { ...process.env, REDIS_URL, LOG_LEVEL: 'warn', DEMO_ONCE: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit') as Promise<[number | null]>
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.resume()
  await eventually(() => /^Redis: .* prefix \S+ \(deleted on exit\)$/m.test(stdout), 90_000)
  t.match(stdout, /^Result: OK$/m)
  const board = /^Bull Board: (http:\/\/127\.0\.0\.1:\d+\/admin\/queues)$/m.exec(stdout)?.[1]
  const [, user, password] = /^ {2}user (\S+), password (\S+) {2}\(generated for this run only\)$/m.exec(stdout) ?? []
  t.ok(board && user && password, 'the report prints the Bull Board URL and its credentials')
  const prefix = /prefix (\{aeg-demo-[0-9a-f]+\}) \(deleted on exit\)/.exec(stdout)![1]!

  t.equal((await fetch(board!)).status, 401, 'Bull Board refuses without credentials')
  const opened = await fetch(board!, { headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } })
  t.equal(opened.status, 200, 'and opens with the printed ones')
  t.match(await opened.text(), /<html/i, 'Bull Board\'s page')

  child.kill('SIGINT')
  const [code] = await exited
  t.equal(code, 0, 'Ctrl-C after a good report exits 0')
  t.same(await keysLeft(t, prefix), [], 'no key with the demo prefix remains')
})
