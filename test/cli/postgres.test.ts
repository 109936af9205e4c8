// The storage issue's "done when", end to end through the CLI on the bundled example data:
// `hydrate --source json:examples/... --filter ... --sink postgres://...` fills the table a reference
// model says it should, a rerun changes nothing, shuffled events converge, the report adds up, and a
// missing table stops the run with exit 2 before any event is read.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import type { RunReport } from '../../lib/report/report.js'
import { captured, readableOf, tempDir } from '../helpers.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const EXAMPLE = 'examples/events/events.ndjson'
const test = suite('the hydrate CLI into PostgreSQL')
let pg: PostgresServer
let db: TestDatabase
let tmp: Awaited<ReturnType<typeof tempDir>>

interface Example {
  'detail-type': string
  source: string
  detail: { aggregateId: string; version: number; name: string }
}
let examples: Example[]

test.before(async () => {
  tmp = await tempDir()
  pg = await startPostgres()
  db = await createDatabase(pg, 'cli')
  examples = (await readFile(path.join(root, EXAMPLE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Example)
})
test.after(async () => {
  await db?.drop()
  await pg?.stop()
  await tmp?.cleanup()
})

async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: { ...process.env }, cwd: root }
  const code = await cli([...args, '--report', 'json'], io)
  const text = stdout.text()
  return { code, report: (text.trim() ? JSON.parse(text) : undefined) as RunReport, stderr: stderr.text() }
}

const sinkUri = (table: string) => `postgres://postgres@127.0.0.1:${pg.port}/${db.name}?table=${table}`
const usersFilter = '{"source":["users"]}'
const mapping = ['--key', 'id', '--column', 'id=detail.aggregateId', '--column', 'name=detail.name', '--column', 'version=detail.version', '--version-column', 'version']
const deletes = ['--delete-when', '{"detail-type":["UserDeleted"]}']

async function usersTable(name: string) {
  await db.sql.unsafe(`create table ${name} (id text primary key, name text not null, version int not null)`)
}

async function rows(table: string) {
  return [...(await db.sql.unsafe(`select id, name, version from ${table} order by id`))].map((r) => ({ ...r }))
}

