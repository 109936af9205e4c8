// --rebuild into SQL Server through the real `mssql`/tedious client against the TDS test server: the
// copy's CREATE TABLE is written from the catalog, and the swap is one transaction of DROP TABLE and
// sp_rename. The test server refuses what SQL Server refuses (checked first), so the statements run.
import sql, { type ConnectionPool } from 'mssql'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate, type HydrateOptions } from '../../lib/hydrate.js'
import { ndjson, rejects, tempDir } from '../helpers.js'
import { startTdsServer, type TdsServer } from '../servers/tds-server.js'

const test = suite('--rebuild: SQL Server')
let server: TdsServer
let pool: ConnectionPool
let tmp: Awaited<ReturnType<typeof tempDir>>

test.before(async () => {
  tmp = await tempDir('eh-rebuild-mssql-')
  server = await startTdsServer()
  pool = await new sql.ConnectionPool(server.config()).connect()
})

test.after(async () => {
  await pool?.close()
  await server?.close()
  await tmp?.cleanup()
})

const tables = async () =>
  (await pool.request().query('SELECT [TABLE_NAME] FROM INFORMATION_SCHEMA.TABLES;')).recordset.map((r: { TABLE_NAME: string }) => r.TABLE_NAME).sort()
const constraints = async (table: string) =>
  (await pool.request().input('t', sql.NVarChar(128), table).query('SELECT [CONSTRAINT_NAME], [CONSTRAINT_TYPE] FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS WHERE [TABLE_NAME] = @t;')).recordset
    .map((r: { CONSTRAINT_NAME: string; CONSTRAINT_TYPE: string }) => `${r.CONSTRAINT_TYPE} ${r.CONSTRAINT_NAME}`)
    .sort()
// The test server has no aggregates: the rows are counted here.
const count = async (table: string) => (await pool.request().query(`SELECT [id] FROM [dbo].[${table}];`)).recordset.length

async function usersTable(old = 20): Promise<void> {
  for (const t of await tables()) await pool.request().query(`DROP TABLE [dbo].[${t}];`)
  await pool.request().query(`CREATE TABLE dbo.users (
    id nvarchar(64) NOT NULL CONSTRAINT PK_users PRIMARY KEY,
    name nvarchar(200) COLLATE Latin1_General_CS_AS NOT NULL CONSTRAINT CK_users_name CHECK (LEN(name) > 0),
    email varchar(320) NULL CONSTRAINT UQ_users_email UNIQUE,
    version int NOT NULL DEFAULT 0,
    amount decimal(12, 2) NULL,
    n bigint IDENTITY(100, 5) NOT NULL
  );`)
  for (let i = 0; i < old; i++) await pool.request().query(`INSERT INTO dbo.users (id, name, email, version) VALUES (N'old${i}', N'old ${i}', 'old${i}@example.com', 1);`)
}

const user = (i: number, name = `user ${i}`) => ({ id: `e${i}`, source: 'users', detail: { id: `u${i}`, name, email: `u${i}@example.com`, version: 2, amount: i + 0.5 } })

function options(file: string, more: Partial<HydrateOptions> = {}): HydrateOptions {
  return {
    source: `json:${file}`,
    sink: `mssql://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${server.database}?table=dbo.users&encrypt=false&trustServerCertificate=true`,
    column: ['id=detail.id', 'name=detail.name', 'email=detail.email', 'version=detail.version', 'amount=detail.amount'],
    key: 'id',
    versionColumn: 'version',
    rebuild: true,
    env: {},
    cwd: tmp.dir,
    ...more,
  }
}

test('the test server refuses what SQL Server refuses: sp_rename of a missing object or onto a name in use, a constraint name twice', async () => {
  await usersTable(0)
  const error = (text: string) => pool.request().query(text).then(() => undefined, (e: { number?: number; message: string }) => e)
  let e = await error(`EXEC sp_rename N'dbo.nothing', N'other';`)
  assert.is(e?.number, 15248)
  e = await error(`CREATE TABLE dbo.other (id int NOT NULL);`)
  assert.is(e, undefined)
  e = await error(`EXEC sp_rename N'dbo.other', N'users';`)
  assert.is(e?.number, 15335)
  e = await error(`EXEC sp_rename N'dbo.PK_users', N'UQ_users_email';`)
  assert.is(e?.number, 15335, 'a constraint name in use')
  e = await error(`CREATE TABLE dbo.again (id int NOT NULL CONSTRAINT PK_users PRIMARY KEY);`)
  // SQL Server says 2714 (the name is taken), then 1750; the client's error is the last one.
  assert.is(e?.number, 1750)
  assert.equal((e as { precedingErrors?: { number: number }[] }).precedingErrors?.map((p) => p.number), [2714])
  // A rename in a transaction that rolls back is undone.
  const tx = pool.transaction()
  await tx.begin()
  await tx.request().query(`EXEC sp_rename N'dbo.other', N'renamed';`)
  await tx.rollback()
  assert.equal(await tables(), ['other', 'users'])
})

