process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import type { DynamoCursor } from '../../lib/dynamo/cursor.js'
import { positionOf } from '../../lib/position.js'
import { compilePattern } from '../../lib/pattern/index.js'
import { compileMapping } from '../../lib/mapping.js'
import { HydratorError } from '../../lib/errors.js'
import type { ItemFailure } from '../../lib/types.js'
import { at } from '../helpers.js'
import { createTable, dynamoClients, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { dynamoFaults, isDynamoOp, type FaultProxy } from '../servers/fault-proxy.js'

const test = suite('scanDynamo')

const STREAMS = 30
const PER_STREAM = 20
const TOTAL = STREAMS * PER_STREAM

let proxy: FaultProxy
let raw: DynamoDBClient
let doc: DynamoDBDocumentClient
let viaProxy: ReturnType<typeof dynamoClients>
let bed: DynamoTestbed

async function putAll(table: string, items: Record<string, unknown>[]) {
  for (let i = 0; i < items.length; i += 25) {
    await doc.send(new BatchWriteCommand({ RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }))
  }
}

async function drain<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const e of source) out.push(e)
  return out
}

type Ev = { stream: string; seq: number; type: string; data: { n: number; tags: string[] } }

/** Every stream's events in the order they came, checked ascending and complete. */
function assertStreamsInOrder(events: Ev[], streams = STREAMS, perStream = PER_STREAM) {
  const byStream = new Map<string, number[]>()
  for (const e of events) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e.seq])
  assert.is(byStream.size, streams)
  for (const [stream, seqs] of byStream) {
    assert.equal(seqs, Array.from({ length: perStream }, (_, i) => i), `stream ${stream} in sort-key order, complete`)
  }
}

test.before(async () => {
  bed = await startDynamoTestbed()
  ;({ proxy, raw, doc, viaProxy } = bed)
  await createTable(raw, 'events', { partition: ['stream', 'S'], sort: ['seq', 'N'] })
  const items: Ev[] = []
  // Interleaved on purpose: storage order must not follow insertion order.
  for (let seq = PER_STREAM - 1; seq >= 0; seq--) {
    for (let s = 0; s < STREAMS; s++) items.push({ stream: `s${s}`, seq, type: seq % 2 ? 'Odd' : 'Even', data: { n: s * 100 + seq, tags: ['a', 'b'] } })
  }
  await putAll('events', items)
})

test.after(() => bed.close())

test('reads every item once across pages, as plain JS values with key positions', async () => {
  const source = scanDynamo<Ev>({ client: doc, tableName: 'events', pageSize: 7 })
  const events = await drain(source)
  assert.is(events.length, TOTAL)
  assert.is(new Set(events.map((e) => `${e.stream}/${e.seq}`)).size, TOTAL)
  assert.equal(events[0]!.data.tags, ['a', 'b'])
  assert.type(events[0]!.seq, 'number')
  const position = positionOf(events[0])!
  const key = { stream: events[0]!.stream, seq: events[0]!.seq }
  assert.equal(position, { kind: 'dynamo', source: 'dynamo:events', key, cursor: { 0: key } }, 'the cursor goes on after the item')
  assert.is(source.stats.read, TOTAL)
  assert.equal(source.cursor(), { 0: null })
  assertStreamsInOrder(events)
})

test('parallel segments read everything once and keep each partition in sort-key order', async () => {
  const source = scanDynamo<Ev>({ client: doc, tableName: 'events', parallelism: 4, pageSize: 9 })
  const events = await drain(source)
  assert.is(events.length, TOTAL)
  assert.is(new Set(events.map((e) => `${e.stream}/${e.seq}`)).size, TOTAL)
  assertStreamsInOrder(events)
  assert.equal(source.cursor(), { 0: null, 1: null, 2: null, 3: null })
})

test('parallel segments read ahead at most one page per segment', async () => {
  const before = proxy.stats.requests
  const source = scanDynamo<Ev>({ client: viaProxy.doc, tableName: 'events', parallelism: 4, pageSize: 5 })
  const it = source[Symbol.asyncIterator]()
  await it.next()
  await new Promise((r) => setTimeout(r, 150))
  const requests = proxy.stats.requests - before
  // DescribeTable, then per segment one page handed out or buffered plus one being fetched.
  assert.ok(requests <= 1 + 4 * 2, `made ${requests} requests with one event pulled`)
  await it.return?.()
  await new Promise((r) => setTimeout(r, 50))
  const after = proxy.stats.requests
  await new Promise((r) => setTimeout(r, 100))
  assert.is(proxy.stats.requests, after, 'no requests after the consumer stopped')
})

