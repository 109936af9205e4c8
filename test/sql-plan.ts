// What the dry-run tests of the two SQL sinks (PostgreSQL, SQL Server) share: the events, the
// scenario that exercises every kind of planned write, and the checks a plan promises.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { cli } from '../cli/app.js'
import type { Mapping } from '../lib/mapping.js'
import type { RunReport } from '../lib/report/report.js'
import { captured, readableOf } from './helpers.js'

export type PlanEvent = { 'detail-type': string; detail: { id: string | number; version: number; amount: number } }
export const up = (id: string | number, version: number): PlanEvent => ({ 'detail-type': 'OrderUpdated', detail: { id, version, amount: version * 10 } })
export const del = (id: string, version: number): PlanEvent => ({ 'detail-type': 'OrderDeleted', detail: { id, version, amount: 0 } })

export const planMapping: Mapping = {
  columns: { id: 'detail.id', version: 'detail.version', amount: 'detail.amount' },
  key: ['id'],
  versionColumn: 'version',
  deleteWhen: { 'detail-type': ['OrderDeleted'] },
}

/** A row of the scenario tables: id, version (null: none), amount. */
export type PlanRow = [string, number | null, number]

/**
 * Rows newer, older, NULL-versioned and missing, and events (in batches of 4) that insert, update,
 * delete, go stale, repeat within and across batches and delete missing rows; with what the dry run
 * and the real run must say.
 */
export const SCENARIO = {
  stored: [
    ['a', 5, 50],
    ['b', 1, 10],
    ['c', 3, 30],
    ['e', null, 1],
    ['f', 2, 20],
    ['g', 9, 90],
  ] as PlanRow[],
  events: [
    // batch 1
    up('a', 3), // stale: a holds 5
    up('b', 2), // duplicateInBatch: b 4 follows in the batch
    up('x', 1), // insert
    up('b', 4), // update of b 1
    // batch 2
    del('f', 3), // delete of f 2
    del('m', 1), // deleteOfMissing
    up('e', 1), // update: a NULL version is overwritten
    del('g', 4), // stale: g holds 9
    // batch 3
    up('x', 1), // stale against x 1 planned in batch 1
    up('c', 4), // update of c 3
    up('c', 4), // duplicateInBatch: equal versions, the first one wins
    up('f', 2), // insert: f was deleted in batch 2
    // batch 4
    del('x', 0), // stale
    del('f', 5), // delete of the f inserted in batch 3
    del('y', 1), // deleteOfMissing
    up('z', 1), // insert
    // batch 5
    up('b', 3), // stale against b 4
  ],
  plan: { wouldInsert: 3, wouldUpdate: 3, wouldDelete: 2, wouldSkip: 9, exact: true },
  /** written, skipped, deleted of the real run */
  counts: [8, 9, 2],
  skippedBy: { stale: 5, duplicateInBatch: 2, deleteOfMissing: 2 },
  previews: [
    { op: 'skip', reason: 'stale', key: { id: 'a' }, current: { id: 'a', version: 5, amount: 50 }, next: { id: 'a', version: 3, amount: 30 } },
    { op: 'skip', reason: 'duplicateInBatch', key: { id: 'b' }, current: { id: 'b', version: 1, amount: 10 }, next: { id: 'b', version: 2, amount: 20 } },
    { op: 'insert', key: { id: 'x' }, next: { id: 'x', version: 1, amount: 10 } },
    { op: 'update', key: { id: 'b' }, current: { id: 'b', version: 1, amount: 10 }, next: { id: 'b', version: 4, amount: 40 } },
    { op: 'delete', key: { id: 'f' }, current: { id: 'f', version: 2, amount: 20 } },
  ],
  after: [
    { id: 'a', version: 5, amount: 50 },
    { id: 'b', version: 4, amount: 40 },
    { id: 'c', version: 4, amount: 40 },
    { id: 'e', version: 1, amount: 10 },
    { id: 'g', version: 9, amount: 90 },
    { id: 'x', version: 1, amount: 10 },
    { id: 'z', version: 1, amount: 10 },
  ],
}

/** Stored rows and 300 events of a seeded random mix of upserts and deletes over 15 keys. */
export function randomScenario(seed: number): { stored: PlanRow[]; events: PlanEvent[] } {
  let s = seed
  const random = (n: number) => ((s = (s * 1103515245 + 12345) % 2 ** 31), Math.floor((s / 2 ** 31) * n))
  const stored: PlanRow[] = []
  for (let k = 0; k < 12; k++) if (random(3) > 0) stored.push([`k${k}`, random(5) === 0 ? null : random(20), 1])
  const events = Array.from({ length: 300 }, () => (random(4) === 0 ? del : up)(`k${random(15)}`, random(25)))
  return { stored, events }
}