/** What the table must hold: the users events applied in file order with the version guard. */
function expectedUsers({ withDeletes }: { withDeletes: boolean }) {
  const table = new Map<string, { id: string; name: string; version: number }>()
  for (const e of examples) {
    if (e.source !== 'users') continue
    const { aggregateId: id, version, name } = e.detail
    const current = table.get(id)
    if (withDeletes && e['detail-type'] === 'UserDeleted') {
      if (current && current.version < version) table.delete(id)
    } else if (!current || current.version < version) table.set(id, { id, name, version })
  }
  return [...table.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

function addsUp(report: RunReport) {
  assert.is(report.filter.matched + report.filter.unmatched, report.source.read, 'every event read is matched or not')
  assert.is(report.sink.written + report.sink.skipped + report.sink.failed, report.sink.received, 'every event received is written, skipped or failed')
  assert.is(report.sink.received, report.filter.matched, 'every matched event reached the sink')
}

test('fills the users table from the examples with deletes, and a rerun changes nothing', async () => {
  await usersTable('users')
  const users = examples.filter((e) => e.source === 'users').length
  const first = await hydrate(['--source', `json:${EXAMPLE}`, '--filter', usersFilter, '--sink', sinkUri('users'), ...mapping, ...deletes])
  assert.is(first.code, 0, first.stderr)
  assert.is(first.report.status, 'ok')
  assert.is(first.report.source.read, 2000)
  assert.is(first.report.filter.matched, users)
  addsUp(first.report)
  assert.is(first.report.sink.failed, 0)
  const expected = expectedUsers({ withDeletes: true })
  assert.ok(expected.length > 10 && expected.length < users, 'the example has both kept and deleted users')
  assert.equal(await rows('users'), expected)

  const second = await hydrate(['--source', `json:${EXAMPLE}`, '--filter', usersFilter, '--sink', sinkUri('users'), ...mapping, ...deletes])
  assert.is(second.code, 0, second.stderr)
  addsUp(second.report)
  const upserts = examples.filter((e) => e.source === 'users' && e['detail-type'] !== 'UserDeleted').length
  // Every upsert is stale now. A delete of a row that is already gone changes nothing and is skipped
  // (deleteOfMissing); a delete older than a row re-created later is skipped as stale.
  assert.ok(second.report.sink.skipped >= upserts, `every upsert is skipped: ${JSON.stringify(second.report.sink)}`)
  assert.ok(second.report.sink.written <= users - upserts, 'only deletes can count as written')
  assert.equal(await rows('users'), expected, 'the rerun changed nothing')
})

test('shuffled events leave the same final table when a version column is given', async () => {
  await usersTable('ordered')
  await usersTable('shuffled')
  const ordered = await hydrate(['--source', `json:${EXAMPLE}`, '--filter', usersFilter, '--sink', sinkUri('ordered'), ...mapping])
  assert.is(ordered.code, 0, ordered.stderr)
  let seed = 7
  const shuffled = [...examples]
  for (let i = shuffled.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    const j = seed % (i + 1)
    ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
  }
  const file = await tmp.file('shuffled.ndjson', shuffled.map((e) => JSON.stringify(e)).join('\n') + '\n')
  // Small batches and several in flight: ordering across batches is the version guard's job.
  const run = await hydrate(['--source', `json:${file}`, '--filter', usersFilter, '--sink', sinkUri('shuffled'), ...mapping, '--batch-size', '7', '--concurrency', '4'])
  assert.is(run.code, 0, run.stderr)
  addsUp(run.report)
  assert.ok(run.report.sink.skipped > 0, 'some shuffled events arrived after a newer one and were skipped as stale')
  const expected = expectedUsers({ withDeletes: false })
  assert.equal(await rows('ordered'), expected)
  assert.equal(await rows('shuffled'), expected)
})

test('a dry run checks the table and writes nothing; previews show the planned writes', async () => {
  await usersTable('dry')
  const r = await hydrate(['--source', `json:${EXAMPLE}`, '--filter', usersFilter, '--sink', sinkUri('dry'), ...mapping, ...deletes, '--dry-run'])
  assert.is(r.code, 0, r.stderr)
  addsUp(r.report)
  assert.is(r.report.dryRun, true)
  assert.equal(await rows('dry'), [])
  const previews = r.report.sink.previews ?? []
  assert.ok(previews.length > 0)
  assert.match(JSON.stringify(previews[0]), /^\{"op":"(insert|update|delete|skip)",("reason":"\w+",)?"key":\{"id":/)
})

test('a missing table or column stops the run with exit 2 before any event is read', async () => {
  const missing = await hydrate(['--source', `json:${EXAMPLE}`, '--sink', sinkUri('nope'), ...mapping])
  assert.is(missing.code, 2, missing.stderr)
  assert.match(missing.stderr, /table `nope` does not exist/)
  assert.is(missing.report?.source.read ?? 0, 0)
  await db.sql.unsafe('create table narrow (id text primary key, version int)')
  const column = await hydrate(['--source', `json:${EXAMPLE}`, '--sink', sinkUri('narrow'), ...mapping])
  assert.is(column.code, 2, column.stderr)
  assert.match(column.stderr, /has no column `name`/)
  assert.is(column.report?.source.read ?? 0, 0)
})

test('a row PostgreSQL rejects is a failure with its key and message; the run is partial, the rest written', async () => {
  await db.sql.unsafe(`create table picky (id text primary key, name text not null check (name not like '%7'), version int not null)`)
  const r = await hydrate(['--source', `json:${EXAMPLE}`, '--filter', usersFilter, '--sink', sinkUri('picky'), ...mapping])
  assert.is(r.code, 1, r.stderr)
  assert.is(r.report.status, 'partial')
  addsUp(r.report)
  assert.ok(r.report.sink.failed > 0)
  const sample = r.report.failures.samples[0]!
  assert.is(sample.code, 'ERR_WRITE_REJECTED')
  assert.match(sample.message, /picky_name_check/)
  assert.ok(sample.key && typeof sample.key === 'object' && 'id' in sample.key, JSON.stringify(sample))
  const stored = await rows('picky')
  assert.ok(stored.length > 0 && stored.every((row) => !String(row.name).endsWith('7')))
})

test.run()
