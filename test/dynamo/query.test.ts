process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { queryDynamo, parseSortKeyCondition } from '../../lib/dynamo/query.js'
import type { DynamoSource } from '../../lib/dynamo/scan.js'
import { dynamoPlugin } from '../../lib/dynamo/plugin.js'
import { Registry, parseUri, type FactoryContext } from '../../lib/registry.js'
import { awsClientConfig } from '../../lib/util/aws.js'
import { positionOf } from '../../lib/position.js'
import { at } from '../helpers.js'
import { HydratorError } from '../../lib/errors.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'

const test = suite('queryDynamo')

let server: DynaliteServer
let raw: DynamoDBClient
let doc: DynamoDBDocumentClient
let destroy: () => void

type Ev = { stream: string; seq: number; page: string; at: number; kind: string }

async function drain<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const e of source) out.push(e)
  return out
}

function context(closers: (() => unknown)[]): FactoryContext {
  return {
    env: {},
    cwd: process.cwd(),
    flags: {},
    onClose: (fn) => {
      closers.push(fn)
    },
  }
}

test.before(async () => {
  server = await startDynalite()
  ;({ client: raw, doc, destroy } = dynamoClients(server.endpoint))
  await createTable(raw, 'events', { partition: ['stream', 'S'], sort: ['seq', 'N'] }, [
    { name: 'byPage', partition: ['page', 'S'], sort: ['at', 'N'] },
  ])
  await createTable(raw, 'numbered', { partition: ['account', 'N'], sort: ['seq', 'N'] })
  const items: Ev[] = []
  for (let s = 0; s < 6; s++) {
    for (let seq = 0; seq < 40; seq++) {
      // `at` runs against `seq`, so the index order differs from the table order.
      items.push({ stream: `s${s}`, seq, page: `p${seq % 3}`, at: 10_000 - (s * 40 + seq), kind: seq % 2 ? 'odd' : 'even' })
    }
  }
  items.reverse()
  for (let i = 0; i < items.length; i += 25) {
    await doc.send(new BatchWriteCommand({ RequestItems: { events: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }))
  }
  await doc.send(
    new BatchWriteCommand({
      RequestItems: { numbered: [1, 2, 3].map((seq) => ({ PutRequest: { Item: { account: 42, seq, v: `x${seq}` } } })) },
    }),
  )
})

test.after(async () => {
  destroy()
  await server.close()
})

test('reads one partition in sort-key order across pages', async () => {
  const source = queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { name: 'stream', value: 's3' }, pageSize: 7 })
  const events = await drain(source)
  assert.equal(
    events.map((e) => e.seq),
    Array.from({ length: 40 }, (_, i) => i),
  )
  assert.ok(events.every((e) => e.stream === 's3'))
  assert.equal(positionOf(events[5]), { kind: 'dynamo', source: 'dynamo:events', key: { stream: 's3', seq: 5 }, cursor: { 0: { stream: 's3', seq: 5 } } })
  assert.equal(source.cursor(), { 0: null })
  assert.is(source.stats.read, 40)
})

test('learns the partition key from the table when no name is given, and reads backwards', async () => {
  const events = await drain(queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { value: 's1' }, scanIndexForward: false, pageSize: 9 }))
  assert.equal(
    events.map((e) => e.seq),
    Array.from({ length: 40 }, (_, i) => 39 - i),
  )
})

test('reads a global secondary index in its sort-key order, with table keys in positions', async () => {
  const events = await drain(queryDynamo<Ev>({ client: doc, tableName: 'events', indexName: 'byPage', keyCondition: { value: 'p1' }, pageSize: 8 }))
  const expected = 6 * 13 // seq % 3 === 1 for 13 of 40 seqs, in 6 streams
  assert.is(events.length, expected)
  assert.ok(events.every((e) => e.page === 'p1'))
  const ats = events.map((e) => e.at)
  assert.equal(ats, [...ats].sort((a, b) => a - b), 'ascending by the index sort key')
  assert.equal(at(positionOf(events[0]))?.key, { stream: events[0]!.stream, seq: events[0]!.seq })
})

