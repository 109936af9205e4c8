// `--rebuild` for SQL Server: SQL Server has no CREATE TABLE ... LIKE, so the copy's CREATE TABLE is
// written from the catalog: every column with its type, collation, nullability, identity (seed and
// increment) and default; the primary key, unique and check constraints. Constraint names are unique
// in a schema, so the copy's carry a `__rebuild_<id>` suffix, and the swap gives them the live
// names back. The swap is one transaction (XACT_ABORT ON) of sp_rename and DROP TABLE: all of it or
// nothing. A table with foreign keys or with indexes besides its keys is refused before anything is
// written: those are not copied (yet).
import type { ConnectionPool, IResult, Transaction } from 'mssql'
import { HydratorError, errorMessage } from '../errors.js'
import { checkNameLength, nothingToSwap, oldName, rebuildName, type RebuildOptions } from '../rebuild.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import type { RebuildSwap, SinkRebuild } from '../types.js'
import type { Mssql } from './encode.js'
import { asHydratorError, describeSqlServerError, isTransient, retryReasonOf } from './errors.js'
import { quoteIdentifier } from './statements.js'

type Pool = Pick<ConnectionPool, 'request' | 'transaction'>
type Row = Record<string, unknown>

const COLUMNS_SQL =
  'SELECT [COLUMN_NAME], [DATA_TYPE], [CHARACTER_MAXIMUM_LENGTH], [NUMERIC_PRECISION], [NUMERIC_SCALE], [DATETIME_PRECISION], [IS_NULLABLE], [COLUMN_DEFAULT], [COLLATION_NAME] ' +
  'FROM INFORMATION_SCHEMA.COLUMNS WHERE [TABLE_SCHEMA] = @schema AND [TABLE_NAME] = @table ORDER BY [ORDINAL_POSITION];'
const IDENTITY_SQL =
  'SELECT ic.[name], ic.[seed_value], ic.[increment_value] FROM sys.identity_columns ic JOIN sys.tables t ON t.[object_id] = ic.[object_id] ' +
  'JOIN sys.schemas s ON s.[schema_id] = t.[schema_id] WHERE s.[name] = @schema AND t.[name] = @table;'
const CONSTRAINTS_SQL =
  'SELECT [CONSTRAINT_NAME], [CONSTRAINT_TYPE] FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS WHERE [TABLE_SCHEMA] = @schema AND [TABLE_NAME] = @table;'
const KEY_COLUMNS_SQL =
  'SELECT [CONSTRAINT_NAME], [COLUMN_NAME], [ORDINAL_POSITION] FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE WHERE [TABLE_SCHEMA] = @schema AND [TABLE_NAME] = @table ORDER BY [CONSTRAINT_NAME], [ORDINAL_POSITION];'
const CHECKS_SQL = 'SELECT [CONSTRAINT_NAME], [CHECK_CLAUSE] FROM INFORMATION_SCHEMA.CHECK_CONSTRAINTS WHERE [CONSTRAINT_SCHEMA] = @schema;'
const OTHER_INDEXES_SQL =
  'SELECT i.[name] FROM sys.indexes i JOIN sys.tables t ON t.[object_id] = i.[object_id] JOIN sys.schemas s ON s.[schema_id] = t.[schema_id] ' +
  'WHERE s.[name] = @schema AND t.[name] = @table AND i.[type] > 0 AND i.[is_primary_key] = 0 AND i.[is_unique_constraint] = 0;'

/** A constraint as the catalog shows it, with what pairs it with its copy. */
interface Constraint {
  readonly name: string
  readonly type: string
  /** The key's columns, or the check's clause. */
  readonly shape: string
  readonly columns: readonly string[]
  readonly clause?: string
}

const nstring = (text: string) => `N'${text.replace(/'/g, "''")}'`
const qualified = (schema: string, name: string) => `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`

/** Runs catalog queries with `@schema` and `@table`. */
function catalog(pool: Pool, sql: Mssql, schema: string, table: string, retry: RetryPolicy) {
  return (text: string): Promise<Row[]> =>
    withRetry(
      async () => {
        const request = pool.request()
        request.input('schema', sql.NVarChar(128), schema)
        request.input('table', sql.NVarChar(128), table)
        const result: IResult<Row> = await request.query(text)
        return result.recordset ?? []
      },
      retry,
      { isRetryable: isTransient, reasonOf: retryReasonOf },
    )
}

async function constraintsOf(query: (text: string) => Promise<Row[]>): Promise<Constraint[]> {
  const [kinds, keyColumns, checks] = await Promise.all([query(CONSTRAINTS_SQL), query(KEY_COLUMNS_SQL), query(CHECKS_SQL)])
  return kinds.map((k) => {
    const name = String(k.CONSTRAINT_NAME)
    const type = String(k.CONSTRAINT_TYPE)
    const columns = keyColumns.filter((c) => String(c.CONSTRAINT_NAME) === name).map((c) => String(c.COLUMN_NAME))
    const clause = type === 'CHECK' ? String(checks.find((c) => String(c.CONSTRAINT_NAME) === name)?.CHECK_CLAUSE ?? '') : undefined
    return { name, type, columns, ...(clause !== undefined ? { clause } : {}), shape: `${type}:${clause ?? columns.join(',')}` }
  })
}