test('segment and totalSegments split the table between two sources exactly once', async () => {
  const a = await drain(scanDynamo<Ev>({ client: doc, tableName: 'events', segment: 0, totalSegments: 2, pageSize: 11 }))
  const b = await drain(scanDynamo<Ev>({ client: doc, tableName: 'events', segment: 1, totalSegments: 2, pageSize: 11 }))
  assert.ok(a.length > 0 && b.length > 0, `both shares hold items (${a.length}, ${b.length})`)
  const keys = [...a, ...b].map((e) => `${e.stream}/${e.seq}`)
  assert.is(keys.length, TOTAL)
  assert.is(new Set(keys).size, TOTAL)
  assertStreamsInOrder([...a, ...b])
})

test('segment shares combine with parallelism and still cover the table once', async () => {
  const shares = await Promise.all(
    [0, 1, 2].map((segment) => drain(scanDynamo<Ev>({ client: doc, tableName: 'events', segment, totalSegments: 3, parallelism: 2 }))),
  )
  const keys = shares.flat().map((e) => `${e.stream}/${e.seq}`)
  assert.is(keys.length, TOTAL)
  assert.is(new Set(keys).size, TOTAL)
})

test('rejects a segment without totalSegments, or out of range, when called', () => {
  const bad: unknown[] = [
    { segment: 1 },
    { totalSegments: 4 },
    { segment: 4, totalSegments: 4 },
    { segment: -1, totalSegments: 4 },
    { parallelism: 0 },
    { pageSize: 0 },
  ]
  for (const extra of bad) {
    try {
      scanDynamo({ client: doc, tableName: 'events', ...(extra as object) } as never)
      assert.unreachable(`accepted ${JSON.stringify(extra)}`)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION', JSON.stringify(extra))
    }
  }
})

test('applies a server-side filter expression', async () => {
  const events = await drain(
    scanDynamo<Ev>({
      client: doc,
      tableName: 'events',
      pageSize: 13,
      filterExpression: '#t = :t AND #d.#n >= :n',
      expressionAttributeNames: { '#t': 'type', '#d': 'data', '#n': 'n' },
      expressionAttributeValues: { ':t': 'Odd', ':n': 1000 },
    }),
  )
  assert.ok(events.length > 0)
  assert.ok(events.every((e) => e.type === 'Odd' && e.data.n >= 1000))
  assert.is(events.length, (STREAMS - 10) * (PER_STREAM / 2))
})

test('projects the named attributes plus the key', async () => {
  const events = await drain(scanDynamo<Record<string, unknown>>({ client: doc, tableName: 'events', projection: ['type'] }))
  assert.is(events.length, TOTAL)
  assert.equal(Object.keys(events[0]!).sort(), ['seq', 'stream', 'type'])
})

test('resumes from a cursor: nothing lost, at most the page in hand read again', async () => {
  const pageSize = 10
  const first = scanDynamo<Ev>({ client: doc, tableName: 'events', parallelism: 3, pageSize })
  const seen: Ev[] = []
  for await (const e of first) {
    seen.push(e)
    if (seen.length === 137) break
  }
  const cursor: DynamoCursor = JSON.parse(JSON.stringify(first.cursor()))
  assert.ok(Object.keys(cursor).length > 0, 'the cursor has progress')
  const rest = await drain(scanDynamo<Ev>({ client: doc, tableName: 'events', parallelism: 3, pageSize, resume: cursor }))
  const keys = new Set([...seen, ...rest].map((e) => `${e.stream}/${e.seq}`))
  assert.is(keys.size, TOTAL, 'every item read')
  const again = seen.length + rest.length - TOTAL
  assert.ok(again >= 0 && again <= pageSize, `${again} items read twice`)
})

test('resumeFrom an event\'s position reads exactly the rest, with parallel segments', async () => {
  const options = { client: doc, tableName: 'events', parallelism: 3, pageSize: 10 }
  for (const k of [1, 10, 11, 137, 400, TOTAL - 1, TOTAL]) {
    const seen: Ev[] = []
    for await (const e of scanDynamo<Ev>(options)) {
      seen.push(e)
      if (seen.length === k) break
    }
    // Through JSON, as a checkpoint file keeps it.
    const mark = JSON.parse(JSON.stringify(positionOf(seen[k - 1])))
    const source = scanDynamo<Ev>({ ...options, resumeFrom: mark })
    const rest = await drain(source)
    const keys = new Set([...seen, ...rest].map((e) => `${e.stream}/${e.seq}`))
    assert.is(keys.size, TOTAL, `after ${k}: every item read`)
    assert.is(seen.length + rest.length, TOTAL, `after ${k}: none read twice`)
    assert.equal(source.stats.startedAt, mark, 'the report says where it started')
  }
})

