import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { pipe } from 'it-pipe'
import { Client } from '@opensearch-project/opensearch'
import { toOpenSearch } from '../../lib/opensearch/sink.js'
import { searchOpenSearch } from '../../lib/opensearch/search.js'
import { openSearchPlugin } from '../../lib/opensearch/plugin.js'
import { parseUri, type FactoryContext } from '../../lib/registry.js'
import { HydratorError } from '../../lib/errors.js'
import { positionOf, setPosition } from '../../lib/position.js'
import type { ItemFailure, SinkResult } from '../../lib/types.js'
import { sinkContract } from '../contract.js'
import { at, events as makeEvents, tracked, factoryContext } from '../helpers.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'

const test = suite('toOpenSearch')

let server: OpenSearchTestServer
let client: Client
let indexNo = 0
const fast = { minDelayMs: 1, maxDelayMs: 5 }

/** A fresh index with an explicit mapping, so a value that does not fit is refused. */
async function freshIndex(properties: Record<string, unknown> = { id: { type: 'keyword' }, n: { type: 'long' }, time: { type: 'date' } }) {
  const index = `t${++indexNo}`
  await client.indices.create({ index, body: { mappings: { properties } } as never })
  return index
}

function docs(index: string) {
  return server.documents(index)
}

function assertAddsUp(result: SinkResult) {
  assert.is(result.received, result.written + result.skipped + result.failed, 'received = written + skipped + failed')
}

type Ev = { id: string; n: number; time: string; agg?: string; v?: number; type?: string; detail?: Record<string, unknown> }

function ev(i: number, extra: Partial<Ev> = {}): Ev {
  return { id: `e${i}`, n: i, time: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(), ...extra }
}

/** The CLI's factory context, with only the environment (and what `extra` adds) given. */
const context = (env: Record<string, string> = {}, extra: Partial<FactoryContext> = {}) => factoryContext({ env, ...extra })

test.before(async () => {
  server = await startOpenSearchServer()
  client = new Client({ node: server.url })
  await client.indices.create({ index: 'contract' })
})

test.after.each(() => {
  delete server.faults.bulkItem
  delete server.faults.request
  delete server.faults.dropResponse
})

test.after(async () => {
  await client.close()
  await server.close()
})

sinkContract(test, 'toOpenSearch', () => toOpenSearch({ client, index: 'contract', idPath: 'id' }), makeEvents(5))

test('indexes every event as a document with its _id, in bulk requests of batchSize', async () => {
  const index = await freshIndex()
  const input = Array.from({ length: 250 }, (_, i) => ev(i))
  const before = server.stats.bulkItemCounts.length
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'id', batchSize: 100 }))
  assert.is(result.written, 250)
  assert.is(result.failed, 0)
  assert.is(result.uri, `opensearch:${index}`)
  assert.equal(server.stats.bulkItemCounts.slice(before).sort((a, b) => b - a), [100, 100, 50])
  const stored = docs(index)
  assert.is(stored.length, 250)
  assert.equal(stored.find((d) => d._id === 'e7')!._source, ev(7), 'the document is the whole event')
})

test('with a mapping, the _id is the key column and the document is the mapped columns', async () => {
  const index = await freshIndex({ orderId: { type: 'keyword' }, status: { type: 'keyword' }, total: { type: 'long' } })
  const input = [
    { detail: { orderId: 'o1', status: 'placed', total: 10 }, id: 'x1' },
    { detail: { orderId: 'o2', status: 'shipped' }, id: 'x2' },
  ]
  const result = await pipe(
    tracked(input).source,
    toOpenSearch({
      client,
      index,
      mapping: { columns: { orderId: 'detail.orderId', status: 'detail.status', total: 'detail.total' }, key: ['orderId'] },
    }),
  )
  assert.is(result.written, 2)
  assert.equal(docs(index), [
    { _id: 'o1', _version: 1, _source: { orderId: 'o1', status: 'placed', total: 10 } },
    { _id: 'o2', _version: 1, _source: { orderId: 'o2', status: 'shipped', total: null } },
  ])
})

