// hydrate() from code is the CLI's engine: every CLI scenario here runs twice, once as `hydrate ...`
// and once as hydrate({ ... }) written as a user would write it (objects, functions, arrays), each in
// a fresh folder holding the same input files, and the two reports must agree: the same counts,
// status, failure codes and output.
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../cli/app.js'
import { HydratorError } from '../lib/errors.js'
import { hydrate, type HydrateOptions } from '../lib/hydrate.js'
import type { RunReport } from '../lib/report/report.js'
import { collect } from '../lib/collect.js'
import { captured, events, ndjson, readableOf, tempDir } from './helpers.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from './servers/dynalite.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from './servers/postgres.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const test = suite('hydrate() from code: the same runs as the CLI')
let tmp: Awaited<ReturnType<typeof tempDir>>
let dirs = 0
let dynamo: DynaliteServer
let pg: PostgresServer
let db: TestDatabase
test.before(async () => {
  tmp = await tempDir()
  dynamo = await startDynalite()
  pg = await startPostgres()
  db = await createDatabase(pg, 'hydrate_twice')
})
test.after(async () => {
  await db?.drop()
  await pg?.stop()
  await dynamo?.close()
  await tmp.cleanup()
})

// The AWS settings of the local DynamoDB, as a user's environment would hold them.
const env = {
  ...process.env,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
}
const ordersRule = JSON.parse(await readFile(path.join(root, 'examples/rules/orders.json'), 'utf8'))

/** A fresh folder with these files. */
async function folder(files: Record<string, string>): Promise<string> {
  const dir = path.join(tmp.dir, `d${dirs++}`)
  for (const [name, content] of Object.entries(files)) await tmp.file(path.relative(tmp.dir, path.join(dir, name)), content)
  await tmp.file(path.relative(tmp.dir, path.join(dir, '.keep')), '')
  return dir
}

/** What must be equal between the two ways of running. */
function essence(report: RunReport) {
  return {
    status: report.status,
    dryRun: report.dryRun,
    source: { read: report.source.read, failed: report.source.failed },
    filter: report.filter,
    sink: { written: report.sink.written, skipped: report.sink.skipped, failed: report.sink.failed, deleted: report.sink.deleted, skippedBy: report.sink.skippedBy },
    failures: report.failures.samples.map((f) => `${f.stage} ${f.code}`),
    error: report.error?.code,
    stages: report.stages.map((s) => [s.kind, s.in, s.out, s.failed ?? 0]),
    checkpoint: report.checkpoint && { complete: report.checkpoint.complete, held: report.checkpoint.held, totals: report.checkpoint.totals },
    plan: report.sink.plan,
    previews: report.sink.previews,
  }
}

async function outputs(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  // Dead letters carry the time they were written: the rest must be the same.
  for (const name of await readdir(dir)) if (name.startsWith('out') || name.startsWith('dl')) out[name] = (await readFile(path.join(dir, name), 'utf8')).replace(/"time":"[^"]+"/g, '"time":"T"')
  return out
}

/** Runs `argv` through the CLI and `options` through hydrate(), each in its own copy of `files`. */
async function twice(files: Record<string, string>, argv: string[], options: (dir: string) => HydrateOptions, extraEnv: Record<string, string> = {}) {
  const cliDir = await folder(files)
  const stdout = captured()
  const stderr = captured()
  const code = await cli([...argv, '--report', 'json', '--report-file', 'report.json', '--quiet'], { stdout, stderr, stdin: readableOf(''), env: { ...env, ...extraEnv }, cwd: cliDir })
  const fromCli = await readFile(path.join(cliDir, 'report.json'), 'utf8').then((t) => JSON.parse(t) as RunReport)
  const codeDir = await folder(files)
  const fromCode = await hydrate({ env: { ...env, ...extraEnv }, ...options(codeDir), cwd: codeDir })
  assert.equal(essence(fromCode), essence(fromCli), `${argv.join(' ')}: the same report (CLI exit ${code}: ${stderr.text()})`)
  assert.equal(await outputs(codeDir), await outputs(cliDir), 'the same output files')
  return { code, report: fromCode, dir: codeDir }
}

const input = ndjson(events(30))

test('filter into an NDJSON file: a pattern file on the command line, a pattern object in code', async () => {
  const { report } = await twice(
    { 'in.ndjson': input, 'rule.json': JSON.stringify(ordersRule) },
    ['--source', 'json:in.ndjson', '--filter', 'rule.json', '--sink', 'ndjson:out.ndjson'],
    () => ({ source: 'json:in.ndjson', filter: ordersRule, sink: 'ndjson:out.ndjson' }),
  )
  assert.is(report.status, 'ok')
  assert.is(report.sink.written, 10)
})

