process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { toDynamo, type ToDynamoOptions } from '../../lib/dynamo/sink.js'
import { itemSizeBytes } from '../../lib/dynamo/items.js'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import { dynamoPlugin } from '../../lib/dynamo/plugin.js'
import { Registry } from '../../lib/registry.js'
import { HydratorError, isConfigError } from '../../lib/errors.js'
import { setPosition } from '../../lib/position.js'
import type { ItemFailure, SinkResult } from '../../lib/types.js'
import type { Mapping } from '../../lib/mapping.js'
import { sinkContract } from '../contract.js'
import { createTable, dynamoClients, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { dynamoFaults, dynamoOperation, type FaultProxy } from '../servers/fault-proxy.js'

const test = suite('toDynamo')

let server: DynamoTestbed['server']
let proxy: FaultProxy
let raw: DynamoDBClient
let doc: DynamoDBDocumentClient
let viaProxy: ReturnType<typeof dynamoClients>
let bed: DynamoTestbed
let tableCount = 0

const FAST = { minDelayMs: 1, maxDelayMs: 10 } as const

/** A fresh table keyed by `id` (string). */
async function freshTable(key: { partition: readonly [string, 'S' | 'N']; sort?: readonly [string, 'S' | 'N'] } = { partition: ['id', 'S'] }) {
  const name = `table${++tableCount}`
  await createTable(raw, name, key)
  return name
}

async function* from<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item
}

async function readAll(table: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  for await (const item of scanDynamo<Record<string, unknown>>({ client: doc, tableName: table })) out.push(item)
  return out
}

function addsUp(result: SinkResult) {
  assert.is(result.received, result.written + result.skipped + result.failed, `received ${result.received} = written ${result.written} + skipped ${result.skipped} + failed ${result.failed}`)
}

type Ev = { id: string; v?: number; status?: string; payload?: unknown; gone?: boolean }

const simpleMapping = { columns: { id: 'id', status: 'status', payload: 'payload' }, key: ['id'] }
const versionedMapping = { columns: { id: 'id', v: 'v', status: 'status' }, key: ['id'], versionColumn: 'v' }

test.before(async () => {
  bed = await startDynamoTestbed({ seed: 7 })
  ;({ server, proxy, raw, doc, viaProxy } = bed)
})

test.after(() => bed.close())

test.after.each(() => {
  proxy.setRules([])
})

/** Records each BatchWriteItem request the proxy forwards. */
function recordBatches(): { items: string[][] } {
  const seen = { items: [] as string[][] }
  proxy.setRules([
    {
      name: 'record',
      action: (request) => {
        if (dynamoOperation(request) === 'BatchWriteItem') {
          const body = JSON.parse(request.body.toString()) as { RequestItems: Record<string, { PutRequest?: { Item: { id: { S: string } } }; DeleteRequest?: { Key: { id: { S: string } } } }[]> }
          for (const writes of Object.values(body.RequestItems)) {
            seen.items.push(writes.map((w) => (w.PutRequest?.Item ?? w.DeleteRequest?.Key)!.id.S))
          }
        }
        return undefined
      },
    },
  ])
  return seen
}

test('writes in batches of at most 25, collapsing same-key writes in a batch to the last', async () => {
  const table = await freshTable()
  const seen = recordBatches()
  const events: Ev[] = []
  for (let i = 0; i < 230; i++) events.push({ id: `k${i % 20}`, status: `s${i}`, payload: { i, list: [i, 'x'] } })
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, concurrency: 4, retry: FAST })(from(events))
  addsUp(result)
  assert.is(result.received, 230)
  assert.is(result.failed, 0)
  assert.ok(result.skipped > 0, 'duplicates within a batch were collapsed')
  assert.equal(result.skippedBy, { duplicateInBatch: result.skipped })
  assert.is(result.written + result.skipped, 230)
  assert.ok(seen.items.length > 0)
  for (const batch of seen.items) {
    assert.ok(batch.length <= 25, `a batch of ${batch.length}`)
    assert.is(new Set(batch).size, batch.length, 'no key twice in one request')
  }
  const items = await readAll(table)
  assert.is(items.length, 20)
  for (const item of items) {
    const k = Number((item.id as string).slice(1))
    const last = k + 20 * Math.floor((229 - k) / 20)
    assert.is(item.status, `s${last}`, `${item.id} holds the last write`)
    assert.equal(item.payload, { i: last, list: [last, 'x'] }, 'objects and arrays become maps and lists')
  }
})

