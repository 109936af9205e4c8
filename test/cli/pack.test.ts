// The packed tarball is what users install: `npx event-hydrator --help` and a real run must work
// from it, not only from the repo.
import { execFileSync } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { events, ndjson, tempDir } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('npm pack')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-pack-')
})
test.after(async () => {
  await tmp.cleanup()
})

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error' } })

test('the packed tarball installs, and its binaries run', () => {
  npm(['pack', '--pack-destination', tmp.dir], root)
  const tarball = readdirSync(tmp.dir).find((f) => f.endsWith('.tgz'))!
  assert.ok(tarball, 'npm pack made a tarball')
  const project = path.join(tmp.dir, 'project')
  execFileSync('mkdir', ['-p', project])
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module', private: true }))
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp.dir, tarball)], project)
  const help = execFileSync('npx', ['--no-install', 'event-hydrator', '--help'], { cwd: project, encoding: 'utf8' })
  assert.match(help, /--source/)
  assert.match(help, /--sink/)
  writeFileSync(path.join(project, 'events.ndjson'), ndjson(events(30)))
  const out = execFileSync('npx', ['--no-install', 'hydrate', '--source', 'json:events.ndjson', '--filter', '{"source":["orders"]}', '--quiet'], { cwd: project, encoding: 'utf8' })
  assert.is(out.trim().split('\n').length, 10)
  // The library entry imports without any integration client installed.
  const lib = execFileSync(process.execPath, ['--input-type=module', '-e', "import { matches, readJsonLines, run } from 'event-hydrator'; console.log(typeof run + ' ' + String(matches({ a: ['x'] }, { a: 'x' })))"], { cwd: project, encoding: 'utf8' })
  assert.is(lib.trim(), 'function true')
  // Every subpath export loads, also without its client installed (clients load when used).
  const subpaths = ['json', 'postgres', 'mssql', 'dynamo', 'opensearch', 'lambda', 'eventbridge']
  const script = `for (const s of ${JSON.stringify(subpaths)}) { const m = await import('event-hydrator/' + s); console.log(s + ' ' + Object.keys(m).length) }`
  const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: project, encoding: 'utf8' })
  for (const s of subpaths) assert.match(loaded, new RegExp(`^${s} [1-9]`, 'm'))
})

test.run()
