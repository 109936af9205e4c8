// The GitHub Action's run step (scripts/action-run.sh, called by action.yml) as the runner calls
// it: inputs in the environment, `hydrate` on PATH, outputs appended to $GITHUB_OUTPUT.
import { execFile } from 'node:child_process'
import { chmod, readFile } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { events, ndjson, tempDir } from '../helpers.js'
import { root } from './packed.js'

const run = promisify(execFile)
const test = suite('GitHub Action')
let tmp: Awaited<ReturnType<typeof tempDir>>
let env: Record<string, string | undefined>
test.before(async () => {
  tmp = await tempDir('eh-action-')
  // `hydrate` on PATH is this repository's CLI, run by tsx.
  const bin = await tmp.file('bin/hydrate', `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import ${JSON.stringify(pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href)} ${JSON.stringify(path.join(root, 'cli/main.ts'))} "$@"\n`)
  await chmod(bin, 0o755)
  await tmp.file('events.ndjson', ndjson(events(30)))
  env = { ...process.env, PATH: `${path.dirname(bin)}:${process.env.PATH}` }
})
test.after(async () => {
  await tmp.cleanup()
})

async function step(inputs: Record<string, string>) {
  const output = await tmp.file(`output-${Math.random().toString(36).slice(2)}`, '')
  const summary = await tmp.file(`summary-${Math.random().toString(36).slice(2)}`, '')
  let code = 0
  let stderr = ''
  try {
    ;({ stderr } = await run('bash', [path.join(root, 'scripts/action-run.sh')], { cwd: tmp.dir, encoding: 'utf8', env: { ...env, ...inputs, GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary } }))
  } catch (error) {
    code = (error as { code: number }).code
    stderr = (error as { stderr: string }).stderr
  }
  const outputs = Object.fromEntries((await readFile(output, 'utf8')).trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)))
  return { code, stderr, outputs: outputs as Record<string, string>, summary: await readFile(summary, 'utf8') }
}

test('runs hydrate with the inputs, writes the report, and sets the outputs', async () => {
  const r = await step({
    HYDRATE_SOURCE: 'json:events.ndjson',
    HYDRATE_SINK: 'ndjson:orders.ndjson',
    HYDRATE_FILTER: '{"source":["orders"]}\n\n{"detail-type":["UserCreated"],"id":["e1"]}\n',
    HYDRATE_REPORT_FILE: 'out/report.json',
    HYDRATE_ARGS: '--quiet\n--limit\n11\n',
  })
  assert.is(r.code, 0, r.stderr)
  assert.equal(r.outputs, { status: 'ok', 'exit-code': '0', 'report-file': 'out/report.json' })
  const report = JSON.parse(readFileSync(path.join(tmp.dir, 'out/report.json'), 'utf8')) as { status: string; sink: { written: number } }
  assert.is(report.status, 'ok')
  // Ten orders and e1, the two filters being "any of them".
  assert.is(report.sink.written, 11)
  assert.is(readFileSync(path.join(tmp.dir, 'orders.ndjson'), 'utf8').trim().split('\n').length, 11)
  assert.match(r.summary, /### hydrate: ok/)
})

test('a bad input fails the step with hydrate\'s exit code, and no report', async () => {
  const r = await step({ HYDRATE_SOURCE: 'json:events.ndjson', HYDRATE_FILTER: '{"source": "orders"}', HYDRATE_REPORT_FILE: 'bad.json' })
  assert.is(r.code, 2)
  assert.match(r.stderr, /ERR_INVALID_PATTERN/)
  assert.equal(r.outputs, { status: 'none', 'exit-code': '2', 'report-file': 'bad.json' })
})

test('inputs are data, never shell code', async () => {
  const r = await step({ HYDRATE_SOURCE: 'json:events.ndjson', HYDRATE_FILTER: '{"source":["$(touch pwned)"]}\n`touch pwned2`', HYDRATE_ARGS: '--quiet; touch pwned3' })
  assert.is.not(r.code, 0)
  for (const f of ['pwned', 'pwned2', 'pwned3']) assert.not.ok(existsSync(path.join(tmp.dir, f)), f)
})

test('action.yml passes every input the run step reads, through the environment', async () => {
  const action = readFileSync(path.join(root, 'action.yml'), 'utf8')
  const script = readFileSync(path.join(root, 'scripts/action-run.sh'), 'utf8')
  for (const name of new Set(script.match(/HYDRATE_[A-Z_]+/g))) assert.match(action, new RegExp(`\\b${name}: \\$\\{\\{ inputs\\.[a-z-]+ \\}\\}`), name)
  // No input is pasted into a script line (only env: and with: take them).
  for (const line of action.split('\n').filter((l) => l.includes('inputs.'))) assert.match(line, /^\s+([A-Z_]+|node-version|name|path|if):|^\s+if: \$\{\{/, line)
})

// The action's step runs in bash (the runner's, Git Bash on Windows): checked on POSIX systems here.
if (process.platform !== 'win32') test.run()