test('several filters, inline JSON and predicates; a limit', async () => {
  await twice(
    { 'in.ndjson': input },
    ['--source', 'json:in.ndjson', '--filter', '{"detail-type":["OrderPlaced"]}', '--filter', '{"detail":{"version":[1,2]}}', '--limit', '7', '--sink', 'ndjson:out.ndjson'],
    () => ({
      source: 'json:in.ndjson',
      filter: ['{"detail-type":["OrderPlaced"]}', (e: { detail: { version: number } }) => [1, 2].includes(e.detail.version)],
      limit: 7,
      sink: 'ndjson:out.ndjson',
    }),
  )
})

test('torn lines and a transform that throws: partial, the same failures, the same dead letters', async () => {
  await twice(
    { 'in.ndjson': input + '{torn\n' + ndjson(events(2, (i) => ({ id: `late${i}` }))), 'tr.mjs': "export default (e) => { if (e.id === 'e4') throw new Error('no'); return { ...e, t: 1 } }\n" },
    ['--source', 'json:in.ndjson', '--transform', './tr.mjs', '--sink', 'ndjson:out.ndjson', '--dead-letter', 'dl.ndjson', '--checkpoint', 'run.ckpt'],
    () => ({
      source: 'json:in.ndjson',
      transform: (e: { id: string }) => {
        if (e.id === 'e4') throw new Error('no')
        return { ...e, t: 1 }
      },
      sink: 'ndjson:out.ndjson',
      deadLetter: 'dl.ndjson',
      checkpoint: 'run.ckpt',
    }),
  )
})

test('max failures as a share of the events read', async () => {
  const { report } = await twice(
    { 'in.ndjson': 'x\n'.repeat(150) + input },
    ['--source', 'json:in.ndjson', '--max-failures', '5%', '--sink', 'ndjson:out.ndjson'],
    () => ({ source: 'json:in.ndjson', maxFailures: '5%', sink: 'ndjson:out.ndjson' }),
  )
  assert.is(report.status, 'failed')
})

test('a dry run, a rate, and a JSON array', async () => {
  await twice(
    { 'in.json': JSON.stringify(events(12)) },
    ['--source', 'json:in.json', '--dry-run', '--rate', '200/s', '--sink', 'ndjson:out.ndjson'],
    () => ({ source: 'json:in.json', dryRun: true, rate: 200, sink: 'ndjson:out.ndjson' }),
  )
})

test('a plugin sink, by module path and as an object', async () => {
  const plugin = path.join(root, 'examples/plugin/memory-plugin.mjs')
  const mod = (await import(plugin)) as { default: unknown }
  await twice(
    { 'in.ndjson': input },
    ['--plugin', plugin, '--source', 'json:in.ndjson', '--sink', 'count:'],
    () => ({ plugins: [mod.default as never], source: 'json:in.ndjson', sink: 'count:' }),
  )
})

test('the one-liner into DynamoDB without a mapping: each event is the item, its key from the table', async () => {
  const clients = dynamoClients(dynamo.endpoint)
  try {
    await createTable(clients.client, 'users', { partition: ['id', 'S'] })
    const withoutId = ndjson([{ source: 'users', detail: {} }])
    const local = { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }
    const { report } = await twice(
      { 'in.ndjson': input + withoutId, 'rule.json': JSON.stringify({ source: ['users'] }) },
      ['--source', 'json:in.ndjson', '--filter', 'rule.json', '--sink', 'dynamo:users'],
      () => ({ source: 'json:in.ndjson', filter: 'rule.json', sink: 'dynamo:users' }),
      local,
    )
    assert.is(report.sink.written, 20)
    assert.equal(report.failures.samples.map((f) => f.code), ['ERR_MAPPING'])
    assert.match(report.failures.samples[0]!.message, /no `id`, the partition key of table `users`/)
  } finally {
    clients.destroy()
  }
})

