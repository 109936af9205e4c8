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
  // One build per pack (prepack runs tsup once: its ESM and DTS steps are one build, not two).
  const packed = execFileSync('npm', ['pack', '--foreground-scripts', '--pack-destination', tmp.dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error' } })
  const plain = packed.replace(/\x1b\[[0-9;]*m/g, '')
  assert.is(plain.match(/CLI Building entry/g)?.length, 1, plain)
  assert.is(plain.match(/ESM Build start/g)?.length, 1, plain)
  const tarball = readdirSync(tmp.dir).find((f) => f.endsWith('.tgz'))!
  assert.ok(tarball, 'npm pack made a tarball')
  const project = path.join(tmp.dir, 'project')
  execFileSync('mkdir', ['-p', project])
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module', private: true }))
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp.dir, tarball)], project)
  // No copy of the AWS SDK inside: its packages stay external, loaded from the user's install.
  const shipped = readdirSync(path.join(project, 'node_modules/event-hydrator/dist'))
  assert.equal(shipped.filter((f) => /^(sso-oidc|sts|signin|loadSso|bowser|event-streams|dist-es)-/.test(f)), [], 'dist bundles no AWS SDK code')
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
