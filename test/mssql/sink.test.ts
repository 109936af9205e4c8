import sql, { type ConnectionPool } from 'mssql'
import { suite, type Test } from 'uvu'
import * as assert from 'uvu/assert'
import { rejects } from '../helpers.js'
import { HydratorError } from '../../lib/errors.js'
import type { Mapping } from '../../lib/mapping.js'
import { mssqlPlugin, parseMssqlUri } from '../../lib/mssql/plugin.js'
import { Registry, parseUri, type FactoryContext } from '../../lib/registry.js'
import { setPosition } from '../../lib/position.js'
import { toSqlServer, type ToSqlServerOptions } from '../../lib/mssql/sink.js'
import { MAX_STATEMENT_PARAMETERS } from '../../lib/mssql/statements.js'
import type { SinkContext, SinkResult } from '../../lib/types.js'
import { startTdsServer, type RecordedStatement, type TdsServer } from '../servers/tds-server.js'

// The behaviour below runs against the TDS test server (test/servers/tds-server.ts) through the real
// mssql client, and against a real SQL Server too when MSSQL_URL is set
// (e.g. MSSQL_URL='mssql://sa:Secret-1@127.0.0.1:1433/hydrator?encrypt=false&trustServerCertificate=true').

interface Target {
  pool: ConnectionPool
}

const FAST = { minDelayMs: 5, maxDelayMs: 40 }

const USERS: Mapping = {
  columns: {
    id: 'detail.id',
    name: 'detail.name',
    email: 'detail.email',
    version: 'detail.version',
    balance: 'detail.balance',
    active: 'detail.active',
    profile: 'detail.profile',
  },
  key: ['id'],
  versionColumn: 'version',
  deleteWhen: { 'detail-type': ['UserDeleted'] },
}

const USERS_DDL =
  '[id] nvarchar(64) NOT NULL PRIMARY KEY, [name] nvarchar(100) NOT NULL, [email] varchar(200) NULL, [version] int NULL, ' +
  '[balance] decimal(10,2) NULL CHECK ([balance] >= 0), [active] bit NULL, [profile] nvarchar(max) NULL'

function user(id: string, version: number, fields: Record<string, unknown> = {}, type = 'UserUpdated') {
  return { 'detail-type': type, detail: { id, version, name: `${id} v${version}`, balance: 10, active: true, ...fields } }
}

async function* from<T>(events: readonly T[]): AsyncGenerator<T> {
  for (const e of events) yield e
}

async function createTable(t: Target, name: string, columns: string): Promise<void> {
  const quoted = `[dbo].[${name.replace(/]/g, ']]')}]`
  await t.pool.request().batch(`DROP TABLE IF EXISTS ${quoted}; CREATE TABLE ${quoted} (${columns});`)
}

async function rows(t: Target, name: string, orderBy = 'id'): Promise<Record<string, unknown>[]> {
  const result = await t.pool.request().query(`SELECT * FROM [dbo].[${name}] ORDER BY [${orderBy}];`)
  return result.recordset.map((r: Record<string, unknown>) => ({ ...r }))
}

function write(t: Target, events: readonly unknown[], options: Partial<ToSqlServerOptions> = {}, context: SinkContext = {}): Promise<SinkResult> {
  return toSqlServer({ pool: t.pool, table: 'dbo.hydrator_users', mapping: USERS, retry: FAST, ...options })(from(events), context)
}


