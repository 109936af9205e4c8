// Dry runs of toPostgres that show a plan: read from the table, they count what the real run that
// follows on the same state does (written, skipped by reason, deleted), write nothing, and preview
// the stored row beside the new one. Against a real PostgreSQL server.
import postgres, { type Sql } from 'postgres'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import type { Mapping } from '../../lib/mapping.js'
import { SCENARIO, assertCliPlanKept, assertPlanKept, exampleUsers, exampleUsersArgs, hydrateCli, del, planMapping, randomScenario, up, type PlanRow } from '../sql-plan.js'
import { toPostgres, type ToPostgresOptions } from '../../lib/postgres/sink.js'
import type { RunReport } from '../../lib/report/report.js'
import { run } from '../../lib/run.js'
import { tracked } from '../helpers.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'

const test = suite<{ server: PostgresServer; db: TestDatabase; sql: Sql; readOnly: Sql }>('toPostgres dry runs with a plan', {} as never)

test.before(async (context) => {
  context.server = await startPostgres()
  context.db = await createDatabase(context.server, 'pg_plan')
  context.sql = postgres(context.db.url, { onnotice: () => {}, max: 4 })
  // Dry runs go through a client whose transactions are read only: a write would fail (25006).
  context.readOnly = postgres(context.db.url, { onnotice: () => {}, max: 4, connection: { default_transaction_read_only: true } })
})

test.after(async (context) => {
  await context.sql?.end({ timeout: 1 })
  await context.readOnly?.end({ timeout: 1 })
  await context.db?.drop()
  await context.server?.stop()
})


const mapping = planMapping

async function table(sql: Sql, name: string, rows: PlanRow[]) {
  await sql.unsafe(`drop table if exists ${name}; create table ${name} (id text primary key, version int, amount int check (amount >= 0))`)
  for (const [id, version, amount] of rows) await sql.unsafe(`insert into ${name} values ($1, $2, $3)`, [id, version, amount])
}

async function rowsOf(sql: Sql, name: string) {
  return [...(await sql.unsafe(`select * from ${name} order by id`))].map((r) => ({ ...r }))
}

/** Runs `events` dry (through a read-only client), then for real, and checks what a plan promises. */
async function dryThenReal(context: { sql: Sql; readOnly: Sql }, name: string, events: readonly unknown[], options: Partial<ToPostgresOptions> = {}) {
  const before = await rowsOf(context.sql, name)
  const dry = await run({ source: tracked(events).source, sink: toPostgres({ sql: context.readOnly, table: name, mapping, ...options }), dryRun: true })
  assert.equal(await rowsOf(context.sql, name), before, 'a dry run writes nothing')
  const real = await run({ source: tracked(events).source, sink: toPostgres({ sql: context.sql, table: name, mapping, ...options }) })
  assertPlanKept(dry, real)
  return { dry, real }
}

test('a dry run counts what the real run then does: inserts, updates, deletes and skips by reason', async (context) => {
  await table(context.sql, 'plan_orders', SCENARIO.stored)
  const write = await context.readOnly.unsafe("delete from plan_orders where id = 'a'").catch((error: { code?: string }) => error.code)
  assert.is(write, '25006', 'the dry runs client cannot write')
  const { dry, real } = await dryThenReal(context, 'plan_orders', SCENARIO.events, { batchSize: 4 })
  assert.equal(dry.sink.plan, SCENARIO.plan)
  assert.equal([real.sink.written, real.sink.skipped, real.sink.deleted], SCENARIO.counts)
  assert.equal(real.sink.skippedBy, SCENARIO.skippedBy)
  assert.equal(dry.sink.previews, SCENARIO.previews)
  assert.equal(await rowsOf(context.sql, 'plan_orders'), SCENARIO.after)
})

test('later previews show the planned state of a key planned earlier in the run', async (context) => {
  await table(context.sql, 'plan_later', [['a', 1, 10]])
  const { dry } = await dryThenReal(context, 'plan_later', [up('a', 2), up('a', 3)], { batchSize: 1 })
  assert.equal(dry.sink.previews[1], { op: 'update', key: { id: 'a' }, current: { id: 'a', version: 2 }, next: { id: 'a', version: 3, amount: 30 } })
})

test('shuffled events with deletes, small batches and batches in flight: the dry run equals the real run', async (context) => {
  for (const seed of [1, 2, 3]) {
    const { stored, events } = randomScenario(seed)
    await table(context.sql, `plan_random${seed}`, stored)
    const { real } = await dryThenReal(context, `plan_random${seed}`, events, { batchSize: 7, concurrency: 3 })
    assert.is(Object.keys(real.sink.skippedBy ?? {}).length, 3, JSON.stringify(real.sink.skippedBy))
  }
})