/** What a plan promises: it adds up to the dry run's counts, and those are the real run's. */
export function assertPlanKept(dry: RunReport, real: RunReport): void {
  const plan = dry.sink.plan!
  assert.ok(plan, 'a dry run of a storage sink has a plan')
  assert.is(plan.wouldInsert + plan.wouldUpdate + plan.wouldDelete, dry.sink.written, 'the plan adds up to written')
  assert.is(plan.wouldSkip, dry.sink.skipped, 'the plan adds up to skipped')
  for (const field of ['received', 'written', 'skipped', 'failed'] as const) assert.is(dry.sink[field], real.sink[field], `${field}: ${JSON.stringify(dry.sink)} vs ${JSON.stringify(real.sink)}`)
  assert.is(dry.sink.deleted ?? 0, real.sink.deleted ?? 0, 'deleted')
  assert.equal(dry.sink.skippedBy, real.sink.skippedBy)
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The user events of the bundled examples, and the first 12 user ids (rows stored before the CLI runs). */
export async function exampleUsers(): Promise<string[]> {
  type Example = { source: string; detail: { aggregateId: string } }
  const examples = (await readFile(path.join(root, 'examples/events/events.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Example)
  return [...new Set(examples.filter((e) => e.source === 'users').map((e) => e.detail.aggregateId))].slice(0, 12)
}

/** The CLI flags of the example users into a `users` table (id, name, version), with deletes. */
export function exampleUsersArgs(sink: string): string[] {
  return [
    '--source', 'json:examples/events/events.ndjson', '--filter', '{"source":["users"]}',
    '--sink', sink,
    '--column', 'id=detail.aggregateId', '--column', 'name=detail.name', '--column', 'version=detail.version',
    '--key', 'id', '--version-column', 'version', '--delete-when', '{"detail-type":["UserDeleted"]}', '--batch-size', '50',
  ]
}

/** The CLI in-process: the report as JSON (stdout) and the text summary (stderr). */
export async function hydrateCli(args: string[]): Promise<{ code: number; report: RunReport; text: string }> {
  const stdout = captured()
  const stderr = captured()
  const code = await cli([...args, '--report', 'json'], { stdout, stderr, stdin: readableOf(''), env: { ...process.env }, cwd: root })
  return { code, report: JSON.parse(stdout.text()) as RunReport, text: stderr.text() }
}

type CliRun = Awaited<ReturnType<typeof hydrateCli>>

/**
 * Checks a CLI dry run over the example users (some stored at version 3) and the real run after it:
 * the plan has every kind of write, the text shows it with the skip reasons and a preview of a
 * stored row (`storedName` its name), and the real run does what the plan said.
 */
export function assertCliPlanKept(dry: CliRun, real: CliRun, storedName: RegExp): void {
  assert.is(dry.code, 0, dry.text)
  const plan = dry.report.sink.plan!
  assert.ok(plan.wouldInsert > 0 && plan.wouldUpdate > 0 && plan.wouldDelete > 0 && plan.exact, JSON.stringify(plan))
  const skippedBy = dry.report.sink.skippedBy ?? {}
  assert.ok(skippedBy.stale! > 0 && skippedBy.duplicateInBatch! > 0 && skippedBy.deleteOfMissing! > 0, JSON.stringify(skippedBy))
  const n = (x: number) => x.toLocaleString('en-US')
  assert.match(dry.text, /^OK \(dry run: nothing was written\)/)
  assert.match(dry.text, `plan     would insert ${n(plan.wouldInsert)}, update ${n(plan.wouldUpdate)}, delete ${n(plan.wouldDelete)}, skip ${n(plan.wouldSkip)} (read from the target`)
  const reasons = Object.entries(skippedBy).map(([reason, count]) => `${reason} ${n(count)}`).join(', ')
  assert.match(dry.text, `${n(dry.report.sink.skipped)} would skip (${reasons}), 0 failed`)
  // The previews show the stored row beside the new one.
  assert.match(dry.text, /previews \(first 5\):\n {4}(insert|update|delete|skip) \{"id":/)
  assert.match(dry.text, new RegExp(`\\n {6}now: {2}\\{"id":"[^"]+","name":"${storedName.source}","version":3\\}`))

  assert.is(real.code, 0, real.text)
  for (const field of ['received', 'written', 'skipped', 'failed', 'deleted'] as const) assert.is(dry.report.sink[field], real.report.sink[field], field)
  assert.equal(dry.report.sink.skippedBy, real.report.sink.skippedBy)
  assert.match(real.text, `${n(real.report.sink.skipped)} skipped (${reasons}), 0 failed`)
}