/** The behaviour a user relies on; it only uses the pool, so it runs against any SQL Server. */
function behaviour(test: Test, target: () => Target): void {
  test.before.each(async () => {
    await createTable(target(), 'hydrator_users', USERS_DDL)
  })

  test('inserts new rows and updates existing ones by key', async () => {
    const t = target()
    const first = await write(t, [user('u1', 1), user('u2', 1, { email: 'b@example.com' })])
    assert.equal([first.written, first.skipped, first.failed], [2, 0, 0])
    const second = await write(t, [user('u1', 2, { name: 'Ann' }), user('u3', 1)])
    assert.equal([second.received, second.written, second.skipped, second.failed], [2, 2, 0, 0])
    const table = await rows(t, 'hydrator_users')
    assert.equal(
      table.map((r) => [r.id, r.name, r.version, r.email]),
      [
        ['u1', 'Ann', 2, null],
        ['u2', 'u2 v1', 1, 'b@example.com'],
        ['u3', 'u3 v1', 1, null],
      ],
    )
  })

  test('skips an event whose version is not higher than the row version', async () => {
    const t = target()
    await write(t, [user('u1', 5, { name: 'five' })])
    const result = await write(t, [user('u1', 3, { name: 'three' }), user('u1', 5, { name: 'five again' })], { batchSize: 1 })
    assert.equal([result.written, result.skipped, result.failed], [0, 2, 0])
    assert.equal((await rows(t, 'hydrator_users')).map((r) => [r.name, r.version]), [['five', 5]])
  })

  test('deletes a row by key unless the row is newer than the delete', async () => {
    const t = target()
    await write(t, [user('u1', 1), user('u2', 4)])
    const result = await write(t, [user('u1', 2, {}, 'UserDeleted'), user('u2', 3, {}, 'UserDeleted'), user('u9', 1, {}, 'UserDeleted')])
    // u9 has no row: the delete changes nothing, so it is skipped, saying why.
    assert.equal([result.written, result.skipped, result.failed, result.deleted], [1, 2, 0, 1])
    assert.equal(result.skippedBy, { stale: 1, deleteOfMissing: 1 })
    assert.equal(result.failures, [])
    assert.equal((await rows(t, 'hydrator_users')).map((r) => r.id), ['u2'])
  })

  test('collapses same-key events in one batch to the highest version', async () => {
    const t = target()
    const result = await write(t, [user('u1', 2, { name: 'two' }), user('u1', 3, { name: 'three' }), user('u1', 1, { name: 'one' }), user('u2', 1)])
    assert.equal([result.received, result.written, result.skipped, result.failed], [4, 2, 2, 0])
    assert.equal((await rows(t, 'hydrator_users')).map((r) => [r.id, r.name]), [
      ['u1', 'three'],
      ['u2', 'u2 v1'],
    ])
  })

  test('fails a rejected row with its key and the server message and writes the rest of the batch', async () => {
    const t = target()
    const events = [user('u1', 1), user('u2', 1, { balance: -5 }), user('u3', 1, { name: null }), user('u4', 1)]
    setPosition(events[1]!, { kind: 'line', source: 'events.ndjson', file: 'events.ndjson', line: 2, offset: 0 })
    const result = await write(t, events)
    assert.equal([result.written, result.skipped, result.failed], [2, 0, 2])
    const [check, notNull] = result.failures
    assert.equal(check!.key, { id: 'u2' })
    assert.is(check!.code, 'ERR_WRITE_REJECTED')
    assert.match(check!.message, /CHECK constraint/)
    assert.match(check!.message, /547/)
    assert.equal(check!.position, { kind: 'line', source: 'events.ndjson', file: 'events.ndjson', line: 2, offset: 0 })
    assert.equal(notNull!.key, { id: 'u3' })
    assert.match(notNull!.message, /Cannot insert the value NULL into column 'name'/)
    assert.equal((await rows(t, 'hydrator_users')).map((r) => r.id), ['u1', 'u4'])
  })

  test('fails a value the column cannot take with the server conversion error', async () => {
    const t = target()
    const result = await write(t, [user('u1', 1, { active: 'maybe' }), user('u2', 1, { balance: '12.345' })])
    assert.equal([result.written, result.failed], [1, 1])
    assert.equal(result.failures[0]!.key, { id: 'u1' })
    assert.match(result.failures[0]!.message, /Conversion failed when converting the nvarchar value 'maybe' to data type bit/)
    assert.equal((await rows(t, 'hydrator_users')).map((r) => [r.id, r.balance]), [['u2', 12.35]])
  })

  test('stores numbers, booleans, strings and JSON in columns of their types', async () => {
    const t = target()
    await write(t, [user('u1', 7, { balance: 1234.5, active: false, email: 'a@example.com', profile: { tags: ['x', 'y'], n: 1 } })])
    const [row] = await rows(t, 'hydrator_users')
    assert.equal(row, { id: 'u1', name: 'u1 v7', email: 'a@example.com', version: 7, balance: 1234.5, active: false, profile: '{"tags":["x","y"],"n":1}' })
  })

  test('stores a decimal exactly whether the event has a number or a string', async () => {
    const t = target()
    const result = await write(t, [user('u1', 1, { balance: 10 }), user('u2', 1, { balance: '12.50' }), user('u3', 1, { balance: 0.125 })])
    assert.equal([result.written, result.failed], [3, 0])
    assert.equal((await rows(t, 'hydrator_users')).map((r) => r.balance), [10, 12.5, 0.13])
  })

  test('fails at open with ERR_TARGET_NOT_FOUND before reading any event when the table is missing', async () => {
    const t = target()
    let read = 0
    async function* counted() {
      read++
      yield user('u1', 1)
    }
    await rejects(toSqlServer({ pool: t.pool, table: 'dbo.hydrator_missing', mapping: USERS })(counted()), 'ERR_TARGET_NOT_FOUND', /\[dbo\]\.\[hydrator_missing\]/)
    assert.is(read, 0)
  })

  test('fails at open with ERR_TARGET_SCHEMA for a missing column or a text version column', async () => {
    const t = target()
    const missing = { ...USERS, columns: { ...USERS.columns, nickname: 'detail.nickname' } }
    await rejects(write(t, [user('u1', 1)], { mapping: missing }), 'ERR_TARGET_SCHEMA', /no column `nickname`/)
    await createTable(t, 'hydrator_textversion', '[id] nvarchar(64) NOT NULL PRIMARY KEY, [version] nvarchar(20) NULL')
    const mapping: Mapping = { columns: { id: 'detail.id', version: 'detail.version' }, key: ['id'], versionColumn: 'version' }
    await rejects(write(t, [user('u1', 1)], { table: 'dbo.hydrator_textversion', mapping }), 'ERR_TARGET_SCHEMA', /must be a number type/)
  })

  test('writes nothing in a dry run and previews the plan', async () => {
    const t = target()
    const result = await write(t, [user('u1', 1), user('u2', 1, {}, 'UserDeleted')], {}, { dryRun: true })
    assert.equal([result.dryRun, result.written, result.skipped, result.previews.length], [true, 1, 1, 2])
    assert.equal(result.plan, { wouldInsert: 1, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 1, exact: true })
    assert.equal(result.previews[1], { op: 'skip', reason: 'deleteOfMissing', key: { id: 'u2' } })
    assert.equal(await rows(t, 'hydrator_users'), [])
  })

  test('changes nothing when the same events run again', async () => {
    const t = target()
    const events = [user('u1', 1), user('u2', 1), user('u1', 2), user('u3', 1)]
    const first = await write(t, events, { batchSize: 2 })
    assert.equal([first.written, first.skipped, first.failed], [4, 0, 0])
    const before = await rows(t, 'hydrator_users')
    const again = await write(t, events, { batchSize: 2 })
    assert.equal([again.written, again.skipped, again.failed], [0, 4, 0])
    assert.equal(await rows(t, 'hydrator_users'), before)
  })

  test('ends in the same table when events with a delete run again (the deleted row comes and goes)', async () => {
    const t = target()
    const events = [user('u1', 1), user('u2', 1), user('u2', 2, {}, 'UserDeleted')]
    await write(t, events, { batchSize: 1 })
    const before = await rows(t, 'hydrator_users')
    // No tombstone is kept, so the old upsert of u2 inserts it again before its delete removes it.
    const again = await write(t, events, { batchSize: 1 })
    assert.equal([again.written, again.skipped, again.deleted], [2, 1, 1])
    assert.equal(await rows(t, 'hydrator_users'), before)
  })

  test('applies keys that differ only in case one after the other, as the case-insensitive collation sees them', async () => {
    const t = target()
    await write(t, [user('Key-1', 1)])
    // Under the default case-insensitive collation both events match the one row: one target row
    // matched by two source rows is MERGE error 8672, and the sink falls back to row by row.
    const result = await write(t, [user('KEY-1', 2, { name: 'upper' }), user('key-1', 3, { name: 'lower' })])
    assert.equal([result.written, result.failed], [2, 0])
    assert.equal((await rows(t, 'hydrator_users')).map((r) => [r.id, r.name, r.version]), [['Key-1', 'lower', 3]])
  })

  test('keeps every statement within the parameter limit for a wide table and a large batch', async () => {
    const t = target()
    const columns = Array.from({ length: 30 }, (_, i) => `c${i}`)
    await createTable(t, 'hydrator_wide', `[id] int NOT NULL PRIMARY KEY, ${columns.map((c) => `[${c}] int NULL`).join(', ')}`)
    const mapping: Mapping = { columns: { id: 'id', ...Object.fromEntries(columns.map((c, i) => [c, `v.${i}`])) }, key: ['id'] }
    const events = Array.from({ length: 250 }, (_, id) => ({ id, v: columns.map((_, i) => id * 100 + i) }))
    const result = await write(t, events, { table: 'dbo.hydrator_wide', mapping, batchSize: 250 })
    assert.equal([result.written, result.failed], [250, 0])
    const stored = await rows(t, 'hydrator_wide')
    assert.is(stored.length, 250)
    assert.is(stored[249]!.c29, 249 * 100 + 29)
  })

  test('appends every event as a new row in append mode and fails only rejected rows', async () => {
    const t = target()
    await createTable(t, 'hydrator_log', '[seq] int NOT NULL, [type] nvarchar(50) NOT NULL, [payload] nvarchar(max) NULL')
    const mapping: Mapping = { columns: { seq: 'seq', type: 'type', payload: 'payload' }, key: ['seq'] }
    const events = [
      { seq: 1, type: 'a', payload: { x: 1 } },
      { seq: 1, type: 'a', payload: { x: 1 } },
      { seq: 2, type: null },
      { seq: 3, type: 'c' },
    ]
    const result = await write(t, events, { table: 'dbo.hydrator_log', mapping, mode: 'append' })
    assert.equal([result.written, result.skipped, result.failed], [3, 0, 1])
    assert.equal(result.failures[0]!.key, { seq: 2 })
    assert.equal((await rows(t, 'hydrator_log', 'seq')).map((r) => [r.seq, r.type, r.payload]), [
      [1, 'a', '{"x":1}'],
      [1, 'a', '{"x":1}'],
      [3, 'c', null],
    ])
  })

  test('keeps same-key events in order across concurrent batches', async () => {
    const t = target()
    const events = Array.from({ length: 60 }, (_, i) => user(`u${i % 3}`, i + 1, { name: `n${i}` }))
    const result = await write(t, events, { batchSize: 2, concurrency: 4 })
    assert.equal(result.written + result.skipped, 60)
    assert.equal((await rows(t, 'hydrator_users')).map((r) => [r.id, r.version]), [
      ['u0', 58],
      ['u1', 59],
      ['u2', 60],
    ])
  })
}