test('writes into a copy made from the catalog and swaps it in with sp_rename, constraint names included', async () => {
  await usersTable(20)
  const before = await constraints('users')
  const file = await tmp.file('swap.ndjson', ndjson(Array.from({ length: 60 }, (_, i) => user(i))))
  const report = await hydrate(options(file, { batchSize: 25 }))
  assert.is(report.status, 'ok', JSON.stringify(report.error))
  const rebuild = report.rebuild!
  assert.is(rebuild.state, 'swapped')
  assert.match(rebuild.table, /^dbo\.users__rebuild_[0-9a-f]{8}$/)
  assert.equal(await tables(), ['users'])
  assert.is(await count('users'), 60)
  assert.equal(await constraints('users'), before, 'the live table has its constraint names back')
  assert.ok(rebuild.steps!.some((s) => /^EXEC sp_rename N'dbo\.users__rebuild_[0-9a-f]{8}', N'users';$/.test(s)), rebuild.steps!.join('\n'))
  // The copy has what the table had: the check, the case-sensitive collation, the default, the identity.
  const rejected = await pool.request().query(`INSERT INTO dbo.users (id, name) VALUES (N'x', N'');`).then(() => undefined, (e: { number?: number }) => e)
  assert.is(rejected?.number, 547, 'the check constraint came along')
  const [row] = (await pool.request().query(`INSERT INTO dbo.users (id, name) OUTPUT inserted.version, inserted.n VALUES (N'fresh', N'Fresh');`)).recordset
  assert.is(row.version, 0)
  assert.is(Number(row.n) % 5, 0, `the identity keeps its increment: ${row.n}`)
  const [column] = (await pool.request().query(`SELECT [COLLATION_NAME], [NUMERIC_PRECISION], [NUMERIC_SCALE] FROM INFORMATION_SCHEMA.COLUMNS WHERE [TABLE_NAME] = 'users' AND [COLUMN_NAME] IN ('name');`)).recordset
  assert.is(column.COLLATION_NAME, 'Latin1_General_CS_AS')

  // A second rebuild finds every name free.
  const again = await hydrate(options(file))
  assert.is(again.rebuild!.state, 'swapped')
  assert.equal(await constraints('users'), before)
})

test('a run that does not end ok leaves the live table untouched and the copy in place; --keep-old keeps the old table', async () => {
  await usersTable(20)
  const bad = await tmp.file('partial.ndjson', ndjson([...Array.from({ length: 10 }, (_, i) => user(i)), user(99, '')]))
  const failed = await hydrate(options(bad))
  assert.is(failed.status, 'partial')
  assert.is(failed.rebuild!.state, 'pending')
  const copy = failed.rebuild!.table.replace(/^dbo\./, '')
  assert.is(await count('users'), 20)
  assert.is(await count(copy), 10)
  await pool.request().query(`DROP TABLE [dbo].[${copy}];`)

  const good = await tmp.file('keep.ndjson', ndjson(Array.from({ length: 5 }, (_, i) => user(i))))
  const kept = await hydrate(options(good, { keepOld: true }))
  assert.is(kept.rebuild!.state, 'swapped')
  const old = kept.rebuild!.old!.replace(/^dbo\./, '')
  assert.match(old, /^users__old_\d{14}$/)
  assert.equal(await tables(), [old, 'users'].sort())
  assert.is(await count(old), 20)
  assert.is(await count('users'), 5)
  const suffix = old.slice('users'.length)
  assert.ok((await constraints(old)).includes(`PRIMARY KEY PK_users${suffix}`), JSON.stringify(await constraints(old)))
  assert.ok((await constraints('users')).includes('PRIMARY KEY PK_users'))
})

test('a dry run creates nothing and plans against an empty copy', async () => {
  await usersTable(20)
  const file = await tmp.file('dry.ndjson', ndjson(Array.from({ length: 8 }, (_, i) => user(i))))
  const report = await hydrate(options(file, { dryRun: true }))
  assert.is(report.rebuild!.state, 'planned')
  assert.is(report.sink.plan?.wouldInsert, 8)
  assert.equal(await tables(), ['users'])
})

test('a missing table is refused before any copy is made', async () => {
  await usersTable(0)
  const file = await tmp.file('refused.ndjson', ndjson([user(1)]))
  await rejects(hydrate(options(file, { sink: String(options(file).sink).replace('table=dbo.users', 'table=dbo.nothing') })), 'ERR_TARGET_NOT_FOUND')
  assert.equal(await tables(), ['users'])
})

test.run()
