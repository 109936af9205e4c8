// install.sh as a user runs it, against a local npm registry (verdaccio on 127.0.0.1, started here,
// its storage in a temporary folder; packages other than ours come through from the registry npm
// is set up with). The packed tarball is published to it, the script installs into a fresh prefix,
// and the command it installed reaches DynamoDB, PostgreSQL and Lambda with nothing else installed.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ScanCommand } from '@aws-sdk/client-dynamodb'
import { events, ndjson, tempDir } from '../helpers.js'
import { createTable, dynamoClients, dynamoEnv, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'
import { createDatabase, freePort, startPostgres, type PostgresServer } from '../servers/postgres.js'
import { listenLocal } from '../servers/listen.js'
import { packOnce, root, run, type Packed } from './packed.js'

const test = suite('install.sh')
let tmp: Awaited<ReturnType<typeof tempDir>>
let packed: Packed
let registry: string
let verdaccio: ChildProcess | undefined
let prefix: string
let npmEnv: Record<string, string | undefined>

async function startVerdaccio(dir: string): Promise<string> {
  const port = await freePort()
  const upstream = (await run('npm', ['config', 'get', 'registry'], { encoding: 'utf8' })).stdout.trim() || 'https://registry.npmjs.org/'
  const config = path.join(dir, 'verdaccio.yaml')
  writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(path.join(dir, 'storage'))}`,
      `auth: { htpasswd: { file: ${JSON.stringify(path.join(dir, 'htpasswd'))}, max_users: 10 } }`,
      `uplinks: { upstream: { url: ${JSON.stringify(upstream)}, timeout: 60s } }`,
      'packages:',
      "  'event-hydrator': { access: $all, publish: $authenticated }",
      "  '**': { access: $all, proxy: upstream }",
      'log: { type: stdout, format: pretty, level: warn }',
      'publish: { allow_offline: true }',
      '',
    ].join('\n'),
  )
  const child = spawn(process.execPath, [path.join(root, 'node_modules/verdaccio/bin/verdaccio'), '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  })
  verdaccio = child
  // Never outlives the tests, also when a hook failed before test.after could run.
  process.once('exit', () => child.kill('SIGKILL'))
  child.unref()
  ;(child.stdout as unknown as { unref?: () => void }).unref?.()
  ;(child.stderr as unknown as { unref?: () => void }).unref?.()
  let log = ''
  child.stdout!.on('data', (d: Buffer) => (log += d))
  child.stderr!.on('data', (d: Buffer) => (log += d))
  const url = `http://127.0.0.1:${port}/`
  for (const started = Date.now(); ; ) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited (${child.exitCode}):\n${log}`)
    const ok = await fetch(`${url}-/ping`).then((r) => r.ok, () => false)
    if (ok) return url
    if (Date.now() - started > 30_000) throw new Error(`verdaccio did not answer in 30 s:\n${log}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Runs install.sh with `sh` (dash on Debian: POSIX only) and the given settings. */
const installSh = (env: Record<string, string | undefined>) =>
  run('sh', [path.join(root, 'install.sh')], { cwd: tmp.dir, encoding: 'utf8', env: { ...npmEnv, ...env }, timeout: 120_000 })

test.before(async () => {
  tmp = await tempDir('eh-install-')
  ;[packed, registry] = await Promise.all([packOnce(), startVerdaccio(tmp.dir)])
  // A user of its own on the registry, and the tarball published as a release would be.
  const user = await fetch(`${registry}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', password: 'ci-password-1' }),
  })
  const { token } = (await user.json()) as { token: string }
  assert.ok(token, `verdaccio gave no token (${user.status})`)
  const npmrc = path.join(tmp.dir, 'npmrc')
  writeFileSync(npmrc, `//${new URL(registry).host}/:_authToken=${token}\n`)
  npmEnv = {
    ...process.env,
    npm_config_userconfig: npmrc,
    npm_config_cache: path.join(tmp.dir, 'npm-cache'),
    npm_config_loglevel: 'error',
    npm_config_update_notifier: 'false',
  }
  await run('npm', ['publish', packed.tarball, '--registry', registry, '--tag', 'latest'], { cwd: tmp.dir, env: npmEnv, encoding: 'utf8' })
  prefix = path.join(tmp.dir, 'prefix')
})

test.after(async () => {
  verdaccio?.kill('SIGTERM')
  await tmp.cleanup()
})

const hydrate = () => path.join(prefix, 'bin', 'hydrate')

test('installs the command from the registry into a fresh prefix, and says what it did', async () => {
  const { stderr } = await installSh({ HYDRATE_PREFIX: prefix, HYDRATE_REGISTRY: registry })
  assert.match(stderr, /found Node\.js \d+\.\d+/)
  assert.match(stderr, new RegExp(`running: npm install --global .* event-hydrator@${packed.version.replace(/\./g, '\\.')}`))
  assert.match(stderr, new RegExp(`installed hydrate ${packed.version.replace(/\./g, '\\.')} with npm into ${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/bin`))
  const help = await run(hydrate(), ['--help'], { encoding: 'utf8' })
  assert.match(help.stdout, /--source <uri>/)
  // Nothing but the package and the library's own dependencies: no client was installed.
  const modules = path.join(prefix, 'lib/node_modules/event-hydrator/node_modules')
  const names = existsSync(modules) ? readdirSync(modules) : readdirSync(path.join(prefix, 'lib/node_modules'))
  for (const client of ['@aws-sdk', 'postgres', 'mssql', '@opensearch-project', 'yargs']) assert.not.ok(names.includes(client), `${client} installed: ${names.join(' ')}`)
})

test('a second run installs nothing', async () => {
  const before = statSync(path.join(prefix, 'lib/node_modules/event-hydrator/package.json')).mtimeMs
  const { stderr } = await installSh({ HYDRATE_PREFIX: prefix, HYDRATE_REGISTRY: registry })
  assert.match(stderr, /is already installed in .*: nothing to do/)
  assert.not.match(stderr, /running: npm/)
  assert.is(statSync(path.join(prefix, 'lib/node_modules/event-hydrator/package.json')).mtimeMs, before)
})

test('json -> dynamo with what the script installed', async () => {
  let server: DynaliteServer | undefined
  const clients = { destroy: () => {} } as ReturnType<typeof dynamoClients>
  try {
    server = await startDynalite()
    Object.assign(clients, dynamoClients(server.endpoint))
    await createTable(clients.client, 'users', { partition: ['id', 'S'] })
    await tmp.file('events.ndjson', ndjson(events(12)))
    await run(hydrate(), ['--source', 'json:events.ndjson', '--filter', '{"source":["orders"]}', '--sink', 'dynamo:users', '--quiet'], { cwd: tmp.dir, env: dynamoEnv(server.endpoint) })
    const { Items } = await clients.client.send(new ScanCommand({ TableName: 'users' }))
    assert.is(Items?.length, 4)
    // Without keys in the environment: the SDK's default chain (bundled) reads a profile.
    await tmp.file('aws/credentials', '[replay]\naws_access_key_id = test\naws_secret_access_key = test\n')
    const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...withoutKeys } = dynamoEnv(server.endpoint)
    const profileEnv = { ...withoutKeys, AWS_PROFILE: 'replay', AWS_SHARED_CREDENTIALS_FILE: path.join(tmp.dir, 'aws/credentials'), AWS_CONFIG_FILE: path.join(tmp.dir, 'aws/none') }
    await tmp.file('more.ndjson', ndjson(events(3, (i) => ({ id: `p${i}`, source: 'orders' }))))
    await run(hydrate(), ['--source', 'json:more.ndjson', '--sink', 'dynamo:users', '--quiet'], { cwd: tmp.dir, env: profileEnv })
    const after = await clients.client.send(new ScanCommand({ TableName: 'users' }))
    assert.is(after.Items?.length, 7)
  } finally {
    clients.destroy()
    await server?.close()
  }
})

test('json -> postgres with what the script installed', async () => {
  let server: PostgresServer | undefined
  try {
    server = await startPostgres()
    const db = await createDatabase(server, 'install_sh')
    try {
      await db.sql`create table orders (id text primary key, source text not null)`
      await tmp.file('events.ndjson', ndjson(events(12)))
      await run(hydrate(), ['--source', 'json:events.ndjson', '--sink', `${db.url}?table=orders`, '--key', 'id', '--column', 'id=id', '--column', 'source=source', '--quiet'], { cwd: tmp.dir })
      const rows = await db.sql<{ n: number }[]>`select count(*)::int as n from orders`
      assert.is(rows[0]!.n, 12)
    } finally {
      await db.drop()
    }
  } finally {
    await server?.stop()
  }
})

test('json -> lambda with what the script installed', async () => {
  const seen: string[] = []
  let server: LambdaServer | undefined
  try {
    server = await startLambdaServer({ functions: { projector: async (event) => void seen.push((event as { id: string }).id) } })
    await tmp.file('events.ndjson', ndjson(events(6)))
    const env = { ...process.env, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL_LAMBDA: server.endpoint }
    await run(hydrate(), ['--source', 'json:events.ndjson', '--sink', 'lambda:projector', '--quiet'], { cwd: tmp.dir, env })
    assert.equal(seen, events(6).map((e) => e.id as string))
  } finally {
    await server?.close()
  }
})

test('without Node.js 20.19, installs the standalone executable from the release (and only once)', async () => {
  // A `node` that says it is 18, first on PATH; the release is a folder served on 127.0.0.1.
  const fake = await tmp.file('old-node/node', '#!/bin/sh\necho 18.20.0\n')
  await run('chmod', ['755', fake])
  const release = path.join(tmp.dir, 'release')
  await run(process.execPath, [path.join(root, 'scripts/build-sea.mjs'), '--out', release], { cwd: root })
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64'
  const asset = `hydrate-linux-${arch}`
  const binary = readFileSync(path.join(release, 'hydrate'))
  const { createHash } = await import('node:crypto')
  const sums = `${createHash('sha256').update(binary).digest('hex')}  ${asset}\n`
  let tampered = false
  const server: Server = createServer((req, res) => {
    if (req.url === `/releases/latest/download/${asset}`) res.end(tampered ? Buffer.concat([binary, Buffer.from('x')]) : binary)
    else if (req.url === '/releases/latest/download/SHA256SUMS') res.end(sums)
    else res.writeHead(404).end()
  })
  const listening = await listenLocal(server)
  try {
    const bin = path.join(tmp.dir, 'standalone-bin')
    const env = { PATH: `${path.dirname(fake)}:${process.env.PATH}`, HOME: tmp.dir, HYDRATE_BIN_DIR: bin, HYDRATE_RELEASES: `${listening.url}/releases` }
    const first = await installSh(env)
    assert.match(first.stderr, /Node\.js 18\.20\.0 is older than 20\.19: installing the standalone executable instead/)
    assert.match(first.stderr, /checked hydrate-linux-\w+ against SHA256SUMS/)
    assert.match(first.stderr, /installed the standalone hydrate \S+ into/)
    const version = await run(path.join(bin, 'hydrate'), ['--version'], { encoding: 'utf8' })
    assert.is(version.stdout, `${packed.version}\n`)
    const second = await installSh(env)
    assert.match(second.stderr, /already installed in .*: nothing to do/)
    assert.equal(readdirSync(bin), ['hydrate'])
    // A download that does not match SHA256SUMS is refused, and leaves nothing behind.
    tampered = true
    const elsewhere = path.join(tmp.dir, 'tampered-bin')
    const refused = await installSh({ ...env, HYDRATE_BIN_DIR: elsewhere }).then(
      (): { code: number; stderr: string } => assert.unreachable('installed a tampered download') as never,
      (error: { code: number; stderr: string }) => error,
    )
    assert.is(refused.code, 1)
    assert.match(refused.stderr, /hydrate-linux-\w+ does not match its SHA256SUMS entry/)
    assert.equal(readdirSync(elsewhere), [])
  } finally {
    await listening.close()
  }
})

// install.sh is POSIX sh; install.ps1 is Windows' (not run by a test: no PowerShell here).
if (process.platform !== 'win32') test.run()
