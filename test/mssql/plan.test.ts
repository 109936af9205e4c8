// Dry runs of toSqlServer that show a plan: read from the table, they count what the real run that
// follows on the same state does (written, skipped by reason, deleted), write nothing, and preview
// the stored row beside the new one. Against the TDS test server through the real mssql client, and
// against a real SQL Server too when MSSQL_URL is set.
import sql, { type ConnectionPool } from 'mssql'
import { suite, type Test } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import type { Mapping } from '../../lib/mapping.js'
import { SCENARIO, assertCliPlanKept, assertPlanKept, exampleUsers, exampleUsersArgs, hydrateCli, planMapping, randomScenario, up, type PlanRow } from '../sql-plan.js'
import { parseMssqlUri } from '../../lib/mssql/plugin.js'
import { toSqlServer, type ToSqlServerOptions } from '../../lib/mssql/sink.js'
import { parseUri } from '../../lib/registry.js'
import { run } from '../../lib/run.js'
import { tracked } from '../helpers.js'
import { startTdsServer, type TdsServer } from '../servers/tds-server.js'

interface Target {
  pool: ConnectionPool
}

const FAST = { minDelayMs: 5, maxDelayMs: 40 }


const mapping = planMapping

const DDL = '[id] nvarchar(64) NOT NULL PRIMARY KEY, [version] int NULL, [amount] int NULL CHECK ([amount] >= 0)'

async function table(t: Target, name: string, rows: PlanRow[], ddl = DDL) {
  await t.pool.request().batch(`DROP TABLE IF EXISTS [dbo].[${name}]; CREATE TABLE [dbo].[${name}] (${ddl});`)
  for (const [id, version, amount] of rows) {
    const request = t.pool.request()
    request.input('id', sql.NVarChar(64), id)
    request.input('version', sql.Int, version)
    request.input('amount', sql.Int, amount)
    await request.query(`INSERT INTO [dbo].[${name}] ([id], [version], [amount]) VALUES (@id, @version, @amount);`)
  }
}

async function rowsOf(t: Target, name: string) {
  const result = await t.pool.request().query(`SELECT * FROM [dbo].[${name}] ORDER BY [id];`)
  return result.recordset.map((r: Record<string, unknown>) => ({ ...r }))
}

const sink = (t: Target, name: string, options: Partial<ToSqlServerOptions> = {}) =>
  toSqlServer({ pool: t.pool, table: `dbo.${name}`, mapping, retry: FAST, ...options })

/** Runs `events` dry, then for real, and checks what a plan promises. */
async function dryThenReal(t: Target, name: string, events: readonly unknown[], options: Partial<ToSqlServerOptions> = {}) {
  const before = await rowsOf(t, name)
  const dry = await run({ source: tracked(events).source, sink: sink(t, name, options), dryRun: true })
  assert.equal(await rowsOf(t, name), before, 'a dry run writes nothing')
  const real = await run({ source: tracked(events).source, sink: sink(t, name, options) })
  assertPlanKept(dry, real)
  return { dry, real }
}