// ---------------------------------------------------------------------------------------------
// Against the TDS test server

const SqlServer = suite('toSqlServer (TDS test server)')
let server: TdsServer
const local: Target = { pool: undefined as unknown as ConnectionPool }

SqlServer.before(async () => {
  server = await startTdsServer()
  local.pool = await new sql.ConnectionPool(server.config()).connect()
  // A dropped connection is reported on the request that meets it; keep the pool's own event quiet.
  local.pool.on('error', () => {})
})

SqlServer.after.each(() => {
  server.clearFaults()
})

SqlServer.after(async () => {
  await local.pool?.close()
  await server?.close()
})

behaviour(SqlServer, () => local)

const writes = (kind: 'MERGE' | 'DELETE' | 'INSERT') => server.statements.filter((s) => s.sql?.startsWith(kind))

SqlServer('sends bracket-quoted identifiers and typed parameters, never values in the statement text', async () => {
  await createTable(local, 'we]ird', '[id] nvarchar(64) NOT NULL PRIMARY KEY, [na]]me] varchar(50) NULL, [n] bigint NULL, [ok] bit NULL, [ratio] float NULL, [v] int NULL')
  server.clearStatements()
  const mapping: Mapping = { columns: { id: 'id', 'na]me': 'name', n: 'n', ok: 'ok', ratio: 'ratio', v: 'v' }, key: ['id'], versionColumn: 'v' }
  const result = await write(local, [{ id: "x'; DROP TABLE users--", name: 'Robert]', n: 2 ** 40, ok: true, ratio: 0.25, v: 3 }], { table: '[dbo].[we]]ird]', mapping })
  assert.is(result.written, 1)
  const [merge] = writes('MERGE')
  assert.ok(merge)
  assert.ok(merge.sql!.startsWith('MERGE [dbo].[we]]ird] WITH (HOLDLOCK) AS t USING (VALUES (0, @p0, @p1, @p2, @p3, @p4, @p5))'), merge.sql)
  assert.match(merge.sql!, /\[na\]\]me\] = s\.\[na\]\]me\]/)
  assert.match(merge.sql!, /WHEN MATCHED AND \(t\.\[v\] IS NULL OR t\.\[v\] < s\.\[v\]\)/)
  assert.not.match(merge.sql!, /DROP|Robert|0\.25/)
  assert.equal(
    merge.params.map((p) => [p.name, p.type, p.value]),
    [
      ['p0', 'nvarchar(max)', "x'; DROP TABLE users--"],
      ['p1', 'varchar(max)', 'Robert]'],
      ['p2', 'bigint', 2 ** 40],
      ['p3', 'bit', true],
      ['p4', 'float', 0.25],
      ['p5', 'int', 3],
    ],
  )
  assert.equal(server.rows('dbo.we]ird')[0], { id: "x'; DROP TABLE users--", 'na]me': 'Robert]', n: 2 ** 40, ok: true, ratio: 0.25, v: 3 })
})

