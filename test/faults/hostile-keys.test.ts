process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { EventBridgeClient } from '@aws-sdk/client-eventbridge'
import { LambdaClient } from '@aws-sdk/client-lambda'
import { PutCommand } from '@aws-sdk/lib-dynamodb'
import { Client as OpenSearchClient } from '@opensearch-project/opensearch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileMapping, type Mapping } from '../../lib/mapping.js'
import { toDynamo } from '../../lib/dynamo/sink.js'
import { toEventBridge } from '../../lib/eventbridge/sink.js'
import { toLambda } from '../../lib/lambda/lambda.js'
import { toOpenSearch } from '../../lib/opensearch/sink.js'
import { toPostgres } from '../../lib/postgres/sink.js'
import { queryDynamo } from '../../lib/dynamo/query.js'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import { compilePath, compileProjection } from '../../lib/util/json-path.js'
import { all, assertCounts } from '../helpers.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startEventBridgeServer } from '../servers/eventbridge-server.js'
import { dynamoOperation, startFaultProxy, type FaultProxy } from '../servers/fault-proxy.js'
import { startLambdaServer } from '../servers/lambda-server.js'
import { startOpenSearchServer } from '../servers/opensearch-server.js'
import { createDatabase, startPostgres } from '../servers/postgres.js'

// Events are data from outside: `__proto__`, `constructor` and friends are ordinary keys in them
// (JSON.parse makes `__proto__` an own property), and names an event does not have are missing,
// whatever Object.prototype or Array.prototype hold.
const test = suite('hostile keys: __proto__, constructor and inherited names')

/** An event as JSON.parse gives it: `__proto__` and `constructor` are own keys of `detail`. */
const hostileEvent = (id: string) =>
  JSON.parse(
    `{"id":"${id}","detail-type":"OrderPlaced","source":"orders","time":"2024-01-01T00:00:00Z","detail":{"__proto__":{"x":1},"constructor":{"name":"evil"},"a":1},"items":[1,2]}`,
  ) as Record<string, any>

const plainEvent = { id: 'p', detail: { a: 1 }, items: [1, 2] }

test('a path reads own properties only: inherited names are missing', () => {
  for (const path of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'detail.constructor', 'detail.toString', 'detail.__proto__', 'detail.valueOf', 'items.map', 'items.push', 'items.constructor', 'items.__proto__']) {
    assert.is(compilePath(path)(plainEvent), undefined, path)
  }
  assert.is(compilePath('items.length')(plainEvent), 2, 'an array length is its own')
  assert.is(compilePath('items[1]')(plainEvent), 2)
  assert.is(compilePath('detail.a')(plainEvent), 1)
})

test('a path reads an own __proto__ or constructor key as data', () => {
  const event = hostileEvent('h')
  assert.equal(compilePath('detail.__proto__')(event), { x: 1 })
  assert.is(compilePath('detail.__proto__.x')(event), 1)
  assert.equal(compilePath('detail.constructor')(event), { name: 'evil' })
  assert.is(compilePath('detail.constructor.name')(event), 'evil')
  assert.is(compilePath('detail.__proto__.toString')(event), undefined)
})

test('a projection stores NULL for inherited names, and own __proto__ / constructor values as they are', () => {
  const columns = {
    c: '__proto__',
    d: 'detail.constructor',
    e: 'detail.toString',
    f: 'items.map',
    g: 'items.length',
    h: 'detail.__proto__',
    i: 'detail.__proto__.x',
    j: 'items[0]',
    k: 'constructor.name',
  }
  const project = compileProjection(columns)
  assert.equal(project(plainEvent), { c: null, d: null, e: null, f: null, g: 2, h: null, i: null, j: 1, k: null })
  const row = project(hostileEvent('h'))
  assert.equal(row, { c: null, d: { name: 'evil' }, e: null, f: null, g: 2, h: { x: 1 }, i: 1, j: 1, k: null })
  // The same through the mapping every storage sink uses.
  const m = compileMapping({ columns: { id: 'id', c: '__proto__', t: 'detail.toString' }, key: ['id'] })
  assert.equal(m.toRow(plainEvent).row, { id: 'p', c: null, t: null })
})


async function* from<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item
}

