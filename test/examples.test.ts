// The examples are run as a user would run them, so they never rot: the CLI line (`npm run
// example`), the same job from code with hydrate(), and a pipeline of one's own with its unit test.
// The README shows the first two word for word.
import { execFileSync } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const test = suite('examples')
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const lines = async (file: string) => (await readFile(path.join(root, file), 'utf8')).trim().split('\n')

test('the CLI line and hydrate() from code do the same job on the example data', async () => {
  await rm(path.join(root, 'examples/out'), { recursive: true, force: true })
  run('npm', ['run', '--silent', 'example'])
  run(process.execPath, ['--import', 'tsx', 'examples/hydrate.ts'])
  const fromCli = await lines('examples/out/orders.ndjson')
  assert.is(fromCli.length, 333)
  assert.equal(await lines('examples/out/orders-from-code.ndjson'), fromCli)
})

test('a pipeline of your own, and its unit test with collect()', () => {
  const out = run(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'examples/pipeline', '.test.ts'])
  assert.match(out.replace(/\x1b\[[0-9;]*m/g, ''), /Passed:\s+1/)
})

test('the README shows the example code and the CLI line as they are', async () => {
  const readme = await readFile(path.join(root, 'README.md'), 'utf8')
  const code = (await readFile(path.join(root, 'examples/hydrate.ts'), 'utf8')).split('\n').filter((l) => l && !l.startsWith('//'))
  for (const line of code.filter((l) => !l.startsWith('process.'))) assert.ok(readme.includes(line), `README shows \`${line}\``)
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { scripts: { example: string } }
  const cliLine = pkg.scripts.example.replace(/^tsx cli\/main\.ts /, 'hydrate ')
  assert.ok(readme.includes(cliLine), `README shows \`${cliLine}\``)
})

test.run()
