import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@opensearch-project/opensearch'
import { searchOpenSearch } from '../../lib/opensearch/search.js'
import { openSearchPlugin } from '../../lib/opensearch/plugin.js'
import { parseUri } from '../../lib/registry.js'
import { positionOf } from '../../lib/position.js'
import { HydratorError } from '../../lib/errors.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'
import { factoryContext } from '../helpers.js'

const test = suite('searchOpenSearch')

const TOTAL = 240
const BASE = Date.UTC(2024, 0, 1)

type Ev = { id: string; time: string; n: number; kind: string; detail: { v: number } }

/** Three events per second, so the time field alone is not unique: the id breaks ties. */
function makeEvent(i: number): Ev {
  return {
    id: `e${String(i).padStart(5, '0')}`,
    time: new Date(BASE + Math.floor(i / 3) * 1000).toISOString(),
    n: i,
    kind: i % 4 === 0 ? 'order' : 'user',
    detail: { v: i * 2 },
  }
}

let server: OpenSearchTestServer
let client: Client

async function seed(index: string, events: Ev[], mappings = { properties: { id: { type: 'keyword' }, time: { type: 'date' }, n: { type: 'long' }, kind: { type: 'keyword' } } }) {
  await client.indices.create({ index, body: { mappings } as never })
  // Shuffled on purpose: the order must come from the sort, not from arrival.
  const shuffled = [...events].sort((a, b) => ((a.n * 7919) % 101) - ((b.n * 7919) % 101) || a.n - b.n)
  for (let i = 0; i < shuffled.length; i += 100) {
    const body = shuffled.slice(i, i + 100).flatMap((e) => [{ index: { _id: e.id } }, e])
    const response = await client.bulk({ index, body, refresh: 'true' })
    assert.not.ok(response.body.errors, 'seeded without errors')
  }
}

async function drain<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const e of source) out.push(e)
  return out
}

const allIds = Array.from({ length: TOTAL }, (_, i) => makeEvent(i).id)

/** The CLI's factory context, with only the environment given. */
const context = (env: Record<string, string> = {}) => factoryContext({ env })

test.before(async () => {
  server = await startOpenSearchServer()
  client = new Client({ node: server.url })
  await seed('events', Array.from({ length: TOTAL }, (_, i) => makeEvent(i)))
})

test.after.each(() => {
  delete server.faults.pitSearchLimit
  delete server.faults.request
  delete server.faults.searchShardFailure
})

test.after(async () => {
  await client.close()
  await server.close()
})

test('reads every document once in sort order across pages, with _id and sort values as the position', async () => {
  const source = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 7 })
  const events = await drain(source)
  assert.equal(events.map((e) => e.id), allIds)
  assert.equal(events[5], makeEvent(5), 'the event is the _source as stored')
  const position = positionOf(events[5])!
  assert.equal(position, { kind: 'opensearch', source: 'opensearch:events', key: 'e00005', sort: [BASE + 1000, 'e00005'] })
  assert.is(source.stats.read, TOTAL)
  assert.equal(source.cursor(), [BASE + 79_000, 'e00239'])
  assert.is(server.openPits(), 0, 'the point in time was deleted at the end')
})

test('a descending sort reads newest first', async () => {
  const events = await drain(searchOpenSearch<Ev>({ client, index: 'events', sort: ['time:desc', { id: 'desc' }], pageSize: 50 }))
  assert.equal(events.map((e) => e.id), [...allIds].reverse())
})

test('a query narrows the read', async () => {
  const events = await drain(
    searchOpenSearch<Ev>({
      client,
      index: 'events',
      sort: ['time', 'id'],
      pageSize: 9,
      query: { bool: { filter: [{ term: { kind: 'order' } }, { range: { n: { gte: 100 } } }] } },
    }),
  )
  assert.equal(
    events.map((e) => e.id),
    allIds.filter((_, i) => i % 4 === 0 && i >= 100),
  )
})