/** An own `__proto__` key holding `value`, and the prototype left alone. */
function assertOwnProto(value: unknown, expected: unknown, what: string) {
  assert.ok(value !== null && typeof value === 'object', `${what} is an object`)
  assert.ok(Object.hasOwn(value as object, '__proto__'), `${what} has an own __proto__ key`)
  assert.equal(Object.getOwnPropertyDescriptor(value, '__proto__')!.value, expected, `${what}.__proto__`)
  assert.is(Object.getPrototypeOf(value), Object.prototype, `${what} keeps Object.prototype`)
}

/**
 * dynalite behind the fault proxy, which records what reaches "DynamoDB" (the wire JSON, where an
 * own `__proto__` key stays a key). dynalite itself drops `__proto__` keys (its request validation
 * copies maps with `newVal[key] = ...`), which DynamoDB does not: the proxy carries them past it
 * under another name and renames them back in the answers, so what a client reads back is what
 * DynamoDB would store.
 */
async function dynamoBehindProxy(): Promise<{ server: DynaliteServer; proxy: FaultProxy; wire: Record<string, any>[]; close(): Promise<void> }> {
  const server = await startDynalite()
  const wire: Record<string, any>[] = []
  const STAND_IN = '"__proto_kept_by_proxy__":'
  const proxy = await startFaultProxy({
    target: server.endpoint,
    rules: [
      {
        name: 'keep __proto__',
        action: (request) => {
          const text = request.body.toString('utf8')
          if (['PutItem', 'BatchWriteItem', 'DeleteItem'].includes(dynamoOperation(request) ?? '')) wire.push(JSON.parse(text))
          return {
            kind: 'forward',
            body: text.replaceAll('"__proto__":', STAND_IN),
            response: (response) => ({ body: Buffer.from(response.body.toString('utf8').replaceAll(STAND_IN, '"__proto__":')) }),
          }
        },
      },
    ],
  })
  return {
    server,
    proxy,
    wire,
    async close() {
      await proxy.close()
      await server.close()
    },
  }
}

test('DynamoDB: own __proto__ and constructor keys are written as map attributes and read back as own keys', async () => {
  const dynamo = await dynamoBehindProxy()
  const clients = dynamoClients(dynamo.proxy.url, { maxAttempts: 1 })
  try {
    await createTable(clients.client, 'hostile', { partition: ['id', 'S'] })
    await createTable(clients.client, 'hostile_versioned', { partition: ['id', 'S'] })
    const events = [hostileEvent('h1'), hostileEvent('h2'), JSON.parse('{"id":"h3","__proto__":{"top":true},"detail":{"a":1}}')]
    const columns = { id: 'id', body: '.', d: 'detail' }
    // Batches (BatchWriteItem) unversioned, one PutItem per event versioned.
    const unversioned = await toDynamo({ client: clients.doc, tableName: 'hostile', mapping: { columns, key: ['id'] } })(from(events))
    assertCounts(unversioned)
    assert.equal(unversioned.failures, [])
    assert.is(unversioned.written, 3)
    const versioned = await toDynamo({
      client: clients.doc,
      tableName: 'hostile_versioned',
      mapping: { columns: { ...columns, v: 'detail.a' }, key: ['id'], versionColumn: 'v' },
    })(from(events))
    assertCounts(versioned)
    assert.equal(versioned.failures, [])
    assert.is(versioned.written, 3)

    // What DynamoDB was sent: a map attribute named __proto__ inside `body` and `d`.
    const batch = dynamo.wire.find((r) => r.RequestItems)!.RequestItems.hostile as { PutRequest: { Item: Record<string, any> } }[]
    const h1 = batch.find((w) => w.PutRequest.Item.id.S === 'h1')!.PutRequest.Item
    assertOwnProto(h1.d.M, { M: { x: { N: '1' } } }, 'the d attribute')
    assert.equal(h1.d.M.constructor, { M: { name: { S: 'evil' } } })
    assertOwnProto(h1.body.M.detail.M, { M: { x: { N: '1' } } }, 'body.detail')
    const put = dynamo.wire.find((r) => r.Item?.id.S === 'h3')!
    assertOwnProto(put.Item.body.M, { M: { top: { BOOL: true } } }, 'the versioned put of h3')

    // Read back by both sources: the events have the keys as their own.
    for (const table of ['hostile', 'hostile_versioned']) {
      const items = (await all(scanDynamo<Record<string, any>>({ client: clients.doc, tableName: table }))).sort((a, b) => a.id.localeCompare(b.id))
      assert.equal(items.map((i) => i.id), ['h1', 'h2', 'h3'])
      assertOwnProto(items[0]!.d, { x: 1 }, `${table} h1.d`)
      assert.equal(items[0]!.d.constructor, { name: 'evil' })
      assertOwnProto(items[0]!.body.detail, { x: 1 }, `${table} h1.body.detail`)
      assertOwnProto(items[2]!.body, { top: true }, `${table} h3.body`)
      const [queried] = await all(queryDynamo<Record<string, any>>({ client: clients.client, tableName: table, keyCondition: { value: 'h2' } }))
      assertOwnProto(queried!.d, { x: 1 }, `${table} h2.d by Query, with a plain DynamoDBClient`)
    }
  } finally {
    clients.destroy()
    await dynamo.close()
  }
})