SqlServer('writes a batch in one transaction and rolls back a batch with a rejected row before going row by row', async () => {
  server.clearStatements()
  await write(local, [user('u1', 1), user('u2', 1, { balance: -1 }), user('u3', 1)])
  const ours = server.statements.filter((s) => s.kind !== 'rpc' || !s.sql!.startsWith('SELECT'))
  const shape = ours.map((s) => (s.kind === 'rpc' ? `${s.sql!.split(' ')[0]}${s.inTransaction ? ' in transaction' : ''}${s.error ? ` -> ${s.error.number}` : ''}` : s.kind))
  assert.equal(shape, [
    'begin',
    'MERGE in transaction -> 547',
    'rollback',
    'begin',
    'MERGE in transaction',
    'commit',
    'begin',
    'MERGE in transaction -> 547',
    'rollback',
    'begin',
    'MERGE in transaction',
    'commit',
  ])
  assert.equal(server.rows('dbo.hydrator_users').map((r) => r.id), ['u1', 'u3'])
})

SqlServer('retries a batch whose connection was lost mid-transaction and leaves no trace of the lost attempt', async () => {
  const columns = Array.from({ length: 30 }, (_, i) => `c${i}`)
  await createTable(local, 'hydrator_wide', `[id] int NOT NULL PRIMARY KEY, ${columns.map((c) => `[${c}] int NULL`).join(', ')}`)
  const mapping: Mapping = { columns: { id: 'id', ...Object.fromEntries(columns.map((c, i) => [c, `v.${i}`])) }, key: ['id'] }
  const events = Array.from({ length: 100 }, (_, id) => ({ id, v: columns.map(() => id) }))
  server.clearStatements()
  // The first MERGE of the batch runs, then the connection drops on the second: the server rolls back.
  let merges = 0
  server.inject({ kind: 'drop', when: (s) => !!s.sql?.startsWith('MERGE') && ++merges === 2 })
  const result = await write(local, events, { table: 'dbo.hydrator_wide', mapping, batchSize: 100 })
  assert.equal([result.written, result.failed], [100, 0])
  assert.ok(Object.values(result.retries).reduce((a, b) => a + b, 0) >= 1, JSON.stringify(result.retries))
  const merged = writes('MERGE')
  assert.is(merged.length, 4)
  for (const s of merged) assert.ok(s.rpcParameterCount <= 2100, `${s.rpcParameterCount} parameters`)
  assert.is(Math.max(...merged.map((s) => s.params.length)), Math.floor(MAX_STATEMENT_PARAMETERS / 31) * 31)
  assert.is(server.rows('dbo.hydrator_wide').length, 100)
})