test('parallel slices cover every document once, merged back into sort order', async () => {
  const source = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 11, slices: 4 })
  const events = await drain(source)
  assert.equal(events.map((e) => e.id), allIds)
  assert.equal(source.cursor(), [BASE + 79_000, 'e00239'])
  assert.is(server.openPits(), 0)
})

test('shares of a scaled-out read (slice id/max) are disjoint and together complete', async () => {
  const shares = await Promise.all(
    [0, 1, 2].map((id) => drain(searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 13, slice: { id, max: 3 }, slices: 2 }))),
  )
  for (const share of shares) {
    assert.ok(share.length > 0, 'every share has documents')
    const ids = share.map((e) => e.id)
    assert.equal(ids, [...ids].sort(), 'each share comes in sort order')
  }
  const ids = shares.flat().map((e) => e.id)
  assert.is(new Set(ids).size, ids.length, 'no document in two shares')
  assert.equal([...ids].sort(), allIds)
})

test('a point in time that expires mid-run is reopened; reading goes on without duplicates or gaps', async () => {
  server.faults.pitSearchLimit = 3
  const source = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 10 })
  const events = await drain(source)
  assert.equal(events.map((e) => e.id), allIds)
  assert.ok(source.pitsReopened >= 5, `reopened ${source.pitsReopened} times`)
  assert.is(server.openPits(), 0)
})

test('sliced reads survive expiring points in time too', async () => {
  server.faults.pitSearchLimit = 4
  const source = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 10, slices: 3 })
  const events = await drain(source)
  assert.equal(events.map((e) => e.id), allIds)
  assert.ok(source.pitsReopened > 0)
})

test('a page with a failed shard is never taken as complete: it is read again, or the PIT reopened', async () => {
  for (const failure of ['node_disconnected_exception', 'search_context_missing_exception'] as const) {
    let searches = 0
    server.faults.searchShardFailure = () => (searches++ % 4 === 2 ? failure : undefined)
    const source = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 25, retry: { minDelayMs: 1, maxDelayMs: 5 } })
    const events = await drain(source)
    assert.equal(events.map((e) => e.id), allIds, `${failure}: every document once`)
    if (failure === 'search_context_missing_exception') assert.ok(source.pitsReopened > 0)
    assert.is(server.openPits(), 0, 'the PIT left behind on the other shards was released')
  }
})

test('an early break deletes the point in time; resumeAfter the cursor reads exactly the rest', async () => {
  const first = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 8 })
  const got: string[] = []
  for await (const e of first) {
    got.push(e.id)
    if (got.length === 100) break
  }
  assert.is(server.openPits(), 0, 'the finally deleted the point in time')
  const cursor = first.cursor()
  assert.equal(cursor, [makeEvent(99).time ? Date.parse(makeEvent(99).time) : 0, 'e00099'])
  const rest = searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 8, slices: 2, resumeAfter: cursor })
  const more = await drain(rest)
  assert.equal([...got, ...more.map((e) => e.id)], allIds)
  assert.equal(rest.stats.startedAt, { kind: 'opensearch', source: 'opensearch:events', key: undefined, sort: cursor })
})

test('throttled searches (429) are retried and nothing is lost', async () => {
  let searches = 0
  server.faults.request = ({ method, path }) => (method === 'POST' && path === '/_search' && searches++ % 3 === 1 ? 429 : undefined)
  const events = await drain(
    searchOpenSearch<Ev>({ client, index: 'events', sort: ['time', 'id'], pageSize: 30, retry: { minDelayMs: 1, maxDelayMs: 5 } }),
  )
  assert.equal(events.map((e) => e.id), allIds)
})

test('an empty index yields nothing', async () => {
  await client.indices.create({ index: 'empty', body: { mappings: { properties: { time: { type: 'date' }, id: { type: 'keyword' } } } } })
  assert.equal(await drain(searchOpenSearch({ client, index: 'empty', sort: ['time', 'id'] })), [])
})