test('retries UnprocessedItems until every item is written', async () => {
  const table = await freshTable()
  proxy.setRules([dynamoFaults.unprocessed({ times: 40, keep: (n) => Math.floor(n / 3) })])
  const events: Ev[] = Array.from({ length: 200 }, (_, i) => ({ id: `u${i}`, status: 'ok' }))
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, retry: { ...FAST, attempts: 12 } })(from(events))
  addsUp(result)
  assert.is(result.written, 200)
  assert.is(result.failed, 0)
  assert.ok((result.retries.UnprocessedItems ?? 0) > 0, `retries: ${JSON.stringify(result.retries)}`)
  assert.ok((proxy.stats.applied.UnprocessedItems ?? 0) > 0)
  assert.is((await readAll(table)).length, 200)
})

test('retries throttling and server errors', async () => {
  const table = await freshTable()
  proxy.setRules([
    dynamoFaults.throttle({ times: 3, operations: ['BatchWriteItem'] }),
    dynamoFaults.throttle({ times: 2, type: 'ThrottlingException', operations: ['BatchWriteItem'] }),
    dynamoFaults.throttle({ times: 1, type: 'RequestLimitExceeded', operations: ['BatchWriteItem'] }),
    dynamoFaults.serverError({ times: 2, operations: ['BatchWriteItem'] }),
  ])
  const events: Ev[] = Array.from({ length: 100 }, (_, i) => ({ id: `t${i}`, status: 'ok' }))
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, retry: FAST })(from(events))
  addsUp(result)
  assert.is(result.written, 100)
  assert.is(result.retries.ProvisionedThroughputExceededException, 3)
  assert.is(result.retries.ThrottlingException, 2)
  assert.is(result.retries.RequestLimitExceeded, 1)
  assert.is(result.retries.InternalServerError, 2)
  assert.is((await readAll(table)).length, 100)
})

test('retries throttling that comes at random (seeded) on versioned writes', async () => {
  const table = await freshTable()
  proxy.setRules([dynamoFaults.throttle({ probability: 0.2, operations: ['PutItem'] })])
  const events: Ev[] = Array.from({ length: 120 }, (_, i) => ({ id: `r${i % 40}`, v: i, status: `v${i}` }))
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: versionedMapping, batchSize: 10, retry: { ...FAST, attempts: 20 } })(from(events))
  addsUp(result)
  assert.is(result.failed, 0)
  assert.is(result.written, 120)
  assert.ok((proxy.stats.applied.ProvisionedThroughputExceededException ?? 0) > 5, JSON.stringify(proxy.stats.applied))
  assert.is(result.retries.ProvisionedThroughputExceededException, proxy.stats.applied.ProvisionedThroughputExceededException)
  const items = await readAll(table)
  assert.ok(items.every((i) => i.v === 80 + Number((i.id as string).slice(1))))
})

test('versioned: a write whose answer was lost is retried and nothing is lost', async () => {
  const table = await freshTable()
  proxy.setRules([dynamoFaults.drop({ times: 5, afterApply: true, operations: ['PutItem'] })])
  const events: Ev[] = Array.from({ length: 50 }, (_, i) => ({ id: `l${i}`, v: 1, status: 'first' }))
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: versionedMapping, retry: FAST })(from(events))
  addsUp(result)
  assert.is(result.failed, 0)
  // dynalite lacks ReturnValuesOnConditionCheckFailure, so a retry that finds its own write counts as a skip there.
  assert.is(result.written + result.skipped, 50)
  assert.ok(result.skipped <= 5)
  const items = await readAll(table)
  assert.is(items.length, 50)
  assert.ok(items.every((i) => i.v === 1 && i.status === 'first'))
})

