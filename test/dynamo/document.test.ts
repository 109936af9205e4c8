// toDynamo without a mapping: each event is the item, its key attributes (the table's KeySchema)
// taken from the event. The README's one-liner, `hydrate --source json:<file> --sink dynamo:<table>`,
// runs here through the CLI in-process against dynalite.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import { toDynamo } from '../../lib/dynamo/sink.js'
import { documentRow } from '../../lib/dynamo/document.js'
import { toWrite } from '../../lib/dynamo/items.js'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import { HydratorError } from '../../lib/errors.js'
import type { ItemFailure } from '../../lib/types.js'
import type { RunReport } from '../../lib/report/report.js'
import { assertCounts, captured, events, ndjson, readableOf, tempDir, tracked } from '../helpers.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'

const test = suite('toDynamo without a mapping: events as items')

let server: DynaliteServer
let raw: DynamoDBClient
let doc: DynamoDBDocumentClient
let destroy: () => void
let tmp: Awaited<ReturnType<typeof tempDir>>
let tables = 0

test.before(async () => {
  server = await startDynalite()
  const clients = dynamoClients(server.endpoint)
  raw = clients.client
  doc = clients.doc
  destroy = clients.destroy
  tmp = await tempDir()
})

test.after(async () => {
  destroy()
  await server.close()
  await tmp.cleanup()
})

async function items(table: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  for await (const item of scanDynamo<Record<string, unknown>>({ client: doc, tableName: table, consistentRead: true })) out.push(item)
  return out.sort((x, y) => String(x.id).localeCompare(String(y.id)) || Number(x.seq) - Number(y.seq))
}

/** `hydrate ...args` in this process, with the AWS settings of a local endpoint in its environment. */
async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const env = {
    PATH: process.env.PATH,
    AWS_ENDPOINT_URL_DYNAMODB: server.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  }
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env, cwd: tmp.dir }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

test('the README one-liner: hydrate --source json:<file> --sink dynamo:<table> writes each event as the item', async () => {
  const table = `events${++tables}`
  await createTable(raw, table, { partition: ['id', 'S'] })
  const input = events(12)
  const file = await tmp.file('events.ndjson', ndjson(input))
  const r = await hydrate(['--source', `json:${file}`, '--sink', `dynamo:${table}`, '--report', 'json'])
  assert.is(r.code, 0, r.stderr + r.stdout)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.status, 'ok')
  assert.is(report.sink.written, 12)
  assert.equal(await items(table), [...input].sort((x, y) => String(x.id).localeCompare(String(y.id))))
})

test('through the CLI, an event without the key attribute (or of the wrong type) fails naming it and the table', async () => {
  const table = `events${++tables}`
  await createTable(raw, table, { partition: ['id', 'S'] })
  const file = await tmp.file('some-bad.ndjson', ndjson([{ id: 'ok1', n: 1 }, { n: 2 }, { id: 7, n: 3 }, { id: 'ok2', n: 4 }]))
  const r = await hydrate(['--source', `json:${file}`, '--sink', `dynamo:${table}`, '--report', 'json'])
  assert.is(r.code, 1, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.status, 'partial')
  assert.equal([report.sink.written, report.sink.skipped, report.sink.failed], [2, 0, 2])
  const [missing, wrong] = report.failures.samples
  assert.is(missing!.code, 'ERR_MAPPING')
  assert.match(missing!.message, new RegExp(`no \`id\`, the partition key of table \`${table}\``))
  assert.is(wrong!.code, 'ERR_MAPPING')
  assert.match(wrong!.message, new RegExp(`\`id\` of the event is a number, but table \`${table}\` declares .* as S`))
  assert.equal((await items(table)).map((i) => i.id), ['ok1', 'ok2'])
})

test('a dry run through the CLI plans the inserts and updates, and writes nothing', async () => {
  const table = `events${++tables}`
  await createTable(raw, table, { partition: ['id', 'S'] })
  const first = await tmp.file('first.ndjson', ndjson(events(3)))
  assert.is((await hydrate(['--source', `json:${first}`, '--sink', `dynamo:${table}`, '--quiet'])).code, 0)
  const file = await tmp.file('again.ndjson', ndjson(events(5, () => ({ again: true }))))
  const r = await hydrate(['--source', `json:${file}`, '--sink', `dynamo:${table}`, '--dry-run', '--report', 'json'])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.equal(report.sink.plan, { wouldInsert: 2, wouldUpdate: 3, wouldDelete: 0, wouldSkip: 0, exact: true })
  assert.equal((report.sink.previews[0] as { op: string; key: unknown }).op, 'update')
  assert.equal((report.sink.previews[0] as { op: string; key: unknown }).key, { id: 'e0' })
  assert.ok((await items(table)).every((i) => i.again === undefined), 'nothing written')
})