test('a missing index is ERR_TARGET_NOT_FOUND on the first read', async () => {
  try {
    await drain(searchOpenSearch({ client, index: 'nope', sort: ['time', 'id'] }))
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.match((error as Error).message, /no such index \[nope\]/)
  }
})

test('a sort field the mapping cannot sort on is ERR_TARGET_SCHEMA with OpenSearch\'s reason', async () => {
  await client.bulk({ index: 'texts', body: [{ index: { _id: '1' } }, { title: 'hello world', time: '2024-01-01T00:00:00Z' }], refresh: 'true' })
  for (const [sort, reason] of [
    [['time', 'missing_field'], /No mapping found for \[missing_field\] in order to sort on/],
    [['time', 'title'], /Text fields are not optimised/],
  ] as const) {
    try {
      await drain(searchOpenSearch({ client, index: 'texts', sort: [...sort] }))
      assert.unreachable('should have thrown')
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_TARGET_SCHEMA')
      assert.match((error as Error).message, reason)
    }
  }
  // The dynamic keyword sub-field of a text field sorts fine.
  const events = await drain(searchOpenSearch({ client, index: 'texts', sort: ['time', 'title.keyword'] }))
  assert.is(events.length, 1)
  assert.is(server.openPits(), 0, 'the point in time is deleted after a failed read too')
})

test('a query OpenSearch rejects is ERR_INVALID_OPTION', async () => {
  try {
    await drain(searchOpenSearch({ client, index: 'events', sort: ['time', 'id'], query: { fuzzy_foo: {} } }))
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION')
    assert.match((error as Error).message, /unknown query \[fuzzy_foo\]/)
  }
})

test('bad options are rejected when the source is made, before any request', () => {
  const requestsBefore = server.stats.requests
  const bad: [Record<string, unknown>, RegExp, string?][] = [
    [{ sort: [] }, /`sort`/],
    [{ sort: 'time' }, /`sort`/],
    [{ sort: ['time:sideways'] }, /sort field/],
    [{ sort: ['time'], pageSize: 0 }, /`pageSize`.*between 1 and 10000/],
    [{ sort: ['time'], pageSize: 10_001 }, /`pageSize`/],
    [{ sort: ['time'], keepAlive: '2 minutes' }, /`keepAlive`/],
    [{ sort: ['time'], slices: 0 }, /`slices`/],
    [{ sort: ['time'], slice: { id: 3, max: 3 } }, /`slice.id`/],
    [{ sort: ['time'], slice: { id: 0, max: 1 } }, /`slice.max`/],
    [{ sort: ['time'], query: 'kind:order' }, /`query`/],
    [{ sort: ['time', 'id'], resumeAfter: [1] }, /2 \(time, id\)/, 'ERR_CHECKPOINT_MISMATCH'],
    [{ sort: ['time'], resumeAfter: [{}] }, /`resumeAfter`/],
    [{ sort: ['time'], index: '' }, /`index`/],
  ]
  for (const [options, message, code] of bad) {
    try {
      searchOpenSearch({ client, index: 'events', ...options } as never)
      assert.unreachable(`should have thrown for ${JSON.stringify(options)}`)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, code ?? 'ERR_INVALID_OPTION')
      assert.match((error as Error).message, message)
    }
  }
  assert.is(server.stats.requests, requestsBefore, 'no request was sent')
})

