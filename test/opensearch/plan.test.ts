// Dry runs of toOpenSearch that show a plan: against an index that already holds documents (some
// newer, some older, some missing), a dry run reads what it needs (_mget), writes nothing, and
// counts exactly what the real run that follows on the same state does.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Client } from '@opensearch-project/opensearch'
import { toOpenSearch } from '../../lib/opensearch/sink.js'
import type { Mapping } from '../../lib/mapping.js'
import { run } from '../../lib/run.js'
import { formatReport } from '../../lib/report/format.js'
import type { RunReport } from '../../lib/report/report.js'
import { tracked } from '../helpers.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'

const test = suite('toOpenSearch: dry runs with a plan')

let server: OpenSearchTestServer
let client: Client
let indexNo = 0
const FAST = { minDelayMs: 1, maxDelayMs: 5 }

test.before(async () => {
  server = await startOpenSearchServer()
  client = new Client({ node: server.url })
})

test.after.each(() => {
  delete server.faults.request
})

test.after(async () => {
  await client.close()
  await server.close()
})

const mapping: Mapping = {
  columns: { id: 'detail.id', v: 'detail.version', status: 'detail.status' },
  key: ['id'],
  versionColumn: 'v',
  deleteWhen: { 'detail-type': ['Deleted'] },
}

type Ev = { id: string; 'detail-type': string; detail: { id?: string; version: number; status?: string } }
let n = 0
const put = (id: string | undefined, version: number): Ev => ({ id: `ev${++n}`, 'detail-type': 'Changed', detail: { id, version, status: `s${version}` } })
const del = (id: string, version: number): Ev => ({ id: `ev${++n}`, 'detail-type': 'Deleted', detail: { id, version } })

/** What the index holds before each run (external versions): `a` newer than the events, `b` older, `c` and `d` to be deleted. */
const STORED = [
  { _id: 'a', _version: 5, _source: { id: 'a', v: 5, status: 'stored' } },
  { _id: 'b', _version: 1, _source: { id: 'b', v: 1, status: 'stored' } },
  { _id: 'c', _version: 3, _source: { id: 'c', v: 3, status: 'stored' } },
  { _id: 'd', _version: 9, _source: { id: 'd', v: 9, status: 'stored' } },
]

/** Batches of 4: what the real action of each event does is in the comment. */
const EVENTS: Ev[] = [
  // batch 1
  put('a', 2), // stale: a holds 5
  put('b', 2), // duplicateInBatch: b 3 follows in this batch
  put('b', 3), // update of b 1
  put('e', 1), // insert
  // batch 2
  del('c', 4), // delete of c 3
  del('d', 2), // stale: d holds 9
  del('f', 1), // deleteOfMissing (its tombstone keeps version 1)
  put('e', 1), // stale: e 1 from batch 1 (a duplicate across batches)
  // batch 3
  put('e', 2), // update of e 1, written in batch 1
  put('c', 5), // insert: c was deleted in batch 2 at version 4
  put('b', 1), // stale: b 3 from batch 1
  put('g', 1), // insert
  // batch 4
  put('f', 1), // stale: f's tombstone holds version 1
  put('a', 6), // update of a 5
  del('g', 2), // delete of g 1 from batch 3
  put('c', 4), // stale: c 5 from batch 3
  // batch 5
  put('f', 2), // insert
  put(undefined, 1), // fails before any batch: no _id
]

async function freshIndex(): Promise<string> {
  const index = `plan-${++indexNo}`
  await client.indices.create({ index, body: { mappings: { properties: { id: { type: 'keyword' }, v: { type: 'long' }, status: { type: 'keyword' } } } } } as never)
  const body = STORED.flatMap((d) => [{ index: { _id: d._id, version: d._version, version_type: 'external' } }, d._source])
  await client.bulk({ index, body, refresh: true } as never)
  return index
}

const counts = (r: RunReport) => ({ written: r.sink.written, skipped: r.sink.skipped, deleted: r.sink.deleted, failed: r.sink.failed, skippedBy: r.sink.skippedBy })

