// Dry runs of toDynamo that show a plan: against a table that already holds items (some newer,
// some older, some missing), a dry run reads what it needs (BatchGetItem), writes nothing, and
// counts exactly what the real run that follows on the same state does.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { toDynamo } from '../../lib/dynamo/sink.js'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import { batchGetInput, planWrite } from '../../lib/dynamo/plan.js'
import { toWrite } from '../../lib/dynamo/items.js'
import { compileMapping, type Mapping } from '../../lib/mapping.js'
import { run } from '../../lib/run.js'
import { formatReport } from '../../lib/report/format.js'
import type { RunReport } from '../../lib/report/report.js'
import { tracked } from '../helpers.js'
import { createTable, dynamoClients, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { dynamoOperation, type FaultProxy } from '../servers/fault-proxy.js'

const test = suite('toDynamo: dry runs with a plan')

let proxy: FaultProxy
let raw: DynamoDBClient
let doc: DynamoDBDocumentClient
let viaProxy: ReturnType<typeof dynamoClients>
let bed: DynamoTestbed
let tables = 0

const FAST = { minDelayMs: 1, maxDelayMs: 5 } as const

test.before(async () => {
  bed = await startDynamoTestbed()
  ;({ proxy, raw, doc, viaProxy } = bed)
})

test.after(() => bed.close())

test.after.each(() => proxy.setRules([]))

const mapping: Mapping = {
  columns: { id: 'detail.id', v: 'detail.version', status: 'detail.status', payload: 'detail.payload' },
  key: ['id'],
  versionColumn: 'v',
  deleteWhen: { 'detail-type': ['Deleted'] },
}

type Ev = { id: string; 'detail-type': string; detail: { id: unknown; version: number; status?: string; payload?: string } }
let n = 0
const put = (id: unknown, version: number, extra: { payload?: string } = {}): Ev => ({ id: `ev${++n}`, 'detail-type': 'Changed', detail: { id, version, status: `s${version}`, ...extra } })
const del = (id: string, version: number): Ev => ({ id: `ev${++n}`, 'detail-type': 'Deleted', detail: { id, version } })

/** What the table holds before each run: `a` newer than the events, `b` older, `c` and `d` to be deleted. */
const STORED = [
  { id: 'a', v: 5, status: 'stored' },
  { id: 'b', v: 1, status: 'stored' },
  { id: 'c', v: 3, status: 'stored' },
  { id: 'd', v: 9, status: 'stored' },
]

/** Batches of 4: what the real write of each event does is in the comment. */
const EVENTS: Ev[] = [
  // batch 1
  put('a', 2), // stale: a holds 5
  put('b', 2), // duplicateInBatch: b 3 follows in this batch
  put('b', 3), // update of b 1
  put('e', 1), // insert
  // batch 2
  del('c', 4), // delete of c 3
  del('d', 2), // stale: d holds 9
  del('f', 1), // deleteOfMissing
  put('e', 1), // stale: e 1 from batch 1 (a duplicate across batches)
  // batch 3
  put('e', 2), // update of e 1, written in batch 1
  put('c', 5), // insert: c was deleted in batch 2
  put('b', 1), // stale: b 3 from batch 1
  put('g', 1), // insert
  // batch 4
  put('h', 1, { payload: 'x'.repeat(401 * 1024) }), // fails: over 400 KB
  put('f', 2), // insert
  put('a', 6), // update of a 5
  del('g', 2), // delete of g 1 from batch 3
  // batch 5
  put(17, 1), // fails: the table's key is a string
]

async function freshTable(): Promise<string> {
  const name = `plan${++tables}`
  await createTable(raw, name, { partition: ['id', 'S'] })
  for (const item of STORED) await doc.send(new PutCommand({ TableName: name, Item: item }))
  return name
}

async function items(table: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  for await (const item of scanDynamo<Record<string, unknown>>({ client: doc, tableName: table, consistentRead: true })) out.push(item)
  return out.sort((x, y) => String(x.id).localeCompare(String(y.id)))
}

const counts = (r: RunReport) => ({ written: r.sink.written, skipped: r.sink.skipped, deleted: r.sink.deleted, failed: r.sink.failed, skippedBy: r.sink.skippedBy })

test('a dry run writes nothing and counts what the real run on the same state does; previews show current and next', async () => {
  const table = await freshTable()
  const sink = () => toDynamo({ client: doc, tableName: table, mapping, batchSize: 4, concurrency: 2, retry: FAST })
  const dry = await run({ source: tracked(EVENTS).source, sink: sink(), dryRun: true })
  assert.equal(await items(table), STORED, 'a dry run writes nothing')
  assert.equal(dry.sink.plan, { wouldInsert: 4, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 6, exact: true })
  assert.equal(dry.sink.skippedBy, { stale: 4, duplicateInBatch: 1, deleteOfMissing: 1 })
  assert.equal(counts(dry), { written: 9, skipped: 6, deleted: 2, failed: 2, skippedBy: dry.sink.skippedBy })
  assert.equal(dry.failures.samples.map((f) => f.code).sort(), ['ERR_ITEM_TOO_LARGE', 'ERR_WRITE_REJECTED'])
  assert.equal(dry.sink.previews, [
    { op: 'skip', reason: 'stale', key: { id: 'a' }, current: { id: 'a', v: 5 }, next: { id: 'a', v: 2, status: 's2' } },
    { op: 'skip', reason: 'duplicateInBatch', key: { id: 'b' }, next: { id: 'b', v: 2, status: 's2' } },
    { op: 'update', key: { id: 'b' }, current: { id: 'b', v: 1 }, next: { id: 'b', v: 3, status: 's3' } },
    { op: 'insert', key: { id: 'e' }, next: { id: 'e', v: 1, status: 's1' } },
    { op: 'delete', key: { id: 'c' }, current: { id: 'c', v: 3 } },
  ])
  assert.match(formatReport(dry), /plan {5}would insert 4, update 3, delete 2, skip 6 \(read from the target/)

  const real = await run({ source: tracked(EVENTS).source, sink: sink() })
  assert.equal(counts(real), counts(dry), 'the real run does what the plan said')
  assert.equal(real.failures.samples.map((f) => f.code).sort(), ['ERR_ITEM_TOO_LARGE', 'ERR_WRITE_REJECTED'])
  assert.equal(await items(table), [
    { id: 'a', v: 6, status: 's6' },
    { id: 'b', v: 3, status: 's3' },
    { id: 'c', v: 5, status: 's5' },
    { id: 'd', v: 9, status: 'stored' },
    { id: 'e', v: 2, status: 's2' },
    { id: 'f', v: 2, status: 's2' },
  ])
})

test('unversioned: inserts, updates, deletes of present and missing items, duplicates, the same counts dry and real', async () => {
  const table = await freshTable()
  const unversioned: Mapping = { columns: { id: 'detail.id', status: 'detail.status' }, key: ['id'], deleteWhen: { 'detail-type': ['Deleted'] } }
  const events = [put('a', 1), put('x', 1), put('x', 2), del('b', 1), del('zz', 1), put('a', 2), del('x', 3), put('c', 1), put('k'.repeat(2049), 1)]
  const sink = () => toDynamo({ client: doc, tableName: table, mapping: unversioned, batchSize: 3 })
  const dry = await run({ source: tracked(events).source, sink: sink(), dryRun: true })
  assert.equal(dry.sink.plan, { wouldInsert: 1, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 2, exact: true })
  assert.equal(dry.sink.skippedBy, { duplicateInBatch: 1, deleteOfMissing: 1 })
  assert.match(dry.failures.samples[0]!.message, /2049 bytes, over DynamoDB's limit of 2048/)
  const real = await run({ source: tracked(events).source, sink: sink() })
  assert.equal(counts(real), counts(dry))
  assert.equal(dry.failures.samples.map((f) => f.code), ['ERR_ITEM_TOO_LARGE'])
  assert.equal(real.failures.samples.map((f) => f.code), ['ERR_ITEM_TOO_LARGE'], 'DynamoDB refuses a partition key over 2048 bytes')
  assert.equal((await items(table)).map((i) => [i.id, i.status]), [['a', 's2'], ['c', 's1'], ['d', 'stored']])
})

test('UnprocessedKeys of the reads are retried under the sink\'s policy and counted', async () => {
  const table = await freshTable()
  let refused = 0
  proxy.setRules([
    {
      name: 'unprocessed-keys',
      match: (r) => dynamoOperation(r) === 'BatchGetItem',
      times: 3,
      action: (request) => {
        // DynamoDB hands back every key of the request unread, with the request's own settings.
        const input = JSON.parse(request.body.toString()) as { RequestItems: Record<string, unknown> }
        refused++
        return { kind: 'respond', status: 200, headers: { 'x-amz-crc32': '' }, body: JSON.stringify({ Responses: {}, UnprocessedKeys: input.RequestItems }) }
      },
    },
  ])
  const dry = await run({ source: tracked(EVENTS).source, sink: toDynamo({ client: viaProxy.doc, tableName: table, mapping, batchSize: 4, retry: FAST }), dryRun: true })
  assert.is(refused, 3)
  assert.is(dry.sink.retries.UnprocessedKeys, 3)
  assert.equal(dry.sink.plan, { wouldInsert: 4, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 6, exact: true })
})

test('reads that stay unprocessed fail their batch with ERR_RETRIES_EXHAUSTED; nothing is written', async () => {
  const table = await freshTable()
  proxy.setRules([
    {
      match: (r) => dynamoOperation(r) === 'BatchGetItem',
      action: (request) => {
        const input = JSON.parse(request.body.toString()) as { RequestItems: Record<string, unknown> }
        return { kind: 'respond', status: 200, headers: { 'x-amz-crc32': '' }, body: JSON.stringify({ Responses: {}, UnprocessedKeys: input.RequestItems }) }
      },
    },
  ])
  const events = [put('a', 7), put('q', 1)]
  const dry = await run({ source: tracked(events).source, sink: toDynamo({ client: viaProxy.doc, tableName: table, mapping, retry: { ...FAST, attempts: 2 } }), dryRun: true })
  assert.is(dry.sink.failed, 2)
  assert.ok(dry.failures.samples.every((f) => f.code === 'ERR_RETRIES_EXHAUSTED'), JSON.stringify(dry.failures.samples))
  assert.match(dry.failures.samples[0]!.message, /UnprocessedKeys/)
  assert.equal(await items(table), STORED)
})

test('past maxPlannedKeys the plan forgets keys and says it is not exact', async () => {
  const table = await freshTable()
  const dry = await run({ source: tracked(EVENTS).source, sink: toDynamo({ client: doc, tableName: table, mapping, batchSize: 4, maxPlannedKeys: 2 }), dryRun: true })
  assert.is(dry.sink.plan?.exact, false)
  assert.match(formatReport(dry), /approximate/)
})

test('the read request holds only the keys, projected to the key and version attributes, strongly consistent', () => {
  assert.equal(batchGetInput('orders', [{ id: 'a' }, { id: 'b' }], ['id', 'v']), {
    RequestItems: {
      orders: {
        Keys: [{ id: { S: 'a' } }, { id: { S: 'b' } }],
        ProjectionExpression: '#a0, #a1',
        ExpressionAttributeNames: { '#a0': 'id', '#a1': 'v' },
        ConsistentRead: true,
      },
    },
  })
})

test('planWrite decides as the conditional write does (a stored version that is not a lower number is stale)', () => {
  const m = compileMapping(mapping)
  const w = (e: Ev) => toWrite(m.toRow(e), ['id'])
  assert.is(planWrite(w(put('a', 3)), null, 'v').op, 'insert')
  assert.is(planWrite(w(put('a', 3)), { id: 'a', v: 2 }, 'v').op, 'update')
  assert.equal(planWrite(w(put('a', 3)), { id: 'a', v: 3 }, 'v'), { op: 'skip', reason: 'stale', key: { id: 'a' }, current: { id: 'a', v: 3 }, next: { id: 'a', v: 3, status: 's3' } })
  assert.is(planWrite(w(put('a', 3)), { id: 'a' }, 'v').op, 'skip', 'no version stored: the condition fails')
  assert.is(planWrite(w(put('a', 3)), { id: 'a', v: '1' }, 'v').op, 'skip', 'a string version: the condition fails')
  assert.is(planWrite(w(del('a', 3)), null, 'v').op, 'skip')
  assert.is(planWrite(w(del('a', 3)), { id: 'a', v: 1n }, 'v').op, 'delete')
})

test.run()