test('external versions: only a higher version overwrites, a stale one is skipped', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, agg: { type: 'keyword' }, v: { type: 'long' } })
  const sink = () => toOpenSearch({ client, index, idPath: 'agg', versionPath: 'v', batchSize: 1 })
  const first = await pipe(tracked([ev(1, { agg: 'a', v: 1 }), ev(2, { agg: 'a', v: 3 }), ev(3, { agg: 'b', v: 2 })]).source, sink())
  assert.is(first.written, 3)
  const second = await pipe(tracked([ev(4, { agg: 'a', v: 2 }), ev(5, { agg: 'a', v: 3 }), ev(6, { agg: 'b', v: 5 })]).source, sink())
  assert.is(second.written, 1)
  assert.is(second.skipped, 2, 'v2 and an equal v3 are stale')
  assert.is(second.failed, 0)
  assertAddsUp(second)
  const stored = docs(index)
  assert.equal(stored.map((d) => [d._id, d._version, (d._source as Ev).id]), [
    ['a', 3, 'e2'],
    ['b', 5, 'e6'],
  ])
})

test('same-_id writes in one batch are collapsed: the highest version wins, the others are skipped', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, agg: { type: 'keyword' }, v: { type: 'long' } })
  const input = [ev(1, { agg: 'a', v: 2 }), ev(2, { agg: 'a', v: 5 }), ev(3, { agg: 'a', v: 4 }), ev(4, { agg: 'b', v: 1 })]
  const before = server.stats.bulkItemCounts.length
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'agg', versionPath: 'v' }))
  assert.equal(server.stats.bulkItemCounts.slice(before), [2], 'one bulk, one action per _id')
  assert.is(result.written, 2)
  assert.is(result.skipped, 2)
  assert.equal(docs(index).map((d) => [d._id, d._version]), [
    ['a', 5],
    ['b', 1],
  ])
})

test('deletes: events matching deleteWhen delete their document; versioned deletes obey versions', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, agg: { type: 'keyword' }, v: { type: 'long' }, type: { type: 'keyword' } })
  const input = [
    ev(1, { agg: 'a', v: 1, type: 'Created' }),
    ev(2, { agg: 'b', v: 1, type: 'Created' }),
    ev(3, { agg: 'c', v: 1, type: 'Created' }),
    ev(4, { agg: 'a', v: 2, type: 'Deleted' }),
    ev(5, { agg: 'b', v: 0, type: 'Deleted' }), // older than what is stored: stale
    ev(6, { agg: 'zzz', v: 9, type: 'Deleted' }), // nothing to delete: changed nothing
  ]
  const result = await pipe(
    tracked(input).source,
    toOpenSearch({ client, index, idPath: 'agg', versionPath: 'v', batchSize: 3, deleteWhen: { type: ['Deleted'] } }),
  )
  assert.is(result.written, 4)
  assert.is(result.deleted, 1)
  assert.is(result.skipped, 2)
  assert.equal(result.skippedBy, { stale: 1, deleteOfMissing: 1 })
  assertAddsUp(result)
  assert.equal(docs(index).map((d) => d._id), ['b', 'c'])
  // The tombstone keeps the delete's version: a late v1 of `a` stays deleted.
  const late = await pipe(tracked([ev(7, { agg: 'a', v: 1, type: 'Created' })]).source, toOpenSearch({ client, index, idPath: 'agg', versionPath: 'v' }))
  assert.is(late.skipped, 1)
  assert.equal(late.skippedBy, { stale: 1 })
  assert.equal(docs(index).map((d) => d._id), ['b', 'c'])
})