test('resumeFrom a position without a DynamoDB cursor is refused', () => {
  try {
    scanDynamo({ client: doc, tableName: 'events', resumeFrom: { kind: 'line', source: 'events.ndjson', file: 'events.ndjson', line: 3, offset: 0 } })
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_CHECKPOINT_MISMATCH')
    assert.match((error as Error).message, /not the position of an event read from DynamoDB/)
  }
})

test('rejects a cursor from other segment settings', () => {
  try {
    scanDynamo({ client: doc, tableName: 'events', segment: 0, totalSegments: 2, resume: { 1: null } })
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_CHECKPOINT_MISMATCH')
  }
})

test('unwraps changesets into their events in order, each keeping stream and changeset ids', async () => {
  await createTable(raw, 'changesets', { partition: ['stream_id', 'S'], sort: ['changeset_id', 'N'] })
  const items = []
  for (let c = 1; c <= 5; c++) {
    items.push({
      stream_id: 'order-1',
      changeset_id: c,
      events: JSON.stringify([
        { type: 'A', n: c * 10 + 1 },
        { type: 'B', n: c * 10 + 2 },
      ]),
      metadata: { user: 'u1' },
    })
  }
  items.push({ stream_id: 'order-2', changeset_id: 1, events: '[{"type":"A", "n": 1}, {"broken', metadata: {} })
  items.push({ stream_id: 'order-2', changeset_id: 2, events: '[{"type":"C","n":2}]', metadata: {} })
  items.push({ stream_id: 'order-2', changeset_id: 3, events: '[{"type":"D","n":3}, 5]', metadata: {} })
  await putAll('changesets', items)

  const failures: ItemFailure[] = []
  const source = scanDynamo<Record<string, unknown>>({
    client: doc,
    tableName: 'changesets',
    pageSize: 2,
    unwrap: { field: 'events', keep: ['stream_id', 'changeset_id'] },
    onFailure: (f) => failures.push(f),
  })
  const events = await drain(source)
  const order1 = events.filter((e) => e.stream_id === 'order-1')
  assert.equal(
    order1.map((e) => e.n),
    [11, 12, 21, 22, 31, 32, 41, 42, 51, 52],
  )
  assert.equal(order1[0], { stream_id: 'order-1', changeset_id: 1, type: 'A', n: 11 })
  // The last event of an item moves the cursor past it; an earlier one leaves it before the item.
  const first = { stream_id: 'order-1', changeset_id: 1 }
  assert.equal(positionOf(order1[1]), { kind: 'dynamo', source: 'dynamo:changesets', key: first, part: 1, cursor: { 0: first } })
  assert.equal(positionOf(order1[2]), { kind: 'dynamo', source: 'dynamo:changesets', key: { stream_id: 'order-1', changeset_id: 2 }, part: 0, cursor: { 0: first } })
  assert.equal(
    events.filter((e) => e.stream_id === 'order-2').map((e) => e.type),
    ['C', 'D'],
    'reading goes on after the broken changeset',
  )
  assert.is(failures.length, 2)
  assert.is(failures[0]!.code, 'ERR_INVALID_JSON')
  assert.equal(failures[0]!.position, { kind: 'dynamo', source: 'dynamo:changesets', key: { stream_id: 'order-2', changeset_id: 1 } })
  assert.match(failures[0]!.message, /order-2/)
  assert.is(failures[1]!.code, 'ERR_NOT_AN_OBJECT')
  assert.equal(failures[1]!.position, { kind: 'dynamo', source: 'dynamo:changesets', key: { stream_id: 'order-2', changeset_id: 3 }, part: 1 })
  assert.is(source.stats.failed, 2)
  assert.is(source.stats.read, 12)
})

test('resumeFrom the middle of an unwrapped item reads exactly the rest of its events and on', async () => {
  const options = { client: doc, tableName: 'changesets', pageSize: 2, unwrap: { field: 'events', keep: ['stream_id', 'changeset_id'] }, onFailure: () => {} }
  const all = await drain(scanDynamo<Record<string, unknown>>(options))
  const id = (e: Record<string, unknown>) => `${e.stream_id}/${e.changeset_id}/${e.type}/${e.n}`
  for (let k = 1; k <= all.length; k++) {
    const seen: Record<string, unknown>[] = []
    for await (const e of scanDynamo<Record<string, unknown>>(options)) {
      seen.push(e)
      if (seen.length === k) break
    }
    const rest = await drain(scanDynamo<Record<string, unknown>>({ ...options, resumeFrom: JSON.parse(JSON.stringify(positionOf(seen[k - 1]))) }))
    assert.equal([...seen, ...rest].map(id), all.map(id), `after ${k}: the rest, in order, none twice`)
  }
})