test('DynamoDB: a column called __proto__ is a top-level attribute; reading it back fails loudly, not silently', async () => {
  const dynamo = await dynamoBehindProxy()
  const clients = dynamoClients(dynamo.proxy.url, { maxAttempts: 1 })
  try {
    await createTable(clients.client, 'hostile_top', { partition: ['id', 'S'] })
    // An own key of `columns`, as the CLI builds it from `--column __proto__=detail.__proto__`.
    const columns = Object.fromEntries([['id', 'id'], ['__proto__', 'detail.__proto__']])
    const result = await toDynamo({ client: clients.doc, tableName: 'hostile_top', mapping: { columns, key: ['id'] } })(from([hostileEvent('t1')]))
    assert.equal(result.failures, [])
    assert.is(result.written, 1)
    const item = dynamo.wire[0]!.RequestItems.hostile_top[0].PutRequest.Item
    assertOwnProto(item, { M: { x: { N: '1' } } }, 'the item sent')
    // The SDK's JSON deserializer (@smithy/core, client-dynamodb 3.1162) hands back no value for a
    // top-level attribute called __proto__: the read stops naming it rather than lose it.
    try {
      await all(scanDynamo({ client: clients.doc, tableName: 'hostile_top' }))
      assert.unreachable('the scan should stop')
    } catch (error) {
      assert.is((error as { code?: string }).code, 'ERR_SOURCE_READ')
      assert.match((error as Error).message, 'attribute `__proto__` came back without a value')
    }
  } finally {
    clients.destroy()
    await dynamo.close()
  }
})

test('DynamoDB: ordinary items go on the wire exactly as lib-dynamodb marshals them', async () => {
  const dynamo = await dynamoBehindProxy()
  const clients = dynamoClients(dynamo.proxy.url, { maxAttempts: 1 })
  try {
    await createTable(clients.client, 'ordinary', { partition: ['id', 'S'] })
    const body = { s: 'text', n: 12.5, i: -3, big: 2n ** 70n, t: true, f: false, z: null, e: '', l: [1, 'a', [null], { m: 1 }], m: { deep: { er: [0] } }, b: new Uint8Array([1, 2]), ss: new Set(['a', 'b']), ns: new Set([1, 2]) }
    await clients.doc.send(new PutCommand({ TableName: 'ordinary', Item: { id: 'lib', ...body } }))
    const result = await toDynamo({ client: clients.doc, tableName: 'ordinary', mapping: { columns: { id: 'id', body: 'body' }, key: ['id'] }, batchSize: 1 })(
      from([{ id: 'ours', body }]),
    )
    assert.is(result.written, 1)
    const [fromLib, fromUs] = dynamo.wire as [Record<string, any>, Record<string, any>]
    const ours = fromUs.RequestItems.ordinary[0].PutRequest.Item
    const { id: _libId, ...libAttributes } = fromLib.Item
    assert.equal(ours.body.M, libAttributes)
  } finally {
    clients.destroy()
    await dynamo.close()
  }
})