test('a predicate works as deleteWhen, unversioned deletes too', async () => {
  const index = await freshIndex()
  await pipe(tracked([ev(1), ev(2)]).source, toOpenSearch({ client, index, idPath: 'id' }))
  const result = await pipe(
    tracked([{ ...ev(1), gone: true }, { ...ev(9), gone: true }]).source,
    toOpenSearch({ client, index, idPath: 'id', deleteWhen: (e: unknown) => (e as { gone?: boolean }).gone === true }),
  )
  assert.is(result.deleted, 1)
  assert.equal(result.skippedBy, { deleteOfMissing: 1 })
  assert.equal(docs(index).map((d) => d._id), ['e2'])
})

test('items rejected with 429 are sent again on their own until they are written', async () => {
  const index = await freshIndex()
  const rejected = new Set(['e3', 'e17', 'e40'])
  server.faults.bulkItem = ({ id, attempt }) => (id && rejected.has(id) && attempt <= 2 ? 429 : undefined)
  const before = server.stats.bulkItemCounts.length
  const result = await pipe(tracked(Array.from({ length: 50 }, (_, i) => ev(i))).source, toOpenSearch({ client, index, idPath: 'id', retry: fast }))
  assert.is(result.written, 50)
  assert.is(result.failed, 0)
  assert.equal(server.stats.bulkItemCounts.slice(before), [50, 3, 3], 'the retries carried only the rejected items')
  assert.equal(result.retries, { rejected_execution_exception: 2 })
  assert.is(docs(index).length, 50)
})

test('an item still rejected when attempts run out fails with its _id; the rest is written', async () => {
  const index = await freshIndex()
  server.faults.bulkItem = ({ id }) => (id === 'e5' ? 429 : undefined)
  const failures: ItemFailure[] = []
  const input = Array.from({ length: 10 }, (_, i) => setPosition(ev(i), { kind: 'line', source: 'test', file: 'test', line: i + 1, offset: 0 }))
  const result = await toOpenSearch({ client, index, idPath: 'id', retry: { ...fast, attempts: 3 } })(tracked(input).source, {
    onFailure: (f) => failures.push(f),
  })
  assert.is(result.written, 9)
  assert.is(result.failed, 1)
  assert.is(failures[0]!.code, 'ERR_RETRIES_EXHAUSTED')
  assert.is(failures[0]!.key, 'e5')
  assert.is(failures[0]!.attempts, 3)
  assert.equal(failures[0]!.position, { kind: 'line', source: 'test', file: 'test', line: 6, offset: 0 })
  assert.match(failures[0]!.message, /rejected_execution_exception/)
  assertAddsUp(result)
})

test('a value that does not fit the mapping fails that event with its _id and the reason; the rest is written', async () => {
  const index = await freshIndex()
  const input = [ev(1), { ...ev(2), n: 'not a number' }, ev(3), { ...ev(4), time: 'yesterday' }, ev(5)]
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'id' }))
  assert.is(result.written, 3)
  assert.is(result.failed, 2)
  assert.equal(result.failures.map((f) => [f.key, f.code]), [
    ['e2', 'ERR_WRITE_REJECTED'],
    ['e4', 'ERR_WRITE_REJECTED'],
  ])
  assert.match(result.failures[0]!.message, /mapper_parsing_exception: failed to parse field \[n\] of type \[long\] in document with id 'e2'/)
  assert.match(result.failures[1]!.message, /failed to parse date field \[yesterday\]/)
  assert.equal(docs(index).map((d) => d._id), ['e1', 'e3', 'e5'])
  assertAddsUp(result)
})

test('an event without an _id or with a bad version fails alone before anything is sent', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, v: { type: 'long' } })
  const input = [{ id: 'a', v: 1 }, { v: 2 }, { id: 'b', v: 1.5 }, { id: 'c', v: -1 }, { id: 'x'.repeat(513), v: 1 }, { id: 'd', v: '7' }]
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'id', versionPath: 'v' }))
  assert.is(result.written, 2)
  assert.is(result.failed, 4)
  assert.ok(result.failures.every((f) => f.code === 'ERR_MAPPING'))
  assert.match(result.failures[0]!.message, /missing/)
  assert.match(result.failures[1]!.message, /whole number/)
  assert.match(result.failures[3]!.message, /at most 512/)
  assert.equal(docs(index).map((d) => [d._id, d._version]), [
    ['a', 1],
    ['d', 7],
  ])
})

