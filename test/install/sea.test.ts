// The standalone executable (`npm run build:sea`): Node's single executable application with the
// CLI and every client inside, run where no `node` is on PATH, as on a machine without Node.
import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { events, ndjson, tempDir } from '../helpers.js'
import { pathWithoutNode, root } from './packed.js'

const run = promisify(execFile)
const test = suite('standalone executable')
let tmp: Awaited<ReturnType<typeof tempDir>>
let hydrate: string
test.before(async () => {
  tmp = await tempDir('eh-sea-')
  await run(process.execPath, [path.join(root, 'scripts/build-sea.mjs'), '--out', path.join(tmp.dir, 'bin')], { cwd: root, encoding: 'utf8' })
  hydrate = path.join(tmp.dir, 'bin', process.platform === 'win32' ? 'hydrate.exe' : 'hydrate')
})
test.after(async () => {
  await tmp.cleanup()
})

/** What Windows needs in any environment (its system folder). */
const windowsEnv = (): Record<string, string> => (process.platform === 'win32' ? { SystemRoot: process.env.SystemRoot ?? 'C:\\Windows' } : {})

/** Runs the binary from `cwd` with a PATH that has no node, npm or npx on it. */
const standalone = (args: string[], cwd = tmp.dir) =>
  run(hydrate, args, { cwd, encoding: 'utf8', env: { ...windowsEnv(), PATH: pathWithoutNode(), HOME: tmp.dir, LANG: 'C' } })

test('runs the README example with no node on PATH', async () => {
  // `node` cannot be found with this PATH: the binary carries its own.
  const which =
    process.platform === 'win32'
      ? await run('cmd.exe', ['/d', '/c', 'where node || echo none'], { encoding: 'utf8', env: { ...windowsEnv(), PATH: pathWithoutNode() } })
      : await run('/bin/sh', ['-c', 'command -v node || echo none'], { encoding: 'utf8', env: { PATH: pathWithoutNode() } })
  assert.match(which.stdout.trim(), /none$/)
  await tmp.file('events.ndjson', ndjson(events(30)))
  await tmp.file('rule.json', JSON.stringify({ source: ['orders'] }))
  const { stdout } = await standalone(['--source', 'json:events.ndjson', '--filter', 'rule.json', '--sink', 'ndjson:-', '--quiet'])
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string })
  assert.is(lines.length, 10)
  assert.ok(lines.every((e) => e.source === 'orders'))
  // The README's own example, into a file.
  const examples = path.join(root, 'examples')
  const out = path.join(tmp.dir, 'orders.ndjson')
  const { stderr } = await standalone(['--source', `json:${path.join(examples, 'events/events.ndjson')}`, '--filter', path.join(examples, 'rules/orders.json'), '--sink', `ndjson:${out}`])
  assert.match(stderr, /written/i)
  assert.ok(readFileSync(out, 'utf8').trim().split('\n').length > 0)
})

test('prints its version and help, and a completion script', async () => {
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
  assert.is((await standalone(['--version'])).stdout, `${version}\n`)
  assert.match((await standalone(['--help'])).stdout, /--source <uri>/)
  assert.match((await standalone(['completion'])).stdout, /complete -o bashdefault -o default -F _hydrate_yargs_completions hydrate/)
  assert.ok(statSync(hydrate).size > 10_000_000, 'a whole Node inside')
})

test('loads a --transform module from disk (ES module and CommonJS)', async () => {
  await tmp.file('events.ndjson', ndjson(events(3)))
  await tmp.file('tag.mjs', 'export default (event) => ({ ...event, tagged: "esm" })\n')
  await tmp.file('tag.cjs', 'module.exports = (event) => ({ ...event, tagged: "cjs" })\n')
  for (const [file, tag] of [['./tag.mjs', 'esm'], ['./tag.cjs', 'cjs']] as const) {
    const { stdout } = await standalone(['--source', 'json:events.ndjson', '--transform', file, '--quiet'])
    const tags = stdout.trim().split('\n').map((l) => (JSON.parse(l) as { tagged: string }).tagged)
    assert.equal(tags, [tag, tag, tag])
  }
})

test.run()
