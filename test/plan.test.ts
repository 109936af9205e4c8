// Dry runs that show a plan: a driver that reads its target plans each batch; the report counts
// what the real run would do, and skips say why. Checked here with a sink over an in-memory table.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { defineSink, PlanOverlay, type PlannedWrite, type WriteOutcome } from '../lib/define-sink.js'
import { formatReport } from '../lib/report/format.js'
import { run } from '../lib/run.js'
import { tracked } from './helpers.js'

const test = suite('dry runs with a plan, skips by reason')

type Ev = { id: string; v: number; del?: boolean }

/** A versioned key-value table, written the way the storage sinks write: versions guard, deletes remove. */
function tableSink(table: Map<string, number>) {
  const overlay = new PlanOverlay<number | undefined>(3)
  const decide = (e: Ev, current: number | undefined): PlannedWrite =>
    e.del
      ? current === undefined
        ? { op: 'skip', reason: 'deleteOfMissing', key: e.id }
        : { op: 'delete', key: e.id, current: { v: current } }
      : current !== undefined && current >= e.v
        ? { op: 'skip', reason: 'stale', key: e.id, current: { v: current }, next: { v: e.v } }
        : { op: current === undefined ? 'insert' : 'update', key: e.id, ...(current !== undefined ? { current: { v: current } } : {}), next: { v: e.v } }
  return defineSink<Ev>(
    {
      uri: 'table:',
      async write(batch) {
        return batch.map((e): WriteOutcome => {
          const d = decide(e, table.get(e.id))
          if (d.op === 'skip') return { status: 'skipped', reason: d.reason }
          if (d.op === 'delete') table.delete(e.id)
          else table.set(e.id, e.v)
          return { status: 'written', deleted: d.op === 'delete' }
        })
      },
      async plan(batch) {
        return batch.map((e) => {
          const known = overlay.get(e.id)
          const d = decide(e, overlay.has(e.id) ? known : table.get(e.id))
          if (d.op !== 'skip' && d.op !== 'fail') overlay.set(e.id, d.op === 'delete' ? undefined : e.v)
          return d
        })
      },
      planIsExact: () => overlay.exact,
    },
    { batchSize: 2 },
  )
}

const events: Ev[] = [
  { id: 'a', v: 1 }, // insert
  { id: 'b', v: 5 }, // stale (table has b: 7)
  { id: 'c', v: 3 }, // update (table has c: 2)
  { id: 'd', v: 1, del: true }, // delete (table has d)
  { id: 'e', v: 1, del: true }, // deleteOfMissing
  { id: 'a', v: 2 }, // update of the planned insert, in a later batch
  { id: 'a', v: 1 }, // stale against the planned a: 2
]
const state = () => new Map([['b', 7], ['c', 2], ['d', 1]])

test('a dry run counts what the real run on the same state does, and previews current and next rows', async () => {
  const table = state()
  const dry = await run({ source: tracked(events).source, sink: tableSink(table), dryRun: true })
  assert.equal(dry.sink.plan, { wouldInsert: 1, wouldUpdate: 2, wouldDelete: 1, wouldSkip: 3, exact: true })
  assert.equal([...table], [...state()], 'a dry run writes nothing')
  const real = await run({ source: tracked(events).source, sink: tableSink(table) })
  for (const field of ['written', 'skipped', 'deleted'] as const) assert.is(dry.sink[field], real.sink[field], field)
  assert.equal(dry.sink.skippedBy, real.sink.skippedBy)
  assert.equal(real.sink.skippedBy, { stale: 2, deleteOfMissing: 1 })
  assert.equal(dry.sink.previews[2], { op: 'update', key: 'c', current: { v: 2 }, next: { v: 3 } })
  const text = formatReport(dry)
  assert.match(text, /would skip \(stale 2, deleteOfMissing 1\)/)
  assert.match(text, /plan {5}would insert 1, update 2, delete 1, skip 3/)
  assert.match(text, /update "c"\n {6}now: {2}\{"v":2\}\n {6}then: \{"v":3\}/)
})

test('past its bound the overlay forgets keys, and the plan says it is not exact', async () => {
  const many: Ev[] = Array.from({ length: 10 }, (_, i) => ({ id: `k${i}`, v: 1 }))
  const dry = await run({ source: tracked(many).source, sink: tableSink(new Map()), dryRun: true })
  assert.is(dry.sink.plan?.exact, false)
  assert.match(formatReport(dry), /approximate/)
})

test.run()
