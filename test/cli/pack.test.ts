// The packed tarball is what users install: `npx event-hydrator --help` and a real run must work
// from it, not only from the repo; publint and arethetypeswrong check its package.json and types.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { events, ndjson, tempDir } from '../helpers.js'
import { packOnce, root, run, type Packed } from '../install/packed.js'

// npm and npx are .cmd files on Windows: run through a shell there.
const windows = process.platform === 'win32'
const test = suite('npm pack')
let tmp: Awaited<ReturnType<typeof tempDir>>
let packed: Packed
let project: string
test.before(async () => {
  tmp = await tempDir('eh-pack-')
  packed = await packOnce()
  project = path.join(tmp.dir, 'project')
  mkdirSync(project, { recursive: true })
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module', private: true }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', packed.tarball], { cwd: project, env: { ...process.env, npm_config_loglevel: 'error' }, shell: windows })
})
test.after(async () => {
  await tmp.cleanup()
})

const installed = () => path.join(project, 'node_modules/event-hydrator')
/** The command npm linked into the project (a .cmd shim on Windows). */
const linked = () => path.join(project, 'node_modules/.bin', windows ? 'hydrate.cmd' : 'hydrate')

test('prepack builds the library and the command once each', () => {
  // tsup.config.ts has two builds (library, command); each runs once per pack, its DTS step included.
  assert.is(packed.output.match(/CLI Building entry/g)?.length, 2, packed.output)
  assert.is(packed.output.match(/ESM Build start/g)?.length, 2, packed.output)
  assert.is(packed.output.match(/DTS Build start/g)?.length, 1, packed.output)
})

test('the packed tarball installs, and its binaries run', () => {
  // No copy of the AWS SDK in the library: its clients stay optional peers, loaded from the user's install.
  const shipped = readdirSync(path.join(installed(), 'dist'))
  assert.equal(shipped.filter((f) => /^(sso-oidc|sts|signin|loadSso|bowser|event-streams|dist-es)-/.test(f)), [], 'dist bundles no AWS SDK code')
  const help = execFileSync('npx', ['--no-install', 'event-hydrator', '--help'], { cwd: project, encoding: 'utf8', shell: windows })
  assert.match(help, /--source/)
  assert.match(help, /--sink/)
  writeFileSync(path.join(project, 'events.ndjson'), ndjson(events(30)))
  const out = execFileSync('npx', ['--no-install', 'hydrate', '--source', 'json:events.ndjson', '--filter', '{"source":["orders"]}', '--quiet'], { cwd: project, encoding: 'utf8', shell: windows })
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

test('the command carries every client inside; the library depends on none of them', () => {
  const pkg = JSON.parse(readFileSync(path.join(installed(), 'package.json'), 'utf8')) as { dependencies: Record<string, string>; peerDependencies: Record<string, string> }
  const ours = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  assert.equal(pkg.dependencies, ours.dependencies)
  for (const client of ['@aws-sdk/client-dynamodb', '@aws-sdk/client-lambda', 'postgres', 'mssql', '@opensearch-project/opensearch']) {
    assert.not.ok(client in pkg.dependencies, `${client} is not a dependency`)
    assert.ok(client in pkg.peerDependencies, `${client} stays an optional peer`)
    assert.not.ok(existsSync(path.join(project, 'node_modules', client)), `${client} was not installed`)
  }
  // The bundle's chunks hold the clients (names from their packages' folders).
  const chunks = readdirSync(path.join(installed(), 'dist/cli'))
  assert.ok(chunks.some((f) => /^mssql-/.test(f)), chunks.join(' '))
  assert.ok(chunks.some((f) => /^opensearch-/.test(f)), chunks.join(' '))
})

test('--version prints the version packed, from npx and from the bin', () => {
  for (const bin of ['event-hydrator', 'hydrate']) {
    const out = execFileSync('npx', ['--no-install', bin, '--version'], { cwd: project, encoding: 'utf8', shell: windows })
    assert.is(out, `${packed.version}\n`)
  }
  // The slow path (yargs) says the same.
  const slow = execFileSync(linked(), ['--version', '--quiet'], { cwd: project, encoding: 'utf8', shell: windows })
  assert.is(slow, `${packed.version}\n`)
})

test('the help printed without yargs is the help yargs prints, at both widths', async () => {
  const bin = linked()
  const fast = execFileSync(bin, ['--help'], { cwd: project, encoding: 'utf8', shell: windows })
  const slow = execFileSync(bin, ['--help'], { cwd: project, encoding: 'utf8', env: { ...process.env, HYDRATE_NO_HELP_CACHE: '1' }, shell: windows })
  assert.ok(fast.includes('--source') && fast.includes('completion'), fast)
  assert.is(fast, slow)
  // A terminal 110 columns wide or wider: the other file.
  const main = path.join(installed(), 'dist/cli/main.js')
  const at110 = (env: Record<string, string>) =>
    execFileSync(process.execPath, ['--input-type=module', '-e', `Object.defineProperty(process.stdout, 'columns', { value: 140 }); process.argv.splice(1, Infinity, 'hydrate', '-h'); await import(${JSON.stringify(new URL(`file://${main}`).href)})`], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    })
  // The reader going away early (`hydrate --help | head -1`) is no error.
  const closed = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(bin, ['--help'], { cwd: project, shell: windows })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (code) => resolve({ code, stderr }))
  })
  assert.equal(closed, { code: 0, stderr: '' })
  const wide = at110({})
  assert.is(wide, at110({ HYDRATE_NO_HELP_CACHE: '1' }))
  assert.is.not(wide, fast)
})

test('publint and arethetypeswrong pass on the tarball', async () => {
  const bin = (name: string) => path.join(root, 'node_modules/.bin', name)
  const lint = await run(bin('publint'), ['run', packed.tarball, '--strict'], { cwd: tmp.dir, encoding: 'utf8' })
  assert.match(lint.stdout, /All good!/)
  // ESM only (exports have `import` conditions): CommonJS resolution is out of scope by design.
  const types = await run(bin('attw'), [packed.tarball, '--profile', 'esm-only', '--format', 'json'], { cwd: tmp.dir, encoding: 'utf8', maxBuffer: 64 << 20 })
  const report = JSON.parse(types.stdout) as { problems?: Record<string, { kind: string; entrypoint: string; resolutionKind?: string }[]> }
  const problems = Object.values(report.problems ?? {}).flat()
  assert.equal(problems.filter((p) => !['node10', 'node16-cjs'].includes(p.resolutionKind ?? '')), [])
})

test.run()