test('resumeFrom a position in a global secondary index read goes on right after it', async () => {
  const options = { client: doc, tableName: 'events', indexName: 'byPage', keyCondition: { value: 'p2' }, pageSize: 8 }
  const all = await drain(queryDynamo<Ev>(options))
  for (const k of [1, 8, 9, 40, all.length]) {
    const mark = JSON.parse(JSON.stringify(positionOf(all[k - 1])))
    assert.equal(Object.keys(mark.cursor[0]).sort(), ['at', 'page', 'seq', 'stream'], 'the cursor holds the index key and the table key')
    const rest = await drain(queryDynamo<Ev>({ ...options, resumeFrom: mark }))
    assert.equal(rest.map((e) => e.at), all.slice(k).map((e) => e.at), `after ${k}`)
  }
  // keyAttributes spare DescribeTable for table reads; an index read still needs its key names.
  const named = await drain(queryDynamo<Ev>({ ...options, keyAttributes: ['stream', 'seq'] }))
  assert.equal(Object.keys((at(positionOf(named[3]))!.cursor as Record<number, object>)[0]!).sort(), ['at', 'page', 'seq', 'stream'])
})

test('applies a sort-key condition', async () => {
  const between = await drain(queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { value: 's0', sort: { between: [5, 9] } } }))
  assert.equal(
    between.map((e) => e.seq),
    [5, 6, 7, 8, 9],
  )
  const greater = await drain(queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { value: 's0', sort: { greaterOrEqual: '37' } } }))
  assert.equal(
    greater.map((e) => e.seq),
    [37, 38, 39],
    'a string is taken as a number for a number sort key',
  )
})

test('takes a KeyConditionExpression of your own, with a filter', async () => {
  const events = await drain(
    queryDynamo<Ev>({
      client: doc,
      tableName: 'events',
      keyCondition: { expression: '#s = :s AND #q < :q', names: { '#s': 'stream', '#q': 'seq' }, values: { ':s': 's2', ':q': 10 } },
      filterExpression: '#k = :k',
      expressionAttributeNames: { '#k': 'kind' },
      expressionAttributeValues: { ':k': 'odd' },
    }),
  )
  assert.equal(
    events.map((e) => e.seq),
    [1, 3, 5, 7, 9],
  )
})

test('turns a string partition value into a number for a number key', async () => {
  const events = await drain(queryDynamo<Record<string, unknown>>({ client: doc, tableName: 'numbered', keyCondition: { value: '42' } }))
  assert.equal(
    events.map((e) => e.v),
    ['x1', 'x2', 'x3'],
  )
})

test('resumes after a key', async () => {
  const first = queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { value: 's4' }, pageSize: 10 })
  const seen: Ev[] = []
  for await (const e of first) {
    seen.push(e)
    if (seen.length === 15) break
  }
  assert.equal(first.cursor(), { 0: { stream: 's4', seq: 9 } })
  const rest = await drain(queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { value: 's4' }, resume: first.cursor() }))
  assert.equal(
    rest.map((e) => e.seq),
    Array.from({ length: 30 }, (_, i) => i + 10),
  )
  const after = await drain(queryDynamo<Ev>({ client: doc, tableName: 'events', keyCondition: { value: 's4' }, startKey: { stream: 's4', seq: 37 } }))
  assert.equal(
    after.map((e) => e.seq),
    [38, 39],
  )
})

test('a missing index throws ERR_TARGET_NOT_FOUND naming the indexes there are', async () => {
  try {
    await queryDynamo({ client: doc, tableName: 'events', indexName: 'nope', keyCondition: { value: 'x' } }).next()
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.match((error as Error).message, /byPage/)
  }
})

test('checks the key condition when called', () => {
  for (const keyCondition of [undefined, {}, { value: '' }, { value: 'a', sort: {} }, { value: 'a', sort: { between: [1] } }, { expression: '' }]) {
    try {
      queryDynamo({ client: doc, tableName: 'events', keyCondition: keyCondition as never })
      assert.unreachable(JSON.stringify(keyCondition))
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION', JSON.stringify(keyCondition))
    }
  }
})

test('parses CLI sort-key conditions', () => {
  assert.equal(parseSortKeyCondition('between 10 and 20'), { between: ['10', '20'] })
  assert.equal(parseSortKeyCondition('>= 2024-01-01'), { greaterOrEqual: '2024-01-01' })
  assert.equal(parseSortKeyCondition('<5'), { lessThan: '5' })
  assert.equal(parseSortKeyCondition('begins_with order#'), { beginsWith: 'order#' })
  assert.equal(parseSortKeyCondition('= x'), { equals: 'x' })
  assert.throws(() => parseSortKeyCondition('around 5'), /sort key condition/)
})