/** The behaviour a user relies on; it only uses the pool, so it runs against any SQL Server. */
function behaviour(test: Test, target: () => Target): void {
  test('a dry run counts what the real run then does: inserts, updates, deletes and skips by reason', async () => {
    const t = target()
    await table(t, 'hydrator_plan', SCENARIO.stored)
    const { dry, real } = await dryThenReal(t, 'hydrator_plan', SCENARIO.events, { batchSize: 4 })
    assert.equal(dry.sink.plan, SCENARIO.plan)
    assert.equal([real.sink.written, real.sink.skipped, real.sink.deleted], SCENARIO.counts)
    assert.equal(real.sink.skippedBy, SCENARIO.skippedBy)
    assert.equal(dry.sink.previews, SCENARIO.previews)
    assert.equal(await rowsOf(t, 'hydrator_plan'), SCENARIO.after)
  })

  test('shuffled events with deletes, small batches and batches in flight: the dry run equals the real run', async () => {
    const t = target()
    for (const seed of [1, 2, 3]) {
      const { stored, events } = randomScenario(seed)
      await table(t, 'hydrator_plan_random', stored)
      const { real } = await dryThenReal(t, 'hydrator_plan_random', events, { batchSize: 7, concurrency: 3 })
      assert.is(Object.keys(real.sink.skippedBy ?? {}).length, 3, JSON.stringify(real.sink.skippedBy))
    }
  })

  test('keys that differ only in case are the stored row to the collation, in the plan as in the MERGE', async () => {
    const t = target()
    await table(t, 'hydrator_plan_case', [['Key-1', 1, 10]])
    const { dry } = await dryThenReal(t, 'hydrator_plan_case', [up('KEY-1', 2), up('key-2', 1)])
    assert.equal(dry.sink.plan, { wouldInsert: 1, wouldUpdate: 1, wouldDelete: 0, wouldSkip: 0, exact: true })
    assert.equal(dry.sink.previews[0], { op: 'update', key: { id: 'KEY-1' }, current: { id: 'Key-1', version: 1, amount: 10 }, next: { id: 'KEY-1', version: 2, amount: 20 } })
  })

  test('a wide batch on a compound key is read in statements under the parameter limit', async () => {
    const t = target()
    const compound: Mapping = { columns: { region: 'detail.region', id: 'detail.id', version: 'detail.version' }, key: ['region', 'id'], versionColumn: 'version' }
    await t.pool.request().batch(
      'DROP TABLE IF EXISTS [dbo].[hydrator_plan_wide]; CREATE TABLE [dbo].[hydrator_plan_wide] ([region] nvarchar(8) NOT NULL, [id] int NOT NULL, [version] int NULL, PRIMARY KEY ([region], [id]));',
    )
    await t.pool.request().batch("INSERT INTO [dbo].[hydrator_plan_wide] ([region], [id], [version]) VALUES (N'eu', 1, 5), (N'us', 2, 1), (N'eu', 3, 1);")
    // 1,400 keys of two columns: 2,800 parameters, read in two statements.
    const events = Array.from({ length: 3000 }, (_, i) => ({ detail: { region: i % 2 ? 'eu' : 'us', id: i % 1400, version: Math.floor(i / 1400) + 1 } }))
    const { dry } = await dryThenReal(t, 'hydrator_plan_wide', events, { mapping: compound, batchSize: 3000 })
    assert.equal(dry.sink.plan, { wouldInsert: 1397, wouldUpdate: 2, wouldDelete: 0, wouldSkip: 1601, exact: true })
  })

  test('append mode plans every event as an insert', async () => {
    const t = target()
    await table(t, 'hydrator_plan_log', [], '[id] nvarchar(64) NOT NULL, [version] int NULL, [amount] int NULL')
    const append: Mapping = { columns: mapping.columns, key: ['id'] }
    const { dry } = await dryThenReal(t, 'hydrator_plan_log', [up('a', 1), up('a', 1), up('b', 2)], { mapping: append, mode: 'append' })
    assert.equal(dry.sink.plan, { wouldInsert: 3, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: true })
    assert.equal(dry.sink.previews[1], { op: 'insert', key: { id: 'a' }, next: { id: 'a', version: 1, amount: 10 } })
  })

  test('a key SQL Server cannot convert is planned as the failure the real run meets; a rejected value is not foreseen', async () => {
    const t = target()
    await t.pool.request().batch(
      'DROP TABLE IF EXISTS [dbo].[hydrator_plan_int]; CREATE TABLE [dbo].[hydrator_plan_int] ([id] int NOT NULL PRIMARY KEY, [version] int NULL, [amount] int NULL CHECK ([amount] >= 0));' +
        ' INSERT INTO [dbo].[hydrator_plan_int] ([id], [version], [amount]) VALUES (9, 1, 10);',
    )
    const events = [up(1, 1), up('abc', 1), up('abc', 2), { 'detail-type': 'OrderUpdated', detail: { id: 2, version: 1, amount: -1 } }, up(3, 1)]
    const dry = await run({ source: tracked(events).source, sink: sink(t, 'hydrator_plan_int'), dryRun: true })
    const real = await run({ source: tracked(events).source, sink: sink(t, 'hydrator_plan_int') })
    assert.equal(dry.sink.plan, { wouldInsert: 3, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 1, exact: true })
    assert.equal([dry.sink.written, dry.sink.skipped, dry.sink.failed], [3, 1, 1])
    assert.equal(dry.failures.samples.map((f) => [f.code, f.key]), [['ERR_WRITE_REJECTED', { id: 'abc' }]])
    assert.match(dry.failures.samples[0]!.message, /Conversion failed when converting the nvarchar value 'abc' to data type int/)
    // The CHECK constraint only fails when written: the real run fails one more.
    assert.equal([real.sink.written, real.sink.skipped, real.sink.failed], [2, 1, 2])
  })

  test('a mistyped table name suggests the near ones in its schema', async () => {
    const t = target()
    await table(t, 'hydrator_users', [])
    await table(t, 'hydrator_user_roles', [])
    const notFound = async (name: string) => {
      try {
        await run({ source: tracked([]).source, sink: toSqlServer({ pool: t.pool, table: name, mapping, retry: FAST }) })
      } catch (error) {
        assert.instance(error, HydratorError)
        assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
        return (error as HydratorError).message
      }
      throw new Error(`expected ERR_TARGET_NOT_FOUND for ${name}`)
    }
    assert.match(await notFound('dbo.hydrator_user'), /table \[dbo\]\.\[hydrator_user\] was not found \(or the login cannot see it\) \(did you mean `dbo\.hydrator_users` or `dbo\.hydrator_user_roles`\?\)/)
    assert.match(await notFound('hydrator_uesrs'), /did you mean `dbo\.hydrator_users`\?/)
    assert.not.match(await notFound('dbo.zzz_nothing_like_it'), /did you mean/)
  })
}

// ---------------------------------------------------------------------------------------------
// Against the TDS test server

const Tds = suite('toSqlServer dry runs with a plan (TDS test server)')
let server: TdsServer
const local: Target = { pool: undefined as unknown as ConnectionPool }