test('without a version column the last same-key event wins and every present row is updated', async (context) => {
  await table(context.sql, 'plan_unversioned', [['a', 1, 10], ['b', 1, 10]])
  const unversioned: Mapping = { columns: { id: 'detail.id', amount: 'detail.amount' }, key: ['id'], deleteWhen: mapping.deleteWhen }
  const events = [up('a', 1), up('a', 3), del('b', 1), del('c', 1), up('d', 2), up('b', 5)]
  const { dry } = await dryThenReal(context, 'plan_unversioned', events, { mapping: unversioned, batchSize: 4 })
  assert.equal(dry.sink.plan, { wouldInsert: 2, wouldUpdate: 1, wouldDelete: 1, wouldSkip: 2, exact: true })
  assert.equal(dry.sink.skippedBy, { duplicateInBatch: 1, deleteOfMissing: 1 })
})

test('append mode plans every event as an insert without reading the table', async (context) => {
  await context.sql.unsafe('create table plan_log (id text, version int, amount int)')
  const append: Mapping = { columns: mapping.columns, key: ['id'] }
  const { dry } = await dryThenReal(context, 'plan_log', [up('a', 1), up('a', 1), up('b', 2)], { mapping: append, mode: 'append' })
  assert.equal(dry.sink.plan, { wouldInsert: 3, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: true })
  assert.equal(dry.sink.previews[1], { op: 'insert', key: { id: 'a' }, next: { id: 'a', version: 1, amount: 10 } })
})

test('a key PostgreSQL cannot take is planned as the failure the real run meets; a rejected value is not foreseen', async (context) => {
  await context.sql.unsafe('create table plan_int (id int primary key, version int, amount int check (amount >= 0))')
  const events = [up('1', 1), up('abc', 1), up('abc', 2), { 'detail-type': 'OrderUpdated', detail: { id: '2', version: 1, amount: -1 } }, up('3', 1)]
  const dry = await run({ source: tracked(events).source, sink: toPostgres({ sql: context.readOnly, table: 'plan_int', mapping }), dryRun: true })
  const real = await run({ source: tracked(events).source, sink: toPostgres({ sql: context.sql, table: 'plan_int', mapping }) })
  assert.equal(dry.sink.plan, { wouldInsert: 3, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: true })
  assert.equal([dry.sink.written, dry.sink.failed], [3, 2])
  assert.equal(dry.failures.samples.map((f) => [f.code, f.key]), [['ERR_WRITE_REJECTED', { id: 'abc' }], ['ERR_WRITE_REJECTED', { id: 'abc' }]])
  assert.match(dry.failures.samples[0]!.message, /invalid input syntax for type integer: "abc"/)
  // The CHECK constraint only fails when written: the real run fails one more.
  assert.equal([real.sink.written, real.sink.failed], [2, 3])
})

test('past `maxPlannedKeys` the plan forgets keys and says it is not exact', async (context) => {
  await table(context.sql, 'plan_bound', [])
  const events = ['a', 'b', 'c', 'a'].map((id) => up(id, 1))
  const report: RunReport = await run({ source: tracked(events).source, sink: toPostgres({ sql: context.readOnly, table: 'plan_bound', mapping, batchSize: 1, maxPlannedKeys: 2 }), dryRun: true })
  // `a` was forgotten: planned as an insert where the real run finds it stale.
  assert.equal(report.sink.plan, { wouldInsert: 4, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: false })
  assert.throws(() => toPostgres({ sql: context.sql, table: 'plan_bound', mapping, maxPlannedKeys: 0 }), /`maxPlannedKeys` to be an integer >= 1, got `0`/)
})

test('a mistyped table name suggests the near ones', async (context) => {
  await context.sql.unsafe('create table users (id text primary key, version int, amount int); create table user_roles (id text primary key); create schema app; create table app."Orders" (id text primary key)')
  const report = async (name: string) => {
    try {
      await run({ source: tracked([]).source, sink: toPostgres({ sql: context.sql, table: name, mapping }) })
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
      return (error as HydratorError).message
    }
    throw new Error(`expected ERR_TARGET_NOT_FOUND for ${name}`)
  }
  assert.match(await report('user'), /table `user` does not exist in the search path \(did you mean `users` or `user_roles`\?\)/)
  assert.match(await report('pubic.users'), /\(did you mean `public\.users`\?\)/)
  assert.match(await report('order'), /\(did you mean `app\."Orders"`\?\)/)
  assert.not.match(await report('zzz_nothing_like_it'), /did you mean/)
})


test('through the CLI: --dry-run prints the plan and the skip reasons, and the real run that follows does the same', async (context) => {
  await context.sql.unsafe('create table cli_users (id text primary key, name text not null, version int)')
  // Some users are already there, at a version newer than some of their events and older than others.
  for (const id of await exampleUsers()) await context.sql.unsafe('insert into cli_users values ($1, $2, 3)', [id, `stored ${id}`])
  const before = await rowsOf(context.sql, 'cli_users')
  const args = exampleUsersArgs(`${context.db.url}?table=cli_users`)
  const dry = await hydrateCli([...args, '--dry-run'])
  assert.equal(await rowsOf(context.sql, 'cli_users'), before, 'the dry run wrote nothing')
  assertCliPlanKept(dry, await hydrateCli(args), /stored [^"]+/)
})

test.run()