test('versioned: a retry that finds its own write (ReturnValuesOnConditionCheckFailure) counts it as written', async () => {
  const table = await freshTable()
  await doc.send(new PutCommand({ TableName: table, Item: { id: 'stale', v: 9, status: 'stored' } }))
  proxy.setRules([
    dynamoFaults.drop({ times: 4, afterApply: true, operations: ['PutItem'] }),
    {
      // DynamoDB answers a failed condition with the stored item when asked to (dynalite does not):
      // here the stored item is the one the request tried to write, unless it is `stale`.
      name: 'all-old',
      match: (r) => dynamoOperation(r) === 'PutItem',
      action: (request) => {
        const input = JSON.parse(request.body.toString()) as { Item: { id: { S: string } }; ReturnValuesOnConditionCheckFailure?: string }
        if (input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD' || input.Item.id.S === 'stale') return undefined
        return {
          kind: 'forward',
          response: (response) => {
            const body = JSON.parse(response.body.toString()) as { __type?: string }
            if (response.status !== 400 || !body.__type?.endsWith('ConditionalCheckFailedException')) return undefined
            return { body: Buffer.from(JSON.stringify({ ...body, Item: input.Item })) }
          },
        }
      },
    },
  ])
  const events: Ev[] = [...Array.from({ length: 20 }, (_, i) => ({ id: `o${i}`, v: 1, status: 'first' })), { id: 'stale', v: 3, status: 'old' }]
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: versionedMapping, retry: FAST })(from(events))
  addsUp(result)
  assert.is(proxy.stats.applied['drop-after-apply'], 4)
  assert.is(result.written, 20, 'the four retried writes count as written')
  assert.is(result.skipped, 1, 'the stale one is still a skip')
  assert.is((await readAll(table)).length, 21)
})

test('retries dropped connections, before and after the write was applied, with nothing lost', async () => {
  const table = await freshTable()
  proxy.setRules([
    dynamoFaults.drop({ times: 2, operations: ['BatchWriteItem'] }),
    dynamoFaults.drop({ times: 2, afterApply: true, operations: ['BatchWriteItem'] }),
  ])
  const events: Ev[] = Array.from({ length: 150 }, (_, i) => ({ id: `d${i}`, status: `v${i}` }))
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, concurrency: 3, retry: FAST })(from(events))
  addsUp(result)
  assert.is(result.written, 150)
  assert.is(result.failed, 0)
  assert.equal(proxy.stats.applied, { drop: 2, 'drop-after-apply': 2 })
  const retried = Object.values(result.retries).reduce((a, b) => a + b, 0)
  assert.is(retried, 4, JSON.stringify(result.retries))
  const items = await readAll(table)
  assert.is(items.length, 150)
  assert.ok(items.every((i) => i.status === `v${(i.id as string).slice(1)}`))
})