test('from code: toDynamo({ client, tableName }) takes a composite key from the event; a missing sort key fails alone', async () => {
  const table = `streams${++tables}`
  await createTable(raw, table, { partition: ['stream', 'S'], sort: ['seq', 'N'] })
  const failures: ItemFailure[] = []
  const input = [
    { stream: 's1', seq: 1, body: { a: [1, 'x'] } },
    { stream: 's1', seq: 2, body: null },
    { stream: 's1', body: {} },
    { stream: 's2', seq: '3' },
  ].map((e) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>)
  const result = await toDynamo({ client: doc, tableName: table })(tracked(input).source, { onFailure: (f) => failures.push(f) })
  assertCounts(result)
  assert.equal([result.written, result.failed], [2, 2])
  assert.match(failures[0]!.message, new RegExp(`no \`seq\`, the sort key of table \`${table}\` \\(a number\\)`))
  assert.match(failures[1]!.message, /`seq` of the event is a string, but .* as N/)
  const stored: Record<string, unknown>[] = []
  for await (const item of scanDynamo<Record<string, unknown>>({ client: doc, tableName: table, consistentRead: true })) stored.push(item)
  assert.equal(stored[0], { stream: 's1', seq: 1, body: { a: [1, 'x'] } })
  assert.equal(stored[1], { stream: 's1', seq: 2 }, 'a null attribute is left out')
})

test('a mapping still overrides: --column/--key (or `mapping`) decide the item', async () => {
  const table = `events${++tables}`
  await createTable(raw, table, { partition: ['pk', 'S'] })
  const result = await toDynamo({ client: doc, tableName: table, mapping: { columns: { pk: 'detail.aggregateId', v: 'detail.version' }, key: ['pk'] } })(tracked(events(3)).source)
  assert.is(result.written, 3)
  assert.equal((await items(table)).map((i) => Object.keys(i).sort()), [['pk', 'v'], ['pk', 'v'], ['pk', 'v']])
})

test('keys such as constructor, toString and a nested __proto__ are written as data', async () => {
  const table = `events${++tables}`
  await createTable(raw, table, { partition: ['id', 'S'] })
  const event = JSON.parse('{"id":"h1","constructor":"c","toString":1,"detail":{"__proto__":{"x":1},"constructor":{"y":2}}}') as Record<string, unknown>
  // What is sent (dynalite itself drops __proto__ keys, see test/faults/hostile-keys.test.ts).
  const sent = toWrite(documentRow(event, [{ name: 'id', type: 'S' }], table), ['id']).attributes as Record<string, any>
  assert.equal(Object.getOwnPropertyDescriptor(sent.detail.M, '__proto__')?.value, { M: { x: { N: '1' } } })
  const result = await toDynamo({ client: doc, tableName: table })(tracked([event]).source)
  assert.is(result.written, 1)
  const [item] = await items(table)
  assert.is(item!.constructor, 'c')
  assert.is(item!.toString, 1)
  assert.equal((item!.detail as Record<string, unknown>).constructor, { y: 2 })
})

test('documentRow checks the key attributes against the types the table declares', () => {
  const key = [
    { name: 'pk', type: 'S' },
    { name: 'b', type: 'B' },
  ] as const
  assert.equal(documentRow({ pk: 'a', b: new Uint8Array([1]), x: 1 }, key, 't').keyString, '["a",{"0":1}]')
  for (const [event, message] of [
    [{ b: new Uint8Array([1]) }, /no `pk`, the partition key of table `t` \(a string\)/],
    [{ pk: '', b: new Uint8Array([1]) }, /`pk` of the event is an empty string, but table `t` declares its partition key `pk` as S \(a string, not empty\)/],
    [{ pk: 'a', b: 'AQ==' }, /`b` of the event is a string, but table `t` declares its sort key `b` as B/],
    [Object.create({ pk: 'inherited' }), /no `pk`/],
    [[1], /not an object/],
  ] as const) {
    try {
      documentRow(event, key, 't')
      assert.unreachable(JSON.stringify(event))
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, 'ERR_MAPPING')
      assert.match((error as Error).message, message)
    }
  }
})

test.run()