/** A column's type as CREATE TABLE takes it, from INFORMATION_SCHEMA.COLUMNS. */
export function columnType(c: Row): string {
  const type = String(c.DATA_TYPE).toLowerCase()
  const length = c.CHARACTER_MAXIMUM_LENGTH === null || c.CHARACTER_MAXIMUM_LENGTH === undefined ? undefined : Number(c.CHARACTER_MAXIMUM_LENGTH)
  if (['char', 'varchar', 'nchar', 'nvarchar', 'binary', 'varbinary'].includes(type)) return `${type}(${length === -1 ? 'max' : (length ?? 1)})`
  if (type === 'decimal' || type === 'numeric') return `${type}(${Number(c.NUMERIC_PRECISION)}, ${Number(c.NUMERIC_SCALE)})`
  if (['datetime2', 'datetimeoffset', 'time'].includes(type)) return `${type}(${Number(c.DATETIME_PRECISION ?? 7)})`
  if (type === 'float' && c.NUMERIC_PRECISION !== null && Number(c.NUMERIC_PRECISION) !== 53) return `float(${Number(c.NUMERIC_PRECISION)})`
  return type
}

/** `PK_users` -> `PK_users__rebuild_1a2b3c4d`, cut to SQL Server's 128 characters. */
function copyConstraintName(name: string, id: string): string {
  const suffix = `__rebuild_${id}`
  return name.slice(0, 128 - suffix.length) + suffix
}

/**
 * Checks the live table, then (not in a dry run) creates its copy from the catalog, or finds it for
 * a resumed run. Resolves whether the copy exists (a dry run's copy is not made).
 */
export async function openSqlServerRebuild(pool: Pool, sql: Mssql, schema: string, table: string, rebuild: RebuildOptions, dryRun: boolean, retry: RetryPolicy): Promise<boolean> {
  const copy = rebuildName(table, rebuild.id)
  checkNameLength(copy, 128, 'rebuild table', false)
  checkNameLength(oldName(table), 128, 'kept old table', false)
  const live = `${schema}.${table}`
  try {
    const query = catalog(pool, sql, schema, table, retry)
    const [columns, identities, constraints, indexes] = await Promise.all([query(COLUMNS_SQL), query(IDENTITY_SQL), constraintsOf(query), query(OTHER_INDEXES_SQL)])
    const foreign = constraints.filter((c) => c.type === 'FOREIGN KEY').map((c) => c.name)
    const other = indexes.map((i) => String(i.name))
    if (foreign.length > 0 || other.length > 0) {
      const what = [...foreign.map((n) => `foreign key ${n}`), ...other.map((n) => `index ${n}`)].join(', ')
      throw new HydratorError('ERR_TARGET_SCHEMA', `--rebuild: \`${live}\` has ${what}: the SQL Server rebuild copies columns, defaults, identity, keys and checks, not those; rebuild without --rebuild`)
    }
    const existing = (await catalog(pool, sql, schema, copy, retry)(COLUMNS_SQL)).length > 0
    if (rebuild.resume) {
      if (!existing) throw new HydratorError('ERR_TARGET_NOT_FOUND', `--rebuild: the checkpoint's events were written into \`${schema}.${copy}\`, which is gone: delete the checkpoint to rebuild from the start`)
      return true
    }
    if (dryRun) return false
    const identity = new Map(identities.map((i) => [String(i.name), i]))
    const lines = columns.map((c) => {
      const name = String(c.COLUMN_NAME)
      const id = identity.get(name)
      const charType = ['char', 'varchar', 'nchar', 'nvarchar', 'text', 'ntext'].includes(String(c.DATA_TYPE).toLowerCase())
      return [
        quoteIdentifier(name),
        columnType(c),
        ...(charType && c.COLLATION_NAME ? [`COLLATE ${String(c.COLLATION_NAME)}`] : []),
        ...(id ? [`IDENTITY(${Number(id.seed_value)}, ${Number(id.increment_value)})`] : []),
        c.IS_NULLABLE === 'NO' ? 'NOT NULL' : 'NULL',
        ...(c.COLUMN_DEFAULT !== null && c.COLUMN_DEFAULT !== undefined ? [`DEFAULT ${String(c.COLUMN_DEFAULT)}`] : []),
      ].join(' ')
    })
    for (const k of constraints) {
      const name = quoteIdentifier(copyConstraintName(k.name, rebuild.id))
      if (k.type === 'CHECK') lines.push(`CONSTRAINT ${name} CHECK ${k.clause}`)
      else lines.push(`CONSTRAINT ${name} ${k.type === 'PRIMARY KEY' ? 'PRIMARY KEY' : 'UNIQUE'} (${k.columns.map(quoteIdentifier).join(', ')})`)
    }
    const statements = [
      'SET XACT_ABORT ON;',
      // Left by a run of this id that stopped before its first checkpoint: it starts over.
      ...(existing ? [`DROP TABLE ${qualified(schema, copy)};`] : []),
      `CREATE TABLE ${qualified(schema, copy)} (${lines.join(', ')});`,
    ]
    await inTransaction(pool, statements.join('\n'))
    return true
  } catch (error) {
    throw asHydratorError(error, live) ?? new HydratorError('ERR_CONNECTION', `--rebuild: cannot create the copy of ${live}: ${describeSqlServerError(error)}`, { cause: error })
  }
}