test('an item still unprocessed when attempts run out fails with its key; the counts add up', async () => {
  const table = await freshTable()
  proxy.setRules([
    // Every request: keep all but the writes for `stuck*` keys.
    {
      name: 'stuck',
      match: (r) => dynamoOperation(r) === 'BatchWriteItem',
      action: (request) => {
        const body = JSON.parse(request.body.toString()) as { RequestItems: Record<string, { PutRequest: { Item: { id: { S: string } } } }[]> }
        const [[name, writes]] = Object.entries(body.RequestItems) as [[string, { PutRequest: { Item: { id: { S: string } } } }[]]]
        const ok = writes.filter((w) => !w.PutRequest.Item.id.S.startsWith('stuck'))
        const stuck = writes.filter((w) => w.PutRequest.Item.id.S.startsWith('stuck'))
        if (stuck.length === 0) return undefined
        if (ok.length === 0) return { kind: 'respond', status: 200, headers: { 'x-amz-crc32': '' }, body: JSON.stringify({ UnprocessedItems: { [name]: stuck } }) }
        return {
          kind: 'forward',
          body: JSON.stringify({ RequestItems: { [name]: ok } }),
          response: () => ({ body: Buffer.from(JSON.stringify({ UnprocessedItems: { [name]: stuck } })) }),
        }
      },
    },
  ])
  const events: Ev[] = Array.from({ length: 60 }, (_, i) => ({ id: i % 20 === 7 ? `stuck${i}` : `ok${i}`, status: 'x' }))
  const failures: ItemFailure[] = []
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, retry: { ...FAST, attempts: 3 } })(from(events), {
    onFailure: (f) => failures.push(f),
  })
  addsUp(result)
  assert.is(result.failed, 3)
  assert.is(result.written, 57)
  assert.equal(failures.map((f) => (f.key as { id: string }).id).sort(), ['stuck27', 'stuck47', 'stuck7'])
  assert.ok(failures.every((f) => f.code === 'ERR_RETRIES_EXHAUSTED' && f.attempts === 3))
  assert.match(failures[0]!.message, /stuck/)
  assert.is((await readAll(table)).length, 57)
})

test('throttling past the last attempt fails the batch items with their keys', async () => {
  const table = await freshTable()
  proxy.setRules([dynamoFaults.throttle({ operations: ['BatchWriteItem'] })])
  const events: Ev[] = Array.from({ length: 30 }, (_, i) => ({ id: `x${i}` }))
  const failures: ItemFailure[] = []
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, retry: { ...FAST, attempts: 2 } })(from(events), {
    onFailure: (f) => failures.push(f),
  })
  addsUp(result)
  assert.is(result.failed, 30)
  assert.ok(failures.every((f) => f.code === 'ERR_RETRIES_EXHAUSTED' && (f.key as { id: string }).id.startsWith('x')))
  assert.match(failures[0]!.message, /ProvisionedThroughputExceededException/)
})

test('versioned: a stale version is skipped, a newer one written', async () => {
  const table = await freshTable()
  await doc.send(new PutCommand({ TableName: table, Item: { id: 'a', v: 5, status: 'stored' } }))
  await doc.send(new PutCommand({ TableName: table, Item: { id: 'b', v: 5, status: 'stored' } }))
  const result = await toDynamo<Ev>({ client: doc, tableName: table, mapping: versionedMapping })(
    from([
      { id: 'a', v: 3, status: 'old' },
      { id: 'b', v: 7, status: 'new' },
      { id: 'c', v: 1, status: 'first' },
      { id: 'b', v: 5, status: 'same' },
    ]),
  )
  addsUp(result)
  assert.is(result.written, 2)
  assert.is(result.skipped, 2)
  assert.equal(result.skippedBy, { stale: 1, duplicateInBatch: 1 }, 'b v5 is collapsed into b v7 of the same batch')
  const get = async (id: string) => (await doc.send(new GetCommand({ TableName: table, Key: { id } }))).Item
  assert.equal(await get('a'), { id: 'a', v: 5, status: 'stored' })
  assert.equal(await get('b'), { id: 'b', v: 7, status: 'new' })
  assert.equal(await get('c'), { id: 'c', v: 1, status: 'first' })
})

test('versioned: shuffled versions with many batches in flight land on the highest', async () => {
  const table = await freshTable()
  const events: Ev[] = []
  for (let k = 0; k < 40; k++) for (let v = 1; v <= 15; v++) events.push({ id: `k${k}`, v, status: `v${v}` })
  // A seeded shuffle, so the test repeats.
  let seed = 42
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  for (let i = events.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[events[i], events[j]] = [events[j]!, events[i]!]
  }
  proxy.setRules([dynamoFaults.delay(3, { probability: 0.3 })])
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: versionedMapping, batchSize: 4, concurrency: 16, retry: FAST })(from(events))
  addsUp(result)
  assert.is(result.failed, 0)
  assert.is(result.received, 600)
  const items = await readAll(table)
  assert.is(items.length, 40)
  assert.ok(items.every((i) => i.v === 15 && i.status === 'v15'), 'every key holds version 15')
})