test('batches are cut by bytes as well as by count', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, n: { type: 'long' }, pad: { type: 'keyword' } })
  const input = Array.from({ length: 40 }, (_, i) => ({ id: `e${i}`, n: i, pad: 'x'.repeat(200) }))
  const before = server.stats.bulkItemCounts.length
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'id', batchSize: 1000, maxBatchBytes: 1000 }))
  const counts = server.stats.bulkItemCounts.slice(before)
  assert.is(result.written, 40)
  // ~260 bytes per action: a batch is sent once it reaches 1000 bytes, so 4 per request.
  assert.ok(counts.length >= 10, `${counts.length} requests`)
  assert.ok(counts.every((c) => c <= 4), `at most 4 per request: ${counts}`)
})

test('writes to one _id stay in order with batches in flight', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, agg: { type: 'keyword' }, n: { type: 'long' } })
  const input = Array.from({ length: 600 }, (_, i) => ev(i, { agg: `a${i % 7}` }))
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'agg', batchSize: 5, concurrency: 6 }))
  assertAddsUp(result)
  for (const d of docs(index)) {
    const k = Number(d._id.slice(1))
    const last = Math.max(...input.filter((e) => e.n % 7 === k).map((e) => e.n))
    assert.is((d._source as Ev).n, last, `${d._id} holds its last event`)
  }
})

test('a throttled bulk request (429) is retried as a whole', async () => {
  const index = await freshIndex()
  let bulks = 0
  server.faults.request = ({ path }) => (path.endsWith('/_bulk') && bulks++ < 2 ? 429 : undefined)
  const result = await pipe(tracked([ev(1), ev(2)]).source, toOpenSearch({ client, index, idPath: 'id', retry: fast }))
  assert.is(result.written, 2)
  assert.equal(result.retries, { rejected_execution_exception: 2 })
})

test('a bulk too large for the cluster (413) is halved until it fits; a single document too large fails alone', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, n: { type: 'long' }, pad: { type: 'keyword' } })
  // The cluster takes at most 1500 bytes per request.
  server.faults.request = ({ path, bodyBytes }) => (path.endsWith('/_bulk') && bodyBytes > 1500 ? 413 : undefined)
  const input = [...Array.from({ length: 20 }, (_, i) => ({ id: `e${i}`, n: i, pad: 'x'.repeat(100) })), { id: 'huge', n: 0, pad: 'y'.repeat(2000) }]
  const result = await pipe(tracked(input).source, toOpenSearch({ client, index, idPath: 'id' }))
  assert.is(result.written, 20)
  assert.is(result.failed, 1)
  assert.equal([result.failures[0]!.key, result.failures[0]!.code], ['huge', 'ERR_ITEM_TOO_LARGE'])
  assert.is(docs(index).length, 20)
  assertAddsUp(result)
})

test('a bulk applied but whose answer was lost is sent again and counted as written, not stale', async () => {
  const index = await freshIndex({ id: { type: 'keyword' }, agg: { type: 'keyword' }, v: { type: 'long' } })
  let bulks = 0
  server.faults.dropResponse = ({ path }) => path.endsWith('/_bulk') && bulks++ === 0
  const result = await pipe(
    tracked([ev(1, { agg: 'a', v: 1 }), ev(2, { agg: 'b', v: 4 })]).source,
    toOpenSearch({ client, index, idPath: 'agg', versionPath: 'v', retry: fast }),
  )
  assert.is(bulks, 2, 'sent twice')
  assert.is(result.written, 2)
  assert.is(result.skipped, 0)
  assert.equal(docs(index).map((d) => [d._id, d._version]), [
    ['a', 1],
    ['b', 4],
  ])
})