test('the dynamo: URI with partition= is a Query, on the index when given', async () => {
  const closers: (() => unknown)[] = []
  const registry = new Registry().register(dynamoPlugin)
  const endpoint = encodeURIComponent(server.endpoint)
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' }
  const ctx = { ...context(closers), env }
  const source = (await registry.createSource(`dynamo:events?index=byPage&partition=p2&pageSize=5&endpoint=${endpoint}`, ctx)) as DynamoSource<Ev>
  const events = await drain(source)
  assert.is(events.length, 78)
  assert.ok(events.every((e) => e.page === 'p2'))
  const sorted = await drain(
    (await registry.createSource(`dynamodb:events?partition=s5&sortKey=${encodeURIComponent('between 3 and 5')}&order=desc&endpoint=${endpoint}`, ctx)) as DynamoSource<Ev>,
  )
  assert.equal(
    sorted.map((e) => e.seq),
    [5, 4, 3],
  )
  const scanned = await drain(
    (await registry.createSource(`dynamo:events?segment=1&totalSegments=2&parallelism=2&consistent=true&endpoint=${endpoint}`, ctx)) as DynamoSource<Ev>,
  )
  const other = await drain(
    (await registry.createSource(`dynamo:events?segment=0&totalSegments=2&parallelism=2&endpoint=${endpoint}`, ctx)) as DynamoSource<Ev>,
  )
  assert.is(new Set([...scanned, ...other].map((e) => `${e.stream}/${e.seq}`)).size, 240)
  assert.is(scanned.length + other.length, 240)
  const filtered = await drain(
    (await registry.createSource(
      `dynamo:events?filter=${encodeURIComponent('#k = :k AND seq < :n')}&filterNames=${encodeURIComponent('{"#k":"kind"}')}&filterValues=${encodeURIComponent('{":k":"odd",":n":4}')}&projection=stream,kind&endpoint=${endpoint}`,
      ctx,
    )) as DynamoSource<Record<string, unknown>>,
  )
  assert.is(filtered.length, 6 * 2)
  assert.ok(filtered.every((e) => e.kind === 'odd' && Object.keys(e).length === 3))
  for (const close of closers) await close()
})

test('the dynamo: URI is checked before any request', async () => {
  const registry = new Registry().register(dynamoPlugin)
  const ctx = context([])
  for (const [uri, code] of [
    ['dynamo:events?segment=1', 'ERR_INVALID_URI'],
    ['dynamo:events?partition=a&parallelism=2', 'ERR_INVALID_URI'],
    ['dynamo:events?pageSize=zero', 'ERR_INVALID_URI'],
    ['dynamo:events?colour=red', 'ERR_INVALID_URI'],
    ['dynamo:events?segment=3&totalSegments=2', 'ERR_INVALID_OPTION'],
    ['dynamo:', 'ERR_INVALID_URI'],
    ['dynamo:events?endpoint=ftp://x', 'ERR_INVALID_URI'],
    ['dynamo:events?filterValues=[1]&filter=a', 'ERR_INVALID_URI'],
    ['dynamo:events?filterValues={}', 'ERR_INVALID_URI'],
  ] as const) {
    try {
      await registry.createSource(uri, ctx)
      assert.unreachable(uri)
    } catch (error) {
      assert.is((error as HydratorError).code, code, uri)
    }
  }
})

test('builds AWS client settings from the URI first, then the environment', () => {
  const uri = parseUri('dynamo:events?region=eu-west-1&endpoint=http://localhost:8000')
  assert.equal(awsClientConfig(uri, { AWS_REGION: 'us-east-2', AWS_ENDPOINT_URL: 'http://other:1' }, 'dynamodb'), {
    region: 'eu-west-1',
    endpoint: 'http://localhost:8000',
  })
  const env = {
    AWS_DEFAULT_REGION: 'ap-south-1',
    AWS_ENDPOINT_URL: 'http://general:1',
    AWS_ENDPOINT_URL_DYNAMODB: 'http://dynamo:2',
    AWS_ACCESS_KEY_ID: 'id',
    AWS_SECRET_ACCESS_KEY: 'secret',
  }
  assert.equal(awsClientConfig(parseUri('dynamo:events'), env, 'dynamodb'), {
    region: 'ap-south-1',
    endpoint: 'http://dynamo:2',
    credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
  })
  assert.is(awsClientConfig(parseUri('lambda:fn'), env, 'lambda').endpoint, 'http://general:1')
  assert.is(awsClientConfig(parseUri('dynamo:t'), { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, 'dynamodb').endpoint, undefined)
  assert.equal(awsClientConfig(parseUri('dynamo:t?profile=dev'), env, 'dynamodb').profile, 'dev')
  assert.is(awsClientConfig(parseUri('dynamo:t?profile=dev'), env, 'dynamodb').credentials, undefined)
  assert.equal(awsClientConfig(parseUri('dynamo:t'), {}, 'dynamodb'), {})
})

test.run()