test('unversioned: writes to one key keep their order with many batches in flight', async () => {
  const table = await freshTable()
  const events: Ev[] = []
  for (let round = 0; round < 12; round++) for (let k = 0; k < 30; k++) events.push({ id: `k${k}`, status: `r${round}` })
  proxy.setRules([dynamoFaults.delay(4, { probability: 0.4 })])
  const result = await toDynamo<Ev>({ client: viaProxy.doc, tableName: table, mapping: simpleMapping, batchSize: 7, concurrency: 16, retry: FAST })(from(events))
  addsUp(result)
  const items = await readAll(table)
  assert.is(items.length, 30)
  assert.ok(items.every((i) => i.status === 'r11'), 'the last write of each key wins')
})

test('an item over 400 KB fails with ERR_ITEM_TOO_LARGE and its key; the rest is written', async () => {
  const table = await freshTable()
  const failures: ItemFailure[] = []
  const events: Ev[] = [
    { id: 'small1', payload: 'x' },
    { id: 'big', payload: 'y'.repeat(410 * 1024) },
    { id: 'small2', payload: { nested: ['z'.repeat(1000)] } },
  ]
  const result = await toDynamo<Ev>({ client: doc, tableName: table, mapping: simpleMapping })(from(events), { onFailure: (f) => failures.push(f) })
  addsUp(result)
  assert.is(result.written, 2)
  assert.is(result.failed, 1)
  assert.is(failures[0]!.code, 'ERR_ITEM_TOO_LARGE')
  assert.equal(failures[0]!.key, { id: 'big' })
  assert.ok(!failures[0]!.message.includes('yyyy'), 'the payload is not in the message')
  assert.is((await readAll(table)).length, 2)
})

test('computes item sizes as DynamoDB does', () => {
  assert.is(itemSizeBytes({ id: 'abc' }), 2 + 3)
  assert.is(itemSizeBytes({ n: 12345 }), 1 + 3 + 1)
  assert.is(itemSizeBytes({ n: 0.001 }), 1 + 1 + 1)
  assert.is(itemSizeBytes({ b: true, z: null }), 2 + 2)
  assert.is(itemSizeBytes({ l: ['ab', 1] }), 1 + 3 + (1 + 2) + (1 + 2))
  assert.is(itemSizeBytes({ m: { ab: 'cd' } }), 1 + 3 + (1 + 2 + 2))
  assert.is(itemSizeBytes({ s: 'é' }), 1 + 2)
})

test('a key of the wrong type fails with its key; the rest of the batch is written', async () => {
  const table = await freshTable()
  const failures: ItemFailure[] = []
  const events = [
    { id: 'a', status: '1' },
    { id: 17, status: '2' },
    { id: 'c', status: '3' },
  ]
  const result = await toDynamo({ client: doc, tableName: table, mapping: simpleMapping })(from(events), { onFailure: (f) => failures.push(f) })
  addsUp(result)
  assert.is(result.written, 2)
  assert.is(result.failed, 1)
  assert.equal(failures[0]!.key, { id: 17 })
  assert.is(failures[0]!.code, 'ERR_WRITE_REJECTED')
  assert.match(failures[0]!.message, /ValidationException/)
  assert.is((await readAll(table)).length, 2)
})

test('a missing table fails at open with ERR_TARGET_NOT_FOUND before reading any event', async () => {
  let pulled = 0
  async function* source() {
    pulled++
    yield { id: 'a' }
  }
  try {
    await toDynamo({ client: doc, tableName: 'missing-table', mapping: simpleMapping })(source())
    assert.unreachable()
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.ok(isConfigError(error), 'the CLI exits with 2')
  }
  assert.is(pulled, 0)
})