test('a dry run writes nothing and counts what the real run on the same state does; previews show current and next', async () => {
  const index = await freshIndex()
  const sink = () => toOpenSearch({ client, index, mapping, batchSize: 4, concurrency: 2, retry: FAST })
  const dry = await run({ source: tracked(EVENTS).source, sink: sink(), dryRun: true })
  assert.equal(server.documents(index), STORED, 'a dry run writes nothing')
  assert.equal(dry.sink.plan, { wouldInsert: 4, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 8, exact: true })
  assert.equal(dry.sink.skippedBy, { stale: 6, duplicateInBatch: 1, deleteOfMissing: 1 })
  assert.equal(counts(dry), { written: 9, skipped: 8, deleted: 2, failed: 1, skippedBy: dry.sink.skippedBy })
  assert.is(dry.failures.samples[0]!.code, 'ERR_MAPPING')
  assert.equal(dry.sink.previews, [
    { op: 'skip', reason: 'stale', key: 'a', current: { _version: 5 }, next: { id: 'a', v: 2, status: 's2' } },
    { op: 'skip', reason: 'duplicateInBatch', key: 'b', next: { id: 'b', v: 2, status: 's2' } },
    { op: 'update', key: 'b', current: { _version: 1 }, next: { id: 'b', v: 3, status: 's3' } },
    { op: 'insert', key: 'e', next: { id: 'e', v: 1, status: 's1' } },
    { op: 'delete', key: 'c', current: { _version: 3 } },
  ])
  assert.match(formatReport(dry), /plan {5}would insert 4, update 3, delete 2, skip 8 \(read from the target/)

  const real = await run({ source: tracked(EVENTS).source, sink: sink() })
  assert.equal(counts(real), counts(dry), 'the real run does what the plan said')
  assert.equal(
    server.documents(index).map((d) => [d._id, d._version, d._source.status]),
    [
      ['a', 6, 's6'],
      ['b', 3, 's3'],
      ['c', 5, 's5'],
      ['d', 9, 'stored'],
      ['e', 2, 's2'],
      ['f', 2, 's2'],
    ],
  )
})

test('unversioned: inserts, updates, deletes of present and missing documents, duplicates, the same counts dry and real', async () => {
  const index = await freshIndex()
  const unversioned: Mapping = { columns: { id: 'detail.id', status: 'detail.status' }, key: ['id'], deleteWhen: { 'detail-type': ['Deleted'] } }
  const events = [put('a', 1), put('x', 1), put('x', 2), del('b', 1), del('zz', 1), put('a', 2), del('x', 3), put('c', 1)]
  const sink = () => toOpenSearch({ client, index, mapping: unversioned, batchSize: 3 })
  const dry = await run({ source: tracked(events).source, sink: sink(), dryRun: true })
  assert.equal(dry.sink.plan, { wouldInsert: 1, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 2, exact: true })
  assert.equal(dry.sink.skippedBy, { duplicateInBatch: 1, deleteOfMissing: 1 })
  const real = await run({ source: tracked(events).source, sink: sink() })
  assert.equal(counts(real), counts(dry))
  assert.equal(server.documents(index).map((d) => [d._id, d._source.status]), [['a', 's2'], ['c', 's1'], ['d', 'stored']])
})

test('the reads are one _mget per batch, retried on 429 and counted', async () => {
  const index = await freshIndex()
  let mgets = 0
  let refused = 0
  server.faults.request = ({ path }) => {
    if (!path.endsWith('/_mget')) return undefined
    mgets++
    return mgets <= 2 ? (refused++, 429) : undefined
  }
  const dry = await run({ source: tracked(EVENTS).source, sink: toOpenSearch({ client, index, mapping, batchSize: 4, retry: FAST }), dryRun: true })
  assert.is(refused, 2)
  // Batch 5 only holds `f`, whose state the plan knows from batch 2: it reads nothing.
  assert.is(mgets, 4 + 2, 'four batches read, the first one twice more')
  assert.is(dry.sink.retries.rejected_execution_exception, 2)
  assert.equal(dry.sink.plan, { wouldInsert: 4, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 8, exact: true })
})

test('reads that keep failing fail their batch with ERR_RETRIES_EXHAUSTED; nothing is written', async () => {
  const index = await freshIndex()
  server.faults.request = ({ path }) => (path.endsWith('/_mget') ? 503 : undefined)
  const dry = await run({ source: tracked([put('a', 7), put('q', 1)]).source, sink: toOpenSearch({ client, index, mapping, retry: { ...FAST, attempts: 2 } }), dryRun: true })
  assert.is(dry.sink.failed, 2)
  assert.ok(dry.failures.samples.every((f) => f.code === 'ERR_RETRIES_EXHAUSTED'), JSON.stringify(dry.failures.samples))
  assert.match(dry.failures.samples[0]!.message, /_mget.*unavailable_shards_exception/)
  assert.equal(server.documents(index), STORED)
})

test('with createIndex, a dry run on a missing index plans inserts without reading or creating it', async () => {
  const before = server.stats.requests
  const dry = await run({
    source: tracked([put('a', 1), put('b', 1), put('a', 2), del('c', 1)]).source,
    sink: toOpenSearch({ client, index: 'not-yet', mapping, batchSize: 2, createIndex: true }),
    dryRun: true,
  })
  assert.equal(dry.sink.plan, { wouldInsert: 2, wouldUpdate: 1, wouldDelete: 0, wouldSkip: 1, exact: true })
  assert.equal(dry.sink.skippedBy, { deleteOfMissing: 1 })
  assert.is(server.stats.requests - before, 1, 'only the check that the index exists')
  assert.equal((await client.indices.exists({ index: 'not-yet' })).body, false)
})

test('past maxPlannedKeys the plan forgets documents and says it is not exact', async () => {
  const index = await freshIndex()
  const dry = await run({ source: tracked(EVENTS).source, sink: toOpenSearch({ client, index, mapping, batchSize: 4, maxPlannedKeys: 2 }), dryRun: true })
  assert.is(dry.sink.plan?.exact, false)
})

test('the test server answers _mget as OpenSearch does, and rejects what OpenSearch rejects', async () => {
  const index = await freshIndex()
  // Realtime: a document not yet refreshed is found; `_source=false` leaves the source out.
  await client.index({ index, id: 'fresh', body: { id: 'fresh', v: 1 } } as never)
  const byIds = await client.mget({ index, body: { ids: ['a', 'fresh', 'nope'] }, _source: false } as never)
  assert.equal((byIds.body as { docs: unknown[] }).docs, [
    { _index: index, _id: 'a', _version: 5, _seq_no: 0, _primary_term: 1, found: true },
    { _index: index, _id: 'fresh', _version: 1, _seq_no: 4, _primary_term: 1, found: true },
    { _index: index, _id: 'nope', found: false },
  ])
  const notRealtime = await client.mget({ index, body: { ids: ['fresh'] }, realtime: false } as never)
  assert.equal((notRealtime.body as { docs: unknown[] }).docs, [{ _index: index, _id: 'fresh', found: false }])
  // `docs` with their own index and source filter; a missing index is an error of its documents only.
  const byDocs = await client.mget({ body: { docs: [{ _index: index, _id: 'b', _source: ['status'] }, { _index: 'missing', _id: 'x' }] } } as never)
  const [b, missing] = (byDocs.body as { docs: Record<string, unknown>[] }).docs
  assert.equal(b, { _index: index, _id: 'b', _version: 1, _seq_no: 1, _primary_term: 1, found: true, _source: { status: 'stored' } })
  assert.equal((missing!.error as { type: string; reason: string }).type, 'index_not_found_exception')
  assert.equal((missing!.error as { type: string; reason: string }).reason, 'no such index [missing]')
  for (const [params, type, reason] of [
    [{ body: { ids: ['a'] } }, 'action_request_validation_exception', 'Validation Failed: 1: index is missing for doc 0;'],
    [{ index, body: { ids: [] } }, 'action_request_validation_exception', 'Validation Failed: 1: no documents to get;'],
    [{ index, body: { keys: ['a'] } }, 'parse_exception', 'unknown key [keys] for a START_ARRAY, expected [docs] or [ids]'],
    [{ index, body: { docs: [{ _id: 'a', colour: 'red' }] } }, 'parse_exception', 'failed to parse multi get request. unknown field [colour]'],
    [{ index, body: { ids: ['a'] }, fields: 'x' }, 'illegal_argument_exception', `request [/${index}/_mget] contains unrecognized parameter: [fields]`],
  ] as const) {
    try {
      await client.mget(params as never)
      assert.unreachable(JSON.stringify(params))
    } catch (error) {
      const e = error as { meta: { statusCode: number; body: { error: { type: string; reason: string } } } }
      assert.is(e.meta.statusCode, 400)
      assert.is(e.meta.body.error.type, type)
      assert.is(e.meta.body.error.reason, reason)
    }
  }
})

test.run()