test('a missing index fails at open, before any event is read (ERR_TARGET_NOT_FOUND, exit 2)', async () => {
  const { source, state } = tracked([ev(1)])
  try {
    await pipe(source, toOpenSearch({ client, index: 'does-not-exist', idPath: 'id' }))
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.match((error as Error).message, /does-not-exist/)
  }
  assert.is(state.pulled, 0, 'no event was read')
  assert.equal(await client.indices.exists({ index: 'does-not-exist' }).then((r) => r.body), false, 'nor was it auto-created')
})

test('createIndex creates a missing index with the given mappings', async () => {
  const result = await pipe(
    tracked([ev(1), { ...ev(2), n: 'x' }]).source,
    toOpenSearch({ client, index: 'created', idPath: 'id', createIndex: { mappings: { properties: { n: { type: 'long' } } } } }),
  )
  assert.is(result.written, 1)
  assert.is(result.failed, 1, 'the mapping given was used')
  assert.equal((server.mapping('created') as { mappings: { properties: { n: unknown } } }).mappings.properties.n, { type: 'long' })
})

test('a dry run writes nothing and previews what each action would do', async () => {
  const index = await freshIndex()
  const result = await toOpenSearch({ client, index, idPath: 'id', versionPath: 'n' })(tracked([ev(1), ev(2), ev(3)]).source, {
    dryRun: true,
    previewLimit: 2,
  })
  assert.is(result.dryRun, true)
  assert.is(result.written, 3)
  assert.equal(result.plan, { wouldInsert: 3, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: true })
  assert.equal(result.previews, [
    { op: 'insert', key: 'e1', next: ev(1) },
    { op: 'insert', key: 'e2', next: ev(2) },
  ])
  assert.is(docs(index).length, 0)
})

test('refresh makes everything searchable when the sink resolves; the counts add up with reads', async () => {
  const quiet = await startOpenSearchServer({ refreshIntervalMs: 0 })
  const c = new Client({ node: quiet.url })
  try {
    await c.indices.create({ index: 'r', body: { mappings: { properties: { id: { type: 'keyword' }, time: { type: 'date' }, n: { type: 'long' } } } } })
    const input = Array.from({ length: 120 }, (_, i) => (i % 10 === 9 ? { ...ev(i), n: 'bad' } : ev(i)))
    const result = await pipe(tracked(input).source, toOpenSearch({ client: c, index: 'r', idPath: 'id', refresh: true, batchSize: 25 }))
    assertAddsUp(result)
    const read: Ev[] = []
    for await (const e of searchOpenSearch<Ev>({ client: c, index: 'r', sort: ['time', 'id'] })) read.push(e)
    assert.is(read.length, result.written)
    assert.is(result.failed, 12)
  } finally {
    await c.close()
    await quiet.close()
  }
})

test('bad options are rejected when the sink is made', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ idPath: 'id', mapping: { columns: { id: 'id' }, key: ['id'] } }, /not both/],
    [{ mapping: { columns: { a: 'a', b: 'b' }, key: ['a', 'b'] } }, /one key column/],
    [{ idPath: 'id', index: 'Upper' }, /lowercase/],
    [{ idPath: 'id', index: 'a,b' }, /must not contain/],
    [{ idPath: 'id', batchSize: 0 }, /`batchSize`/],
    [{ idPath: 'id', maxBatchBytes: 0 }, /`maxBatchBytes`/],
    [{ idPath: 'id', concurrency: 0 }, /`concurrency`/],
    [{ idPath: 'id', retry: { attempts: 0 } }, /retry.attempts/],
    [{ idPath: 'id', client: {} }, /`client`/],
  ]
  for (const [options, message] of bad) {
    try {
      toOpenSearch({ client, index: 'x', ...options } as never)
      assert.unreachable(`should have thrown for ${JSON.stringify(options)}`)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION')
      assert.match((error as Error).message, message)
    }
  }
})