test('a mapping without the table key fails at open with ERR_TARGET_SCHEMA', async () => {
  const table = await freshTable({ partition: ['pk', 'S'], sort: ['sk', 'N'] })
  const mappings: Mapping[] = [
    { columns: { pk: 'id' }, key: ['pk'] },
    { columns: { pk: 'id', sk: 'n' }, key: ['pk'] },
  ]
  for (const mapping of mappings) {
    try {
      await toDynamo({ client: doc, tableName: table, mapping })(from([{ id: 'a', n: 1 }]))
      assert.unreachable()
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_TARGET_SCHEMA')
      assert.match((error as Error).message, /sk/)
    }
  }
})

test('checks options when called', () => {
  const base: ToDynamoOptions = { client: doc, tableName: 'orders', mapping: simpleMapping }
  toDynamo(base)
  for (const bad of [{ batchSize: 26 }, { batchSize: 0 }, { concurrency: 0 }, { tableName: '' }, { tableName: 'ab' }, { retry: { attempts: 0 } }, { mapping: { columns: {}, key: [] } }]) {
    try {
      toDynamo({ ...base, ...(bad as object) })
      assert.unreachable(JSON.stringify(bad))
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION', JSON.stringify(bad))
    }
  }
})

test('a dry run writes nothing and previews what each write would do', async () => {
  const table = await freshTable()
  const events: Ev[] = Array.from({ length: 12 }, (_, i) => ({ id: `p${i}`, status: 's' }))
  const result = await toDynamo<Ev>({ client: doc, tableName: table, mapping: simpleMapping })(from(events), { dryRun: true })
  addsUp(result)
  assert.is(result.dryRun, true)
  assert.is(result.written, 12)
  assert.equal(result.plan, { wouldInsert: 12, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: true })
  assert.is(result.previews.length, 5)
  assert.equal(result.previews[0], { op: 'insert', key: { id: 'p0' }, next: { id: 'p0', status: 's' } })
  assert.is((await readAll(table)).length, 0)
})

test('deletes with a delete mapping, counting them', async () => {
  const table = await freshTable()
  const mapping = { ...simpleMapping, deleteWhen: (e: unknown) => (e as Ev).gone === true }
  const result = await toDynamo<Ev>({ client: doc, tableName: table, mapping })(
    from([
      { id: 'a', status: '1' },
      { id: 'b', status: '1' },
      { id: 'c', status: '1' },
    ]),
  )
  addsUp(result)
  assert.is(result.written, 3)
  const second = await toDynamo<Ev>({ client: doc, tableName: table, mapping, batchSize: 2 })(
    from([
      { id: 'a', gone: true },
      { id: 'c', status: '2' },
      { id: 'c', gone: true },
      { id: 'd', status: '1' },
    ]),
  )
  addsUp(second)
  assert.is(second.deleted, 2)
  assert.equal((await readAll(table)).map((i) => i.id).sort(), ['b', 'd'])
  // A delete of an item that is not there changed nothing: a skip, with its reason.
  const third = await toDynamo<Ev>({ client: doc, tableName: table, mapping })(from([{ id: 'a', gone: true }, { id: 'b', gone: true }]))
  addsUp(third)
  assert.equal([third.written, third.deleted, third.skipped], [1, 1, 1])
  assert.equal(third.skippedBy, { deleteOfMissing: 1 })
  assert.equal((await readAll(table)).map((i) => i.id), ['d'])
})

test('versioned deletes only remove an older version', async () => {
  const table = await freshTable()
  await doc.send(new PutCommand({ TableName: table, Item: { id: 'a', v: 5 } }))
  await doc.send(new PutCommand({ TableName: table, Item: { id: 'b', v: 5 } }))
  const mapping = { ...versionedMapping, deleteWhen: { status: ['deleted'] } }
  const result = await toDynamo({ client: doc, tableName: table, mapping })(
    from([
      { id: 'a', v: 4, status: 'deleted' },
      { id: 'b', v: 6, status: 'deleted' },
      { id: 'z', v: 1, status: 'deleted' },
    ]),
  )
  addsUp(result)
  assert.is(result.skipped, 2)
  assert.is(result.deleted, 1)
  assert.equal(result.skippedBy, { stale: 1, deleteOfMissing: 1 })
  assert.equal((await readAll(table)).map((i) => i.id), ['a'])
})