SqlServer('retries a deadlock victim and counts the retry under the SQL Server error', async () => {
  server.inject({ kind: 'error', number: 1205, when: (s) => !!s.sql?.startsWith('MERGE') })
  const result = await write(local, [user('u1', 1), user('u2', 1)])
  assert.equal([result.written, result.failed], [2, 0])
  assert.equal(result.retries, { 'SQL Server error 1205': 1 })
})

SqlServer('fails the batch with ERR_RETRIES_EXHAUSTED and each key when the server stays unreachable', async () => {
  server.inject({ kind: 'drop', times: 10, when: (s) => !!s.sql?.startsWith('MERGE') })
  const result = await write(local, [user('u1', 1), user('u2', 1)], { retry: { ...FAST, attempts: 3 } })
  assert.equal([result.written, result.failed], [0, 2])
  assert.equal(result.failures.map((f) => [f.code, f.key, f.attempts]), [
    ['ERR_RETRIES_EXHAUSTED', { id: 'u1' }, 3],
    ['ERR_RETRIES_EXHAUSTED', { id: 'u2' }, 3],
  ])
  server.clearFaults()
})

SqlServer('does not retry an append whose commit was lost and says the rows may or may not be there', async () => {
  await createTable(local, 'hydrator_log', '[seq] int NOT NULL, [type] nvarchar(50) NOT NULL')
  server.inject({ kind: 'drop', execute: true, when: (s) => s.kind === 'commit' })
  const mapping: Mapping = { columns: { seq: 'seq', type: 'type' }, key: ['seq'] }
  const result = await write(local, [{ seq: 1, type: 'a' }], { table: 'dbo.hydrator_log', mapping, mode: 'append' })
  assert.equal([result.written, result.failed], [0, 1])
  assert.is(result.failures[0]!.code, 'ERR_CONNECTION')
  assert.match(result.failures[0]!.message, /may or may not have been inserted/)
  assert.is(server.rows('dbo.hydrator_log').length, 1)
})