test('the opensearch: sink URI writes with basic auth, ?id= and ?version=, creates the index; the report hides the password', async () => {
  const secured = await startOpenSearchServer({ users: { writer: 'p@ss:word' } })
  try {
    const ctx = context()
    const url = `${secured.url.replace('http://', `http://writer:${encodeURIComponent('p@ss:word')}@`)}/users?id=detail.userId&version=detail.v&create=true&refresh=true`
    const sink = await openSearchPlugin.sinks!.opensearch!(parseUri(`opensearch:${url}`), ctx)
    const input = [
      { detail: { userId: 'u1', v: 1, name: 'Ann' } },
      { detail: { userId: 'u1', v: 2, name: 'Anne' } },
      { detail: { userId: 'u2', v: 1, name: 'Bob' } },
    ]
    const result = await sink(tracked(input).source)
    assert.is(result.written + result.skipped, 3)
    assert.not.match(result.uri, /p%40ss|word/)
    assert.match(result.uri, /^opensearch:http:\/\/writer:\*\*\*@127\.0\.0\.1:\d+\/users\?id=detail\.userId/)
    assert.equal(secured.documents('users').map((d) => [d._id, d._version]), [
      ['u1', 2],
      ['u2', 1],
    ])
    for (const close of ctx.closers) await close()

    // --table and a --column/--key mapping, credentials from the environment.
    const ctx2 = context({ OPENSEARCH_USERNAME: 'writer', OPENSEARCH_PASSWORD: 'p@ss:word' }, {
      table: 'users',
      mapping: { columns: { id: 'detail.userId', name: 'detail.name' }, key: ['id'] },
    })
    const sink2 = await openSearchPlugin.sinks!.opensearch!(parseUri(`opensearch:${secured.url}`), ctx2)
    const r2 = await sink2(tracked([{ detail: { userId: 'u3', name: 'Cy' } }]).source)
    assert.is(r2.written, 1)
    assert.equal(secured.documents('users').find((d) => d._id === 'u3')!._source, { id: 'u3', name: 'Cy' })
    for (const close of ctx2.closers) await close()

    // Wrong password: ERR_AUTH at open, before any event.
    const ctx3 = context()
    const denied = await openSearchPlugin.sinks!.opensearch!(parseUri(`opensearch:${secured.url.replace('http://', 'http://writer:nope@')}/users?id=id`), ctx3)
    const { source, state } = tracked([{ id: 'x' }])
    try {
      await denied(source)
      assert.unreachable('should have thrown')
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_AUTH')
      assert.not.match((error as Error).message, /nope/)
    }
    assert.is(state.pulled, 0)
    for (const close of ctx3.closers) await close()
  } finally {
    await secured.close()
  }
})

test('the opensearch: sink URI without an _id or an index is a usage error', async () => {
  for (const [uri, extra, message] of [
    [`opensearch:${server.url}`, {}, /names no index/],
    [`opensearch:${server.url}/users?id=id`, { mapping: { columns: { id: 'id' }, key: ['id'] } }, /not both/],
  ] as const) {
    try {
      await openSearchPlugin.sinks!.opensearch!(parseUri(uri), context({}, extra as Partial<FactoryContext>))
      assert.unreachable(`should have thrown for ${uri}`)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.match((error as Error).message, message)
    }
  }
})

// 100,000 takes about 5 s against the test server; OPENSEARCH_ROUND_TRIP=<n> changes it.
const ROUND_TRIP = Number(process.env.OPENSEARCH_ROUND_TRIP ?? 100_000)