/** Runs a batch in a transaction, committed only when every statement succeeded. */
async function inTransaction(pool: Pool, batch: string): Promise<void> {
  const tx: Transaction = pool.transaction()
  await tx.begin()
  try {
    await tx.request().query(batch)
    await tx.commit()
  } catch (error) {
    await tx.rollback().catch(() => {})
    throw error
  }
}

/**
 * Swaps the copy in, in one transaction: the live table is dropped (or renamed to its dated name
 * with its constraints), the copy takes its name, and the copy's constraints the live ones' names.
 * `SET LOCK_TIMEOUT` bounds the wait for the schema lock, so a long query on the table fails the
 * swap instead of queueing every reader behind it.
 */
export async function swapSqlServer(pool: Pool, sql: Mssql, schema: string, table: string, rebuild: RebuildOptions, retry: RetryPolicy, lockTimeoutMs = 5000): Promise<RebuildSwap> {
  const copy = rebuildName(table, rebuild.id)
  const live = `${schema}.${table}`
  const [liveColumns, copyColumns] = await Promise.all([catalog(pool, sql, schema, table, retry)(COLUMNS_SQL), catalog(pool, sql, schema, copy, retry)(COLUMNS_SQL)])
  if (liveColumns.length === 0) throw new HydratorError('ERR_TARGET_NOT_FOUND', `--rebuild: the live table \`${live}\` is gone; nothing was swapped`)
  if (copyColumns.length === 0) throw nothingToSwap(`--rebuild: the rebuild table \`${schema}.${copy}\` does not exist; nothing was swapped`)
  const [liveConstraints, copyConstraints] = await Promise.all([constraintsOf(catalog(pool, sql, schema, table, retry)), constraintsOf(catalog(pool, sql, schema, copy, retry))])
  const steps = ['SET XACT_ABORT ON;', `SET LOCK_TIMEOUT ${Math.max(1, Math.floor(lockTimeoutMs))};`]
  let old: string | undefined
  if (rebuild.keepOld) {
    old = oldName(table)
    const suffix = old.slice(table.length)
    steps.push(`EXEC sp_rename ${nstring(`${schema}.${table}`)}, ${nstring(old)};`)
    for (const k of liveConstraints) steps.push(`EXEC sp_rename ${nstring(`${schema}.${k.name}`)}, ${nstring(k.name.slice(0, 128 - suffix.length) + suffix)};`)
  } else {
    steps.push(`DROP TABLE ${qualified(schema, table)};`)
  }
  steps.push(`EXEC sp_rename ${nstring(`${schema}.${copy}`)}, ${nstring(table)};`)
  const left = [...liveConstraints]
  for (const k of copyConstraints) {
    const j = left.findIndex((l) => l.shape === k.shape)
    if (j === -1) continue
    const to = left.splice(j, 1)[0]!.name
    if (to !== k.name) steps.push(`EXEC sp_rename ${nstring(`${schema}.${k.name}`)}, ${nstring(to)};`)
  }
  await withRetry(() => inTransaction(pool, steps.join('\n')), retry, {
    // A lock that did not come in time (1222), a deadlock, a lost connection: nothing was changed.
    isRetryable: (error) => isTransient(error) || (error as { number?: number }).number === 1222,
    reasonOf: retryReasonOf,
  }).catch((error: unknown) => {
    throw asHydratorError(error, live) ?? new HydratorError('ERR_TARGET_SCHEMA', `${describeSqlServerError(error)}`, { cause: error })
  })
  return { ...(old ? { old: `${schema}.${old}` } : {}), steps }
}

/** The sink's {@link SinkRebuild}; `mssql` loads when the swap runs. */
export function sqlServerRebuild(pool: Pool, load: () => Promise<Mssql>, schema: string, table: string, rebuild: RebuildOptions, retry: RetryPolicy): SinkRebuild {
  return {
    live: `${schema}.${table}`,
    table: `${schema}.${rebuildName(table, rebuild.id)}`,
    ...(rebuild.keepOld ? { keepOld: true } : {}),
    swap: async () => {
      try {
        return await swapSqlServer(pool, await load(), schema, table, rebuild, retry)
      } catch (error) {
        if (error instanceof HydratorError) throw error
        throw new HydratorError('ERR_CONNECTION', `cannot reach SQL Server for the swap of ${schema}.${table}: ${errorMessage(error)}`, { cause: error })
      }
    },
  }
}