test('a failure carries the position of its event', async () => {
  const table = await freshTable()
  const failures: ItemFailure[] = []
  const event = setPosition({ id: 'big', payload: 'y'.repeat(500 * 1024) }, { kind: 'line', source: 'events.ndjson', file: 'events.ndjson', line: 9, offset: 0 })
  await toDynamo({ client: doc, tableName: table, mapping: simpleMapping })(from([event]), { onFailure: (f) => failures.push(f) })
  assert.equal(failures[0]!.position, { kind: 'line', source: 'events.ndjson', file: 'events.ndjson', line: 9, offset: 0 })
})

test('the dynamo: sink URI writes through the mapping', async () => {
  const table = await freshTable()
  const closers: (() => unknown)[] = []
  const registry = new Registry().register(dynamoPlugin)
  const sink = await registry.createSink(`dynamo:${table}?endpoint=${encodeURIComponent(server.endpoint)}&region=us-east-1`, {
    env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    cwd: process.cwd(),
    flags: {},
    mapping: simpleMapping,
    batchSize: 10,
    concurrency: 2,
    onClose: (fn) => {
      closers.push(fn)
    },
  })
  const result = await sink(from(Array.from({ length: 33 }, (_, i) => ({ id: `u${i}`, status: 'ok' }))))
  addsUp(result)
  assert.is(result.written, 33)
  assert.is(result.uri, `dynamo:${table}?endpoint=${encodeURIComponent(server.endpoint)}&region=us-east-1`)
  for (const close of closers) await close()
  assert.is((await readAll(table)).length, 33)
})

sinkContract(test, 'toDynamo', () => toDynamo({ client: doc, tableName: 'contract', mapping: simpleMapping }), [{ id: 'a' }, { id: 'b' }, { id: 'c' }])
test.before(async () => {
  await createTable(raw, 'contract', { partition: ['id', 'S'] })
})

const ROUND_TRIP = process.env.FULL === '1' ? 100_000 : 10_000

test(`round trip: ${ROUND_TRIP} NDJSON events -> toDynamo -> scanDynamo, nothing lost, per-key order kept`, async () => {
  const table = await freshTable({ partition: ['stream', 'S'], sort: ['seq', 'N'] })
  const streams = 500
  const lines: string[] = []
  for (let i = 0; i < ROUND_TRIP; i++) {
    lines.push(JSON.stringify({ stream: `st${i % streams}`, seq: Math.floor(i / streams), type: 'Changed', detail: { i, note: 'hello' } }))
  }
  const text = lines.join('\n') + '\n'
  async function* ndjson() {
    for (const line of text.split('\n')) if (line) yield JSON.parse(line) as Record<string, unknown>
  }
  const started = Date.now()
  const result = await toDynamo({
    client: doc,
    tableName: table,
    mapping: { columns: { stream: 'stream', seq: 'seq', type: 'type', detail: 'detail' }, key: ['stream', 'seq'] },
  })(ndjson())
  const wrote = Date.now() - started
  addsUp(result)
  assert.is(result.written, ROUND_TRIP)
  const seqs = new Map<string, number[]>()
  let count = 0
  for await (const item of scanDynamo<{ stream: string; seq: number; detail: { i: number } }>({ client: doc, tableName: table, parallelism: 4 })) {
    count++
    const list = seqs.get(item.stream) ?? []
    list.push(item.seq)
    seqs.set(item.stream, list)
  }
  assert.is(count, ROUND_TRIP)
  assert.is(seqs.size, streams)
  for (const [stream, list] of seqs) {
    for (let i = 0; i < list.length; i++) if (list[i] !== i) assert.unreachable(`${stream} out of order at ${i}`)
  }
  if (process.env.VERBOSE) console.log(`round trip of ${ROUND_TRIP}: wrote in ${wrote} ms, read in ${Date.now() - started - wrote} ms`)
})

test.run()
