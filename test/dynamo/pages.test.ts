import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { queryPages, parsePageRange } from '../../lib/dynamo/index.js'
import { hydrate } from '../../lib/hydrate.js'
import { positionOf } from '../../lib/position.js'
import { all, rejects, tempDir } from '../helpers.js'
import { createTable, dynamoEnv, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { seed } from '../aws-lambda/testbed.js'

const test = suite('queryPages: the global order a page index keeps (the changeset store)')

const PAGES = 5
const PER_PAGE = 40
let bed: DynamoTestbed
let tmp: Awaited<ReturnType<typeof tempDir>>
let env: Record<string, string | undefined>

/** Changeset `n` (global order) on page n / PER_PAGE, with 1 to 3 events. */
function changeset(n: number) {
  const events = Array.from({ length: (n % 3) + 1 }, (_, e) => ({ id: `c${n}-e${e}`, 'detail-type': 'Changed', detail: { n, e } }))
  return { stream_id: `s${n % 17}`, changeset_id: `cs-${String(n).padStart(5, '0')}`, page: Math.floor(n / PER_PAGE), page_item: n % PER_PAGE, events }
}
const expected = Array.from({ length: PAGES * PER_PAGE }, (_, n) => changeset(n).events.map((e) => e.id)).flat()

test.before(async () => {
  bed = await startDynamoTestbed()
  tmp = await tempDir('eh-pages-')
  await createTable(bed.raw, 'changesets', { partition: ['stream_id', 'S'], sort: ['changeset_id', 'S'] }, [{ name: 'page-index', partition: ['page', 'N'], sort: ['page_item', 'N'] }])
  // Loaded in a shuffled order: only the index gives the global order.
  const items = Array.from({ length: PAGES * PER_PAGE }, (_, n) => changeset(n)).sort((a, b) => ((a.page_item * 7919 + a.page) % 97) - ((b.page_item * 7919 + b.page) % 97))
  await seed(bed.doc, 'changesets', items)
  // A changeset on a page after a gap: reading stops at the first empty page, so it is not read.
  await seed(bed.doc, 'changesets', [{ ...changeset(0), stream_id: 'late', page: PAGES + 1 }])
  env = dynamoEnv(bed.server.endpoint)
})

test.after(async () => {
  await bed.close()
  await tmp.cleanup()
})

test('pages 0, 1, 2, ... in turn, each in page_item order, changesets unwrapped into their events; it stops at the first empty page', async () => {
  const events = await all(queryPages<{ id: string }>({ client: bed.doc, tableName: 'changesets', indexName: 'page-index', pages: { from: 0 }, pageSize: 7, unwrap: { field: 'events', keep: ['stream_id'] } }))
  assert.equal(events.map((e) => e.id), expected)
  assert.is(positionOf(events[events.length - 1])?.kind, 'dynamo')
  assert.is((positionOf(events[events.length - 1]) as { page?: number }).page, PAGES - 1)
  const some = await all(queryPages<{ id: string }>({ client: bed.doc, tableName: 'changesets', indexName: 'page-index', pages: { from: 1, to: 2 }, unwrap: { field: 'events' } }))
  assert.equal(some.map((e) => e.id), expected.filter((id) => { const n = Number(/^c(\d+)-/.exec(id)![1]); return n >= PER_PAGE && n < 3 * PER_PAGE }))
  // An end page reads empty pages up to it, and what lies after the gap.
  const through = await all(queryPages<{ id: string }>({ client: bed.doc, tableName: 'changesets', indexName: 'page-index', pages: { from: PAGES - 1, to: PAGES + 1 }, unwrap: { field: 'events' } }))
  assert.is(through.length, expected.filter((id) => Number(/^c(\d+)-/.exec(id)![1]) >= (PAGES - 1) * PER_PAGE).length + 1)
})

test('from the CLI URI, stopped mid-way and resumed from the checkpoint: exactly the events, once, in the global order', async () => {
  const controller = new AbortController()
  let seen = 0
  const options = {
    source: 'dynamo:changesets?index=page-index&pages=0..&unwrap=events&keep=stream_id&pageSize=9',
    sink: 'ndjson:paged.ndjson',
    checkpoint: 'paged.ckpt',
    checkpointInterval: 50,
    filter: function stopAt150() {
      if (++seen === 150) controller.abort()
      return true
    },
    batchSize: 10,
    cwd: tmp.dir,
    env,
  }
  const first = await hydrate({ ...options, signal: controller.signal })
  assert.is(first.status, 'aborted')
  assert.ok((first.checkpoint?.position as { page?: number } | undefined)?.page !== undefined, 'the checkpoint holds the page')
  const second = await hydrate(options)
  assert.is(second.status, 'ok')
  assert.ok(second.source.startedAt, 'it resumed')
  const out = (await readFile(path.join(tmp.dir, 'paged.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id)
  assert.equal(out, expected)
  assert.is(second.checkpoint?.totals.read, expected.length)
})

test('bad page ranges and mixed options are clear errors', async () => {
  assert.equal(parsePageRange('0..'), { from: 0 })
  assert.equal(parsePageRange('3..10'), { from: 3, to: 10 })
  assert.equal(parsePageRange('5'), { from: 5, to: 5 })
  for (const bad of ['-1..', 'a..b', '5..2', '']) assert.throws(() => parsePageRange(bad), /pages/)
  await rejects(hydrate({ source: 'dynamo:changesets?pages=0..&partition=x', cwd: tmp.dir, env }), 'ERR_INVALID_URI', /`partition` does not go with `pages=`/)
  await rejects(hydrate({ source: 'dynamo:changesets?pages=0..', share: { plan: 'x', index: 0, count: 1, source: 'dynamo:changesets?pages=0..', part: {}, check: 'x' }, cwd: tmp.dir, env }), 'ERR_SHARE_MISMATCH')
})

test.run()