test('the opensearch: source URI reads with sort, query and slices; the report URI hides the password', async () => {
  const secured = await startOpenSearchServer({ users: { reader: 's3cret' } })
  const securedClient = new Client({ node: secured.url, auth: { username: 'reader', password: 's3cret' } })
  try {
    await securedClient.bulk({
      index: 'ev',
      body: Array.from({ length: 30 }, (_, i) => makeEvent(i)).flatMap((e) => [{ index: { _id: e.id } }, e]),
      refresh: 'true',
    })
    const ctx = context()
    const query = encodeURIComponent(JSON.stringify({ range: { n: { lt: 20 } } }))
    const url = `${secured.url.replace('http://', 'http://reader:s3cret@')}/ev?sort=time,id.keyword&query=${query}&slices=2&page-size=4`
    const source = (await openSearchPlugin.sources!.opensearch!(parseUri(`opensearch:${url}`), ctx)) as ReturnType<typeof searchOpenSearch<Ev>>
    const events = await drain(source)
    assert.equal(events.map((e) => e.id), allIds.slice(0, 20))
    assert.not.match(source.stats.uri, /s3cret/)
    assert.match(source.stats.uri, /^opensearch:http:\/\/reader:\*\*\*@127\.0\.0\.1:\d+\/ev\?sort=/)

    // Credentials from the environment, the index from ?index=, the opensearch+http form.
    const fromEnv = (await openSearchPlugin.sources!['opensearch+http']!(
      parseUri(`opensearch+http://${secured.url.slice('http://'.length)}?index=ev&sort=time,id.keyword`),
      context({ OPENSEARCH_USERNAME: 'reader', OPENSEARCH_PASSWORD: 's3cret' }),
    )) as AsyncIterable<Ev>
    assert.is((await drain(fromEnv)).length, 30)

    // Wrong credentials: ERR_AUTH before any event.
    const denied = (await openSearchPlugin.sources!.opensearch!(parseUri(`opensearch:${secured.url}/ev?sort=time`), ctx)) as AsyncIterable<Ev>
    try {
      await drain(denied)
      assert.unreachable('should have thrown')
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_AUTH')
    }
    for (const close of ctx.closers) await close()
  } finally {
    await securedClient.close()
    await secured.close()
  }
})

test('the opensearch: source URI without a sort or an index is a usage error naming the fix', async () => {
  for (const [uri, message] of [
    [`opensearch:${server.url}/events`, /sort=time,id/],
    [`opensearch:${server.url}?sort=time`, /names no index/],
    ['opensearch:events?sort=time', /OPENSEARCH_URL/],
    [`opensearch:${server.url}/events?sort=time&query={bad`, /query=/],
    [`opensearch:${server.url}/events?sort=time&slice=1`, /slice=<id>\/<max>/],
  ] as const) {
    try {
      await openSearchPlugin.sources!.opensearch!(parseUri(uri), context())
      assert.unreachable(`should have thrown for ${uri}`)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.match((error as Error).message, message)
    }
  }
  // OPENSEARCH_URL supplies the cluster for `opensearch:<index>`.
  const ctx = context({ OPENSEARCH_URL: server.url })
  const source = (await openSearchPlugin.sources!.opensearch!(parseUri('opensearch:events?sort=time,id&page-size=100'), ctx)) as AsyncIterable<Ev>
  assert.is((await drain(source)).length, TOTAL)
  for (const close of ctx.closers) await close()
})

test('aws=es signs every request with SigV4', async () => {
  const aws = await startOpenSearchServer({ requireSigV4: true })
  try {
    const ctx = context({ AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' })
    const raw = new Client({ node: aws.url })
    try {
      await raw.info()
      assert.unreachable('the server wants signed requests')
    } catch (error) {
      assert.is((error as { statusCode?: number }).statusCode, 403)
    } finally {
      await raw.close()
    }
    const source = (await openSearchPlugin.sources!.opensearch!(parseUri(`opensearch:${aws.url}/ev?sort=time&aws=es`), ctx)) as AsyncIterable<Ev>
    try {
      await drain(source)
      assert.unreachable('the index does not exist')
    } catch (error) {
      // Signed and accepted: the answer is about the index, not the signature.
      assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    }
    for (const close of ctx.closers) await close()
    try {
      await openSearchPlugin.sources!.opensearch!(parseUri(`opensearch:${aws.url}/ev?sort=time&aws=es`), context())
      assert.unreachable('no region')
    } catch (error) {
      assert.match((error as Error).message, /region/)
    }
  } finally {
    await aws.close()
  }
})

test.run()