SqlServer('rejects bad options when called, before any I/O', () => {
  const pool = local.pool
  const bad = (options: Partial<ToSqlServerOptions>, pattern: RegExp) => {
    try {
      toSqlServer({ pool, table: 'dbo.users', mapping: USERS, ...options } as ToSqlServerOptions)
    } catch (error) {
      assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION')
      assert.match((error as Error).message, pattern)
      return
    }
    assert.unreachable(`accepted ${JSON.stringify(Object.keys(options))}`)
  }
  bad({ table: 'a.b.c' }, /schema\.table/)
  bad({ table: '[dbo.users' }, /unclosed/)
  bad({ mode: 'replace' as 'upsert' }, /'upsert' or 'append', got `replace`/)
  bad({ mode: 'append' }, /deleteWhen/)
  bad({ batchSize: 0 }, /`batchSize` to be an integer >= 1, got `0`/)
  bad({ retry: { attempts: 0 } }, /retry\.attempts/)
  bad({ pool: {} as ConnectionPool }, /ConnectionPool/)
})

SqlServer('the test server rejects what SQL Server rejects, with its error numbers', async () => {
  const failsWith = async (number: number, run: () => Promise<unknown>) => {
    try {
      await run()
    } catch (error) {
      assert.is((error as { number?: number }).number, number, (error as Error).message)
      return
    }
    assert.unreachable(`expected SQL Server error ${number}`)
  }
  const q = (text: string) => () => local.pool.request().query(text)
  await createTable(local, 'hydrator_strict', '[id] int NOT NULL PRIMARY KEY, [name] nvarchar(5) NOT NULL, [n] int NULL CHECK ([n] > 0)')
  await q("INSERT INTO [dbo].[hydrator_strict] ([id], [name]) VALUES (1, N'a');")()
  await failsWith(208, q('SELECT * FROM [dbo].[nope];'))
  await failsWith(207, q('SELECT [nope] FROM [dbo].[hydrator_strict];'))
  await failsWith(2627, q("INSERT INTO [dbo].[hydrator_strict] ([id], [name]) VALUES (1, N'b');"))
  await failsWith(515, q('INSERT INTO [dbo].[hydrator_strict] ([id], [name]) VALUES (2, NULL);'))
  await failsWith(547, q("INSERT INTO [dbo].[hydrator_strict] ([id], [name], [n]) VALUES (2, N'b', 0);"))
  await failsWith(2628, q("INSERT INTO [dbo].[hydrator_strict] ([id], [name]) VALUES (2, N'too long');"))
  await failsWith(245, q("INSERT INTO [dbo].[hydrator_strict] ([id], [name]) VALUES (N'x', N'b');"))
  await failsWith(8672, q("MERGE [dbo].[hydrator_strict] AS t USING (VALUES (1, N'x'), (1, N'y')) AS s ([id], [name]) ON t.[id] = s.[id] WHEN MATCHED THEN UPDATE SET [name] = s.[name];"))
  await failsWith(10713, q("MERGE [dbo].[hydrator_strict] AS t USING (VALUES (1, N'x')) AS s ([id], [name]) ON t.[id] = s.[id] WHEN MATCHED THEN UPDATE SET [name] = s.[name]"))
  await failsWith(102, q('UPSERT INTO [dbo].[hydrator_strict] VALUES (1);'))
  await failsWith(8003, () => {
    const request = local.pool.request()
    for (let i = 0; i < 2099; i++) request.input(`p${i}`, sql.Int, i)
    return request.query('SELECT @p0;')
  })
  const tx = local.pool.transaction()
  await tx.begin()
  await tx.request().query("INSERT INTO [dbo].[hydrator_strict] ([id], [name]) VALUES (7, N'tx');")
  await tx.rollback()
  const [insert, rollback] = server.statements.slice(-2) as RecordedStatement[]
  assert.equal([insert!.inTransaction, rollback!.kind], [true, 'rollback'])
  assert.equal((await rows(local, 'hydrator_strict')).map((r) => r.id), [1])
})

