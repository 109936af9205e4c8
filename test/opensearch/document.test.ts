// toOpenSearch without a mapping or `idPath`: each event is the document, its `_id` the event's
// `id`. The one-liner `hydrate --source json:<file> --sink opensearch:<url>/<index>` runs here through
// the CLI in-process against the protocol-level test server.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@opensearch-project/opensearch'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import { toOpenSearch } from '../../lib/opensearch/sink.js'
import type { ItemFailure } from '../../lib/types.js'
import type { RunReport } from '../../lib/report/report.js'
import { assertCounts, captured, events, ndjson, readableOf, tempDir, tracked } from '../helpers.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'

const test = suite('toOpenSearch without a mapping: events as documents')

let server: OpenSearchTestServer
let client: Client
let tmp: Awaited<ReturnType<typeof tempDir>>
let indexNo = 0

test.before(async () => {
  server = await startOpenSearchServer()
  client = new Client({ node: server.url })
  tmp = await tempDir()
})

test.after(async () => {
  await client.close()
  await server.close()
  await tmp.cleanup()
})

async function freshIndex(): Promise<string> {
  const index = `docs-${++indexNo}`
  await client.indices.create({ index })
  return index
}

async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: { PATH: process.env.PATH }, cwd: tmp.dir }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

const byId = (a: { id?: unknown }, b: { id?: unknown }) => String(a.id).localeCompare(String(b.id))

test('the one-liner: hydrate --source json:<file> --sink opensearch:<url>/<index> indexes each event with its id as _id', async () => {
  const index = await freshIndex()
  const input = events(12)
  const file = await tmp.file('events.ndjson', ndjson(input))
  const r = await hydrate(['--source', `json:${file}`, '--sink', `opensearch:${server.url}/${index}`, '--report', 'json'])
  assert.is(r.code, 0, r.stderr + r.stdout)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.sink.written, 12)
  const docs = server.documents(index)
  assert.equal(docs.map((d) => d._id), input.map((e) => String(e.id)).sort())
  assert.equal(docs.map((d) => d._source), [...input].sort(byId))
})

test('through the CLI, an event without an id fails with ERR_MAPPING naming `id`; the rest is indexed', async () => {
  const index = await freshIndex()
  const file = await tmp.file('no-id.ndjson', ndjson([{ id: 'x1', n: 1 }, { n: 2 }, { id: null, n: 3 }, { id: 'x2', n: 4 }]))
  const r = await hydrate(['--source', `json:${file}`, '--sink', `opensearch:${server.url}/${index}`, '--report', 'json'])
  assert.is(r.code, 1, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.equal([report.sink.written, report.sink.failed], [2, 2])
  for (const f of report.failures.samples) {
    assert.is(f.code, 'ERR_MAPPING')
    assert.match(f.message, /the event has no `id`, which is the document _id/)
  }
  assert.equal(server.documents(index).map((d) => d._id), ['x1', 'x2'])
})

test('a dry run through the CLI plans inserts and updates from the index, and writes nothing', async () => {
  const index = await freshIndex()
  const first = await tmp.file('first.ndjson', ndjson(events(3)))
  assert.is((await hydrate(['--source', `json:${first}`, '--sink', `opensearch:${server.url}/${index}`, '--quiet'])).code, 0)
  const again = await tmp.file('again.ndjson', ndjson(events(5, () => ({ again: true }))))
  const r = await hydrate(['--source', `json:${again}`, '--sink', `opensearch:${server.url}/${index}`, '--dry-run', '--report', 'json'])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.equal(report.sink.plan, { wouldInsert: 2, wouldUpdate: 3, wouldDelete: 0, wouldSkip: 0, exact: true })
  assert.equal(report.sink.previews[0], { op: 'update', key: 'e0', current: { _version: 1 }, next: events(1, () => ({ again: true }))[0] })
  assert.ok(server.documents(index).every((d) => d._source.again === undefined), 'nothing written')
})

test('from code: toOpenSearch({ client, index }) does the same; idPath and a mapping still override', async () => {
  const index = await freshIndex()
  const failures: ItemFailure[] = []
  const result = await toOpenSearch({ client, index })(tracked([{ id: 7, a: 1 }, { a: 2 }, { id: 8, a: 3 }]).source, { onFailure: (f) => failures.push(f) })
  assertCounts(result)
  assert.equal([result.written, result.failed], [2, 1])
  assert.match(failures[0]!.message, /no `id`/)
  assert.equal(server.documents(index).map((d) => [d._id, d._source]), [['7', { id: 7, a: 1 }], ['8', { id: 8, a: 3 }]])

  const other = await freshIndex()
  await toOpenSearch({ client, index: other, idPath: 'detail.aggregateId' })(tracked(events(3)).source)
  await toOpenSearch({ client, index: other, mapping: { columns: { key: 'id', v: 'detail.version' }, key: ['key'] } })(tracked(events(1)).source)
  assert.equal(server.documents(other).map((d) => d._id), ['a0', 'a1', 'a2', 'e0'])
  assert.equal(server.documents(other).find((d) => d._id === 'e0')!._source, { key: 'e0', v: 0 })
})

test.run()