Tds.before(async () => {
  server = await startTdsServer()
  local.pool = await new sql.ConnectionPool(server.config()).connect()
  local.pool.on('error', () => {})
})

Tds.after(async () => {
  await local.pool?.close()
  await server?.close()
})

behaviour(Tds, () => local)

Tds('a dry run sends only SELECTs with typed parameters, within the parameter limit', async () => {
  await table(local, 'hydrator_plan_sent', [['a', 1, 10]])
  server.clearStatements()
  const events = Array.from({ length: 2500 }, (_, i) => up(`k${i}`, 1))
  const dry = await run({ source: tracked(events).source, sink: sink(local, 'hydrator_plan_sent', { batchSize: 1250 }), dryRun: true })
  assert.is(dry.sink.plan!.wouldInsert, 2500)
  const kinds = server.statements.map((s) => (s.kind === 'rpc' || s.kind === 'sql-batch' ? s.sql!.split(' ')[0] : s.kind))
  assert.equal([...new Set(kinds)], ['SELECT'])
  const reads = server.statements.filter((s) => s.sql?.includes('INNER JOIN [dbo].[hydrator_plan_sent]'))
  // Batches of 1,250 keys: at most 1,000 rows of VALUES per statement, every one a typed parameter.
  assert.equal(reads.map((s) => s.params.length), [1000, 250, 1000, 250])
  assert.ok(reads.every((s) => s.rpcParameterCount <= 2100))
  assert.equal(reads[0]!.params[0], { name: 'p0', type: 'nvarchar(max)', wireType: reads[0]!.params[0]!.wireType, value: 'k0' })
  assert.ok(
    reads[0]!.sql!.startsWith('SELECT s.[__hydrator_row] AS [row], t.[version] AS [v], t.[id] AS [m0], t.[version] AS [m1], t.[amount] AS [m2] FROM (VALUES (0, @p0), (1, @p1)'),
    reads[0]!.sql,
  )
  assert.ok(reads[2]!.sql!.startsWith('SELECT s.[__hydrator_row] AS [row], t.[version] AS [v] FROM (VALUES (0, @p0)'), 'past the previews only the versions are read')
})

Tds('past `maxPlannedKeys` the plan forgets keys and says it is not exact', async () => {
  await table(local, 'hydrator_plan_bound', [])
  const events = ['a', 'b', 'c', 'a'].map((id) => up(id, 1))
  const dry = await run({ source: tracked(events).source, sink: sink(local, 'hydrator_plan_bound', { batchSize: 1, maxPlannedKeys: 2 }), dryRun: true })
  // `a` was forgotten: planned as an insert where the real run finds it stale.
  assert.equal(dry.sink.plan, { wouldInsert: 4, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0, exact: false })
  assert.throws(() => sink(local, 'x', { maxPlannedKeys: 0 }), /`maxPlannedKeys` to be an integer >= 1, got `0`/)
})


Tds('through the CLI: --dry-run prints the plan and the skip reasons, and the real run that follows does the same', async () => {
  await local.pool.request().batch('DROP TABLE IF EXISTS [dbo].[cli_users]; CREATE TABLE [dbo].[cli_users] ([id] nvarchar(64) NOT NULL PRIMARY KEY, [name] nvarchar(100) NOT NULL, [version] int NULL);')
  // Some users are already there, at a version newer than some of their events and older than others.
  for (const id of await exampleUsers()) await local.pool.request().input('id', sql.NVarChar(64), id).query("INSERT INTO [dbo].[cli_users] ([id], [name], [version]) VALUES (@id, N'stored', 3);")
  const before = await rowsOf(local, 'cli_users')
  const args = exampleUsersArgs(`mssql://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${server.database}?table=dbo.cli_users&encrypt=false`)
  const dry = await hydrateCli([...args, '--dry-run'])
  assert.equal(await rowsOf(local, 'cli_users'), before, 'the dry run wrote nothing')
  assert.not.match(dry.text, server.password)
  assertCliPlanKept(dry, await hydrateCli(args), /stored/)
})

Tds.run()

// ---------------------------------------------------------------------------------------------
// Against a real SQL Server, when one is named

const url = process.env.MSSQL_URL
if (url) {
  const Real = suite('toSqlServer dry runs with a plan (real SQL Server from MSSQL_URL)')
  const real: Target = { pool: undefined as unknown as ConnectionPool }
  Real.before(async () => {
    const { config } = parseMssqlUri(parseUri(url), { env: process.env, table: 'dbo.hydrator_plan' })
    real.pool = await new sql.ConnectionPool(config).connect()
    real.pool.on('error', () => {})
  })
  Real.after(async () => {
    if (!real.pool) return
    const tables = ['hydrator_plan', 'hydrator_plan_random', 'hydrator_plan_case', 'hydrator_plan_wide', 'hydrator_plan_log', 'hydrator_plan_int', 'hydrator_users', 'hydrator_user_roles']
    await real.pool.request().batch(tables.map((name) => `DROP TABLE IF EXISTS [dbo].[${name}];`).join(' '))
    await real.pool.close()
  })
  behaviour(Real, () => real)
  Real.run()
}