test('PostgreSQL: jsonb columns hold own __proto__ and constructor keys as data', async () => {
  const server = await startPostgres()
  const db = await createDatabase(server, 'hostile_keys')
  try {
    await db.sql.unsafe('create table hostile (id text primary key, body jsonb, d jsonb, t text)')
    const mapping: Mapping = { columns: { id: 'id', body: '.', d: 'detail', t: 'detail.toString' }, key: ['id'] }
    const result = await toPostgres({ sql: db.sql, table: 'hostile', mapping })(from([hostileEvent('p1')]))
    assertCounts(result)
    assert.is(result.written, 1)
    const [row] = await db.sql.unsafe(
      `select d ? '__proto__' as has, d->'__proto__'->>'x' as x, d->'constructor'->>'name' as ctor, body->'detail' ? '__proto__' as "bodyHas", t from hostile`,
    )
    assert.equal({ ...row }, { has: true, x: '1', ctor: 'evil', bodyHas: true, t: null })
    const [read] = await db.sql.unsafe('select d from hostile')
    assertOwnProto(read!.d, { x: 1 }, 'the jsonb read back')
  } finally {
    await db.drop()
    await server.stop()
  }
})

test('OpenSearch: the document keeps own __proto__ and constructor keys', async () => {
  const server = await startOpenSearchServer()
  const client = new OpenSearchClient({ node: server.url })
  try {
    await client.indices.create({ index: 'hostile' })
    const whole = await toOpenSearch({ client, index: 'hostile', mapping: { columns: { id: 'id' }, key: ['id'] } })(from([hostileEvent('o1')]))
    const mapped = await toOpenSearch({ client, index: 'hostile', mapping: { columns: { id: 'id', body: '.', d: 'detail' }, key: ['id'] } })(from([hostileEvent('o2')]))
    assert.is(whole.written + mapped.written, 2)
    const docs = server.documents('hostile')
    assertOwnProto(docs[0]!._source.detail, { x: 1 }, 'the whole event as the document')
    assert.equal((docs[0]!._source.detail as Record<string, unknown>).constructor, { name: 'evil' })
    assertOwnProto(docs[1]!._source.d, { x: 1 }, 'the d column')
    assertOwnProto((docs[1]!._source.body as Record<string, unknown>).detail, { x: 1 }, 'the body column')
  } finally {
    await client.close()
    await server.close()
  }
})

test('Lambda and EventBridge: payloads keep own __proto__ keys, also with a replay name and an envelope', async () => {
  const fixtures = path.resolve('test/fixtures/handlers')
  const recorder = (await import(pathToFileURL(path.join(fixtures, 'recorder.mjs')).href)) as { calls: { event: any }[]; reset(): void }
  recorder.reset()
  const lambdaServer = await startLambdaServer({ functions: { projector: { module: path.join(fixtures, 'recorder.mjs') } } })
  const busServer = await startEventBridgeServer({ buses: ['orders'] })
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
  const lambda = new LambdaClient({ endpoint: lambdaServer.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
  const bus = new EventBridgeClient({ endpoint: busServer.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
  // Not in EventBridge shape: the envelope maps it, `detail` from a path.
  const stored = JSON.parse('{"ID":"s1","Type":"OrderPlaced","At":1700000000,"Data":{"__proto__":{"x":1},"a":1}}')
  try {
    const envelope = { id: 'ID', 'detail-type': 'Type', source: { value: 'orders' }, time: 'At', detail: 'Data' }
    for (const options of [{}, { replayName: 'rebuild' }]) {
      assert.is((await toLambda({ client: lambda, functionName: 'projector', ...options })(from([hostileEvent('l1')]))).written, 1)
      assert.is((await toLambda({ client: lambda, functionName: 'projector', envelope, ...options })(from([stored]))).written, 1)
      assert.is((await toEventBridge({ client: bus, eventBusName: 'orders', ...options })(from([hostileEvent('b1')]))).written, 1)
      assert.is((await toEventBridge({ client: bus, eventBusName: 'orders', envelope, ...options })(from([stored]))).written, 1)
    }
    assert.is(recorder.calls.length, 4)
    for (const { event } of recorder.calls) assertOwnProto(event.detail, { x: 1 }, `the ${event.id} payload's detail`)
    assert.is(recorder.calls[2]!.event['replay-name'], 'rebuild')
    const entries = busServer.events.get('orders') ?? []
    assert.is(entries.length, 4)
    for (const entry of entries) assertOwnProto(JSON.parse(entry.Detail!), { x: 1 }, 'the PutEvents Detail')
    assert.is(JSON.parse(entries[3]!.Detail!)['replay-name'], 'rebuild')
  } finally {
    lambda.destroy()
    bus.destroy()
    await lambdaServer.close()
    await busServer.close()
  }
})

test.run()