test(`round trip: ${ROUND_TRIP.toLocaleString()} events -> toOpenSearch -> searchOpenSearch -> toOpenSearch: nothing lost, per-key order kept`, async () => {
  const AGGS = 500
  const events = Array.from({ length: ROUND_TRIP }, (_, i) => ({
    id: `ev-${String(i).padStart(7, '0')}`,
    time: new Date(Date.UTC(2024, 0, 1) + Math.floor(i / 4) * 1000).toISOString(),
    detail: { aggregateId: `agg-${(i * 7) % AGGS}`, version: Math.floor(i / AGGS) + 1, amount: i % 97 },
  }))
  await client.indices.create({
    index: 'history',
    body: { mappings: { properties: { id: { type: 'keyword' }, time: { type: 'date' }, detail: { properties: { aggregateId: { type: 'keyword' }, version: { type: 'long' } } } } } },
  })
  const written = await pipe(tracked(events).source, toOpenSearch({ client, index: 'history', idPath: 'id', refresh: true, concurrency: 4 }))
  assert.is(written.written, ROUND_TRIP)
  assertAddsUp(written)

  // Read it back in time order and hydrate per-aggregate state with external versions.
  const source = searchOpenSearch<(typeof events)[number]>({ client, index: 'history', sort: ['time', 'id'], slices: 2 })
  const seen: string[] = []
  const perAgg = new Map<string, number[]>()
  async function* observed() {
    for await (const e of source) {
      seen.push(e.id)
      const list = perAgg.get(e.detail.aggregateId) ?? []
      list.push(e.detail.version)
      perAgg.set(e.detail.aggregateId, list)
      assert.ok(at(positionOf(e))?.key === e.id)
      yield e
    }
  }
  await client.indices.create({ index: 'state' })
  const state = await pipe(observed(), toOpenSearch({ client, index: 'state', mapping: { columns: { id: 'detail.aggregateId', version: 'detail.version', amount: 'detail.amount' }, key: ['id'], versionColumn: 'version' }, concurrency: 4 }))
  assert.is(seen.length, ROUND_TRIP, 'nothing lost')
  assert.equal(seen, events.map((e) => e.id), 'read back in time order')
  assert.is(perAgg.size, AGGS)
  for (const [agg, versions] of perAgg) {
    assert.equal(versions, Array.from({ length: ROUND_TRIP / AGGS }, (_, i) => i + 1), `${agg} in version order`)
  }
  assert.is(state.received, ROUND_TRIP)
  assertAddsUp(state)
  const final = docs('state')
  assert.is(final.length, AGGS)
  assert.ok(final.every((d) => d._version === ROUND_TRIP / AGGS), 'every aggregate holds its last version')
  assert.is(server.openPits(), 0)
})

const REAL = process.env.OPENSEARCH_URL

test('against a real cluster (OPENSEARCH_URL): write, read back in order, versions, deletes', async () => {
  if (!REAL) {
    console.log('skipped: real OpenSearch tests (set OPENSEARCH_URL to run them)')
    return
  }
  const ctx = context({ ...(process.env as Record<string, string>) })
  const index = `hydrator-test-${process.pid}-${Date.now()}`
  const real = new Client({ node: REAL, ssl: { rejectUnauthorized: false } })
  try {
    const sink = await openSearchPlugin.sinks!.opensearch!(parseUri(`opensearch:${REAL.replace(/\/$/, '')}/${index}?id=agg&version=v&create=true&refresh=true&insecure=true`), {
      ...ctx,
      flags: {},
    })
    await real.indices.create({ index, body: { mappings: { properties: { agg: { type: 'keyword' }, v: { type: 'long' }, time: { type: 'date' }, n: { type: 'long' } } } } }).catch(() => {})
    const input = Array.from({ length: 300 }, (_, i) => ({ agg: `a${i % 30}`, v: Math.floor(i / 30) + 1, time: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(), n: i }))
    const result = await sink(tracked([...input, { ...input[0]!, n: 'bad' }, { ...input[5]!, v: 1 }]).source)
    assert.is(result.received, 302)
    assertAddsUp(result)
    assert.is(result.written, 30, 'one write per key survives the batch')
    const source = await openSearchPlugin.sources!.opensearch!(parseUri(`opensearch:${REAL.replace(/\/$/, '')}/${index}?sort=time,agg&page-size=7&slices=2&insecure=true`), ctx)
    const read: { agg: string; v: number }[] = []
    for await (const e of source as AsyncIterable<{ agg: string; v: number }>) read.push(e)
    assert.is(read.length, 30)
    assert.ok(read.every((e) => e.v === 10))
  } finally {
    await real.indices.delete({ index }).catch(() => {})
    await real.close()
    for (const close of ctx.closers) await close()
  }
})

test.run()