test('unwraps with a function', async () => {
  const events = await drain(
    scanDynamo<Record<string, unknown>>({
      client: doc,
      tableName: 'changesets',
      unwrap: (item) => (item.stream_id === 'order-1' ? [{ id: `${item.stream_id}:${item.changeset_id}` }] : []),
    }),
  )
  assert.equal(events.map((e) => e.id).sort(), ['order-1:1', 'order-1:2', 'order-1:3', 'order-1:4', 'order-1:5'])
  assert.is(at(positionOf(events[0]))?.part, 0)
})

test('a common event shape filters with a pattern and maps columns from Data', async () => {
  await createTable(raw, 'store', { partition: ['EmitterId', 'S'], sort: ['Timestamp', 'N'] })
  const rows = Array.from({ length: 40 }, (_, i) => ({
    ID: `id-${i}`,
    Timestamp: 1_700_000_000_000 + i,
    EventType: i % 4 === 0 ? 'OrderPlaced' : 'OrderViewed',
    EmitterId: `order-${i % 5}`,
    Data: { orderId: `o${i}`, amount: i * 1.5, lines: [{ sku: 'x', qty: 1 }] },
  }))
  await putAll('store', rows)
  const matches = compilePattern({ EventType: ['OrderPlaced'], Data: { amount: [{ numeric: ['>=', 15] }] } })
  const mapping = compileMapping({
    columns: { id: 'Data.orderId', amount: 'Data.amount', sku: 'Data.lines[0].sku', at: 'Timestamp' },
    key: ['id'],
  })
  const out = []
  for await (const event of scanDynamo({ client: doc, tableName: 'store' })) {
    if (matches(event)) out.push(mapping.toRow(event).row)
  }
  out.sort((a, b) => (a.at as number) - (b.at as number))
  assert.equal(
    out.map((r) => r.id),
    ['o12', 'o16', 'o20', 'o24', 'o28', 'o32', 'o36'],
  )
  assert.equal(out[0], { id: 'o12', amount: 18, sku: 'x', at: 1_700_000_000_012 })
})

test('retries a throttled or failing page and still reads everything once', async () => {
  proxy.setRules([
    dynamoFaults.throttle({ times: 2, operations: ['Scan'] }),
    dynamoFaults.serverError({ times: 1, operations: ['Scan'] }),
    dynamoFaults.drop({ times: 1, operations: ['Scan'] }),
  ])
  const events = await drain(
    scanDynamo<Ev>({ client: viaProxy.doc, tableName: 'events', pageSize: 50, parallelism: 2, retry: { minDelayMs: 1, maxDelayMs: 5 } }),
  )
  assert.equal(proxy.stats.applied, { ProvisionedThroughputExceededException: 2, InternalServerError: 1, drop: 1 })
  proxy.setRules([])
  assert.is(events.length, TOTAL)
  assert.is(new Set(events.map((e) => `${e.stream}/${e.seq}`)).size, TOTAL)
})

test('a failure that is not passing stops the read with ERR_SOURCE_READ', async () => {
  proxy.setRules([{ match: isDynamoOp('Scan'), action: { kind: 'respond', status: 400, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'nope' }) } }])
  try {
    await drain(scanDynamo({ client: viaProxy.doc, tableName: 'events', retry: { minDelayMs: 1, maxDelayMs: 2 } }))
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_SOURCE_READ')
    assert.match((error as Error).message, /nope/)
  } finally {
    proxy.setRules([])
  }
})

test('a missing table throws ERR_TARGET_NOT_FOUND on the first read', async () => {
  const source = scanDynamo({ client: doc, tableName: 'no-such-table' })
  try {
    await source.next()
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.match((error as Error).message, /no-such-table/)
  }
})

test('an abort signal stops reading quietly', async () => {
  const controller = new AbortController()
  const seen: unknown[] = []
  for await (const e of scanDynamo({ client: doc, tableName: 'events', parallelism: 2, pageSize: 10, signal: controller.signal })) {
    seen.push(e)
    if (seen.length === 25) controller.abort()
  }
  assert.is(seen.length, 25)
})

test('reads a table item by item when keyAttributes are given, without DescribeTable', async () => {
  let describes = 0
  proxy.setRules([{ match: isDynamoOp('DescribeTable'), action: () => (describes++, undefined) }])
  const events = await drain(scanDynamo<Ev>({ client: viaProxy.doc, tableName: 'events', keyAttributes: ['stream', 'seq'] }))
  proxy.setRules([])
  assert.is(describes, 0)
  assert.is(events.length, TOTAL)
  assert.equal(at(positionOf(events[3]))?.key, { stream: events[3]!.stream, seq: events[3]!.seq })
})

test('works with a plain DynamoDBClient too', async () => {
  const events = await drain(scanDynamo<Ev>({ client: raw, tableName: 'events', pageSize: 100 }))
  assert.is(events.length, TOTAL)
  assert.type(events[0]!.stream, 'string')
  assert.equal(events[0]!.data.tags, ['a', 'b'])
})

test.run()