SqlServer('the mssql: and sqlserver: schemes build the sink from a URI and report it without the password', async () => {
  const closers: (() => Promise<void> | void)[] = []
  const context: FactoryContext = { env: {}, cwd: process.cwd(), mapping: USERS, flags: {}, onClose: (fn) => closers.push(fn), retry: FAST }
  const registry = new Registry().register(mssqlPlugin)
  assert.equal(registry.sinkSchemes(), ['mssql', 'sqlserver'])
  const base = `${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${server.database}`
  try {
    const sink = await registry.createSink(`sqlserver://${base}?table=dbo.hydrator_users&encrypt=false&trustServerCertificate=true`, context)
    const result = await sink(from([user('u1', 1)]))
    assert.is(result.uri, `sqlserver://${server.user}:***@127.0.0.1:${server.port}/${server.database}?table=dbo.hydrator_users&encrypt=false&trustServerCertificate=true`)
    assert.is(result.written, 1)
    await rejects(registry.createSink(`mssql://${server.user}:wrong@127.0.0.1:${server.port}/${server.database}?table=dbo.t&encrypt=false`, context), 'ERR_AUTH', /Login failed/)
    await rejects(registry.createSink(`mssql://${base}?table=dbo.t&bogus=1`, context), 'ERR_INVALID_URI', /unknown parameter `bogus`/)
    await rejects(registry.createSink(`mssql://${base}?encrypt=false`, context), 'ERR_USAGE', /needs a table/)
    const err = await rejects(registry.createSink(`mssql://${base}?table=dbo.t`, { ...context, mapping: undefined }), 'ERR_USAGE', /needs a mapping/)
    assert.not.match(err.message, new RegExp(server.password))
  } finally {
    for (const close of closers) await close()
  }
  const parsed = parseMssqlUri(parseUri('mssql://app@db.example.com/shop?table=sales.orders&instance=SQL1'), { env: { MSSQL_PASSWORD: 'from-env' } })
  assert.equal(parsed.config, {
    server: 'db.example.com',
    database: 'shop',
    user: 'app',
    password: 'from-env',
    options: { instanceName: 'SQL1' },
    pool: { max: 10, min: 0 },
  })
  assert.is(parsed.table, 'sales.orders')
})

SqlServer.run()

// ---------------------------------------------------------------------------------------------
// Against a real SQL Server, when one is named

const url = process.env.MSSQL_URL
if (url) {
  const Real = suite('toSqlServer (real SQL Server from MSSQL_URL)')
  const real: Target = { pool: undefined as unknown as ConnectionPool }
  Real.before(async () => {
    const { config } = parseMssqlUri(parseUri(url), { env: process.env, table: 'dbo.hydrator_users' })
    real.pool = await new sql.ConnectionPool(config).connect()
    real.pool.on('error', () => {})
  })
  Real.after(async () => {
    if (!real.pool) return
    await real.pool.request().batch(['hydrator_users', 'hydrator_textversion', 'hydrator_wide', 'hydrator_log'].map((t) => `DROP TABLE IF EXISTS [dbo].[${t}];`).join(' '))
    await real.pool.close()
  })
  behaviour(Real, () => real)
  Real.run()
} else {
  console.log('skipped: real SQL Server tests (set MSSQL_URL to run them)')
}