test('a dry run into PostgreSQL shows the same plan from code as from the CLI, and the client is closed', async () => {
  const postgres = (await import('postgres')).default
  const sql = postgres(db.url, { onnotice: () => {} })
  try {
    await sql.unsafe('create table orders (id text primary key, version int, amount int)')
    await sql.unsafe("insert into orders values ('e1', 9, 1), ('e2', 0, 1)")
    const sink = `${db.url}?table=orders`
    const columns = ['id=id', 'version=detail.version', 'amount=detail.amount']
    const { report } = await twice(
      { 'in.ndjson': input },
      ['--source', 'json:in.ndjson', '--sink', sink, ...columns.flatMap((c) => ['--column', c]), '--key', 'id', '--version-column', 'version', '--dry-run'],
      () => ({ source: 'json:in.ndjson', sink, column: { id: 'id', version: 'detail.version', amount: 'detail.amount' }, key: 'id', versionColumn: 'version', dryRun: true }),
    )
    assert.ok(report.sink.plan, 'a plan')
    assert.is(report.sink.plan!.wouldUpdate, 1)
    assert.is(report.sink.skippedBy?.stale, 1)
    const [{ count }] = await sql.unsafe("select count(*)::int as count from pg_stat_activity where application_name = 'event-hydrator'")
    assert.is(count, 0, 'hydrate() ended the client it made')
  } finally {
    await sql.end({ timeout: 1 })
  }
})

test('onProgress reports the counts as the run goes, and signal stops it gracefully', async () => {
  const dir = await folder({ 'in.ndjson': ndjson(events(200)) })
  const controller = new AbortController()
  const seen: { read: number; written: number }[] = []
  const report = await hydrate({
    source: 'json:in.ndjson',
    sink: 'ndjson:out.ndjson',
    rate: 50,
    batchSize: 1,
    cwd: dir,
    env,
    signal: controller.signal,
    onProgress: (p) => {
      seen.push({ read: p.read, written: p.written })
      if (seen.length === 2) controller.abort()
    },
  })
  assert.ok(seen.length >= 2, `onProgress was called (${seen.length})`)
  assert.ok(seen[1]!.written >= seen[0]!.written && seen[0]!.written > 0, JSON.stringify(seen))
  assert.is(report.status, 'aborted')
  assert.ok(report.sink.written < 200 && report.sink.written >= seen[1]!.written, `${report.sink.written}`)
  const lines = (await readFile(path.join(dir, 'out.ndjson'), 'utf8')).trim().split('\n').length
  assert.is(lines, report.sink.written, 'the report says what the file holds')
})

test('a source and a sink given as objects, for code that builds its own', async () => {
  const sink = collect()
  const report = await hydrate({ source: (async function* () { yield* events(5) })(), sink, filter: { source: ['orders'] } })
  assert.is(report.status, 'ok')
  assert.is(report.source.read, 5)
  assert.is(report.sink.written, 2)
})

test('bad input rejects with the CLI codes before any event is read', async () => {
  const dir = await folder({ 'in.ndjson': input })
  const cases: [HydrateOptions, string, RegExp][] = [
    [{ source: 'jsno:in.ndjson' }, 'ERR_UNKNOWN_SCHEME', /jsno/],
    [{ source: 'json:in.ndjson', filter: { source: 'orders' } as never }, 'ERR_INVALID_PATTERN', /source/],
    [{ source: 'json:in.ndjson', filter: 'missing.json' }, 'ERR_FILE_NOT_FOUND', /missing\.json/],
    [{ source: 'json:in.ndjson', key: 'id' }, 'ERR_USAGE', /--column/],
    [{ source: 'json:in.ndjson', column: ['id'] }, 'ERR_USAGE', /name=json\.path/],
    [{ source: 'json:in.ndjson', batchSize: 0 }, 'ERR_INVALID_OPTION', /batchSize/],
    [{ source: 'json:in.ndjson', maxFailures: 'lots' }, 'ERR_INVALID_OPTION', /maxFailures/],
    [{ source: 'json:in.ndjson', rate: 'fast' }, 'ERR_INVALID_OPTION', /rate/],
    [{ source: 'json:in.ndjson', sink: 'postgres://u:s3cret@127.0.0.1:1/db?table=t' }, 'ERR_USAGE', /mapping/],
    [{ source: 'json:nope.ndjson' }, 'ERR_FILE_NOT_FOUND', /nope/],
  ]
  for (const [options, code, message] of cases) {
    const error = await hydrate({ ...options, cwd: dir, env }).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.instance(error, HydratorError, JSON.stringify(options))
    assert.is((error as HydratorError).code, code, `${JSON.stringify(options)}: ${(error as Error).message}`)
    assert.match((error as Error).message, message)
    assert.not.match((error as Error).message, /s3cret/)
  }
})

test.run()
