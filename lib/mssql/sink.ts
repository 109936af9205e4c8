import type { ConnectionPool, IResult, ISqlType, ISqlTypeFactory, Request, Transaction } from 'mssql'
import { HydratorError, errorMessage, isConfigError, type ErrorCode } from '../errors.js'
import { collapseByKey, compileMapping, type Mapping, type RowWrite } from '../mapping.js'
import type { Sink } from '../types.js'
import { assertInteger } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { splitQualifiedName } from '../util/sql-names.js'
import { defineSink, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'

/**
 * What the sink needs of an `mssql` ConnectionPool (`new sql.ConnectionPool(config)`, connected).
 * Give the pool an `error` listener: tedious reports some dropped connections as pool events.
 *
 * @example
 * const pool: SqlServerPool = await new sql.ConnectionPool(config).connect()
 */
export type SqlServerPool = Pick<ConnectionPool, 'request' | 'transaction'>

/** Options of {@link toSqlServer}. */
export interface ToSqlServerOptions extends SinkOptions {
  /** A connected `mssql` ConnectionPool; the sink never closes it. It needs `concurrency` connections. */
  readonly pool: SqlServerPool
  /** The target table, `schema.table` (`dbo.users`, `[my schema].[my table]`); a bare name means `dbo`. */
  readonly table: string
  /** How events become rows: columns, key, optional version column and delete pattern. */
  readonly mapping: Mapping
  /**
   * `upsert`: MERGE on the key, guarded by the version column when there is one. `append`: INSERT
   * every event as a new row (no key lookup, no deletes, no version guard).
   * @default 'upsert'
   */
  readonly mode?: 'upsert' | 'append'
  /** Events per batch; one transaction per batch, split into statements of at most 2,098 parameters. @default 200 */
  readonly batchSize?: number
  /** How lost connections, deadlocks and throttling are retried. @default 8 attempts, 100 ms to 20 s */
  readonly retry?: RetryPolicy
  /** The URI shown in the report. @default `mssql:<schema>.<table>` */
  readonly uri?: string
}

/**
 * The most parameters one statement of the sink carries. SQL Server allows 2,100 per request, and
 * sp_executesql (which every parameterized query is sent through) takes two of them for the
 * statement and its declarations; larger batches are split into several statements.
 *
 * @example
 * Math.floor(MAX_STATEMENT_PARAMETERS / 7) // rows per MERGE for a 7-column mapping: 299
 */
export const MAX_STATEMENT_PARAMETERS = 2098
/** A VALUES list may hold at most 1,000 rows in an INSERT (error 10738); MERGE keeps to the same. */
const MAX_VALUES_ROWS = 1000

const ORDINAL = '__hydrator_row'

const METADATA_SQL =
  'SELECT [COLUMN_NAME], [DATA_TYPE], [CHARACTER_MAXIMUM_LENGTH], [IS_NULLABLE] FROM INFORMATION_SCHEMA.COLUMNS ' +
  'WHERE [TABLE_SCHEMA] = @schema AND [TABLE_NAME] = @table ORDER BY [ORDINAL_POSITION];'

const NUMERIC_TYPES = new Set(['tinyint', 'smallint', 'int', 'bigint', 'decimal', 'numeric', 'float', 'real', 'money', 'smallmoney'])
const INT_RANGES: Record<string, [number, number]> = {
  tinyint: [0, 255],
  smallint: [-32768, 32767],
  int: [-2147483648, 2147483647],
  bigint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
}
const ANSI_STRING_TYPES = new Set(['char', 'varchar', 'text'])
const EXACT_TYPES = new Set(['decimal', 'numeric', 'money', 'smallmoney'])

// Errors that pass: a lost connection, a deadlock victim, a lock timeout, Azure SQL throttling.
const TRANSIENT_CODES = new Set(['ESOCKET', 'ECONNCLOSED', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEOUT', 'ENOTOPEN', 'ENOCONN', 'EABORT', 'ECLOSE'])
const TRANSIENT_NUMBERS = new Set([64, 233, 1205, 1222, 3960, 4221, 10053, 10054, 10060, 10928, 10929, 40143, 40197, 40501, 40540, 40613, 49918, 49919, 49920])
const AUTH_NUMBERS = new Set([229, 230, 262, 297, 300, 916, 18456])
// Errors that mean the statement itself is wrong: a bug in this sink, never a property of one row.
const STATEMENT_NUMBERS = new Set([102, 105, 109, 110, 137, 156, 214, 2812, 4104, 4145, 8003, 8144, 8145, 8158, 8159, 8178, 10713, 10738])

type Mssql = typeof import('mssql')
type ParamType = ISqlType | ISqlTypeFactory

interface TargetColumn {
  readonly name: string
  readonly dataType: string
}

interface Param {
  readonly name: string
  readonly type: ParamType
  readonly value: unknown
}

interface Statement {
  readonly sql: string
  readonly params: readonly Param[]
}

/** A write that ended without being applied; carried to the caller as a failed outcome. */
class CommitUnknownError extends Error {}

/**
 * A sink that writes events as rows of a SQL Server table through an `mssql` pool. In `upsert` mode
 * each batch is one transaction of `MERGE ... WITH (HOLDLOCK)` statements keyed on the mapping's key:
 * a row is inserted, or updated when the event's version is higher than the row's (an equal or lower
 * version is skipped), and events matching `deleteWhen` delete the row under the same guard.
 * Same-key events in a batch are collapsed to the one sequential application would leave (the others
 * are skipped); batches that share a key never run at once. A row the server rejects (NULL in a NOT
 * NULL column, a CHECK, a conversion) becomes a failure with its key and SQL Server's message while
 * the rest of the batch is written; lost connections and deadlocks are retried with backoff. `append`
 * mode INSERTs every event. Values are typed parameters, never text in the statement.
 *
 * @example
 * const pool = await new sql.ConnectionPool(config).connect()
 * await pipe(readJsonLines('events.ndjson'), toSqlServer({
 *   pool, table: 'dbo.users',
 *   mapping: { columns: { id: 'detail.id', name: 'detail.name', version: 'detail.version' }, key: ['id'], versionColumn: 'version' },
 * }))
 */
export function toSqlServer(options: ToSqlServerOptions): Sink {
  if (!options || typeof options !== 'object') throw new HydratorError('ERR_INVALID_OPTION', 'toSqlServer needs an options object')
  const { pool } = options
  if (!pool || typeof pool.request !== 'function' || typeof pool.transaction !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `pool` to be an mssql ConnectionPool (with request() and transaction())')
  }
  const { schema, table } = parseTableName(options.table)
  const target = `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`
  const mode = options.mode ?? 'upsert'
  if (mode !== 'upsert' && mode !== 'append') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`mode\` to be 'upsert' or 'append', got \`${String(mode)}\``)
  }
  const compiled = compileMapping(options.mapping)
  const { mapping, columnNames } = compiled
  for (const name of columnNames) {
    if (name.length === 0 || name.length > 128) {
      throw new HydratorError('ERR_INVALID_OPTION', `column name \`${name}\` is not a SQL Server identifier (1 to 128 characters)`)
    }
  }
  if (mode === 'append' && mapping.deleteWhen !== undefined) {
    throw new HydratorError('ERR_INVALID_OPTION', 'append mode only inserts rows; `deleteWhen` (--delete-when) needs mode `upsert`')
  }
  if (mode === 'append' && mapping.versionColumn !== undefined) {
    throw new HydratorError('ERR_INVALID_OPTION', 'append mode inserts every event; a version column (--version-column) needs mode `upsert`')
  }
  const batchSize = assertInteger('batchSize', options.batchSize ?? 200, 1)
  const retry = validateRetryPolicy(options.retry)
  const keyColumns = mapping.key
  const versionColumn = mapping.versionColumn
  const valueColumns = columnNames.filter((c) => !keyColumns.includes(c))
  const uri = options.uri ?? `mssql:${schema}.${table}`

  let sql: Mssql | undefined
  let columns = new Map<string, TargetColumn>()

  const keyObject = (w: RowWrite): Record<string, unknown> => Object.fromEntries(keyColumns.map((k, i) => [k, w.key[i]]))

  const param = (name: string, column: string, value: unknown): Param => {
    const { type, value: encoded } = encodeValue(sql!, columns.get(column.toLowerCase())!, value)
    return { name, type, value: encoded }
  }

  /** The VALUES rows of a statement: `(0, @p0, @p1), (1, @p2, @p3)` and their parameters. */
  const valuesList = (rows: readonly RowWrite[], cols: readonly string[], ordinal: boolean): { text: string; params: Param[] } => {
    const params: Param[] = []
    const tuples = rows.map((w, r) => {
      const slots = cols.map((c) => {
        const p = param(`p${params.length}`, c, w.row[c])
        params.push(p)
        return `@${p.name}`
      })
      return `(${ordinal ? `${r}, ` : ''}${slots.join(', ')})`
    })
    return { text: tuples.join(', '), params }
  }

  const q = quoteIdentifier
  const sourceColumns = (cols: readonly string[]) => [ORDINAL, ...cols].map(q).join(', ')
  const on = keyColumns.map((k) => `t.${q(k)} = s.${q(k)}`).join(' AND ')
  const guard = versionColumn === undefined ? '' : `(t.${q(versionColumn)} IS NULL OR t.${q(versionColumn)} < s.${q(versionColumn)})`

  const mergeStatement = (rows: readonly RowWrite[]): Statement => {
    const { text, params } = valuesList(rows, columnNames, true)
    const matched =
      valueColumns.length === 0
        ? ''
        : ` WHEN MATCHED${guard ? ` AND ${guard}` : ''} THEN UPDATE SET ${valueColumns.map((c) => `${q(c)} = s.${q(c)}`).join(', ')}`
    return {
      sql:
        `MERGE ${target} WITH (HOLDLOCK) AS t USING (VALUES ${text}) AS s (${sourceColumns(columnNames)}) ON ${on}` +
        `${matched} WHEN NOT MATCHED BY TARGET THEN INSERT (${columnNames.map(q).join(', ')}) VALUES (${columnNames.map((c) => `s.${q(c)}`).join(', ')})` +
        ` OUTPUT $action AS [action], s.${q(ORDINAL)} AS [row];`,
      params,
    }
  }

  const deleteColumns = versionColumn === undefined ? [...keyColumns] : [...keyColumns, versionColumn]
  // With a version guard a second statement returns the rows the guard kept, so that a delete the
  // row outranks is told from one whose row is already gone.
  const deleteStatement = (rows: readonly RowWrite[]): Statement => {
    const { text, params } = valuesList(rows, deleteColumns, true)
    const source = `(VALUES ${text}) AS s (${sourceColumns(deleteColumns)})`
    return {
      sql:
        `DELETE t OUTPUT s.${q(ORDINAL)} AS [row] FROM ${target} AS t INNER JOIN ${source} ON ${on}` +
        (guard ? ` WHERE ${guard}; SELECT s.${q(ORDINAL)} AS [row] FROM ${source} INNER JOIN ${target} AS t ON ${on};` : ';'),
      params,
    }
  }

  const insertStatement = (rows: readonly RowWrite[]): Statement => {
    const { text, params } = valuesList(rows, columnNames, false)
    return { sql: `INSERT INTO ${target} (${columnNames.map(q).join(', ')}) VALUES ${text};`, params }
  }

  const chunked = <T>(items: readonly T[], perRow: number): T[][] => {
    const size = Math.max(1, Math.min(MAX_VALUES_ROWS, Math.floor(MAX_STATEMENT_PARAMETERS / perRow)))
    const out: T[][] = []
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
    return out
  }

  const run = async (request: Request, statement: Statement): Promise<IResult<Record<string, unknown>>> => {
    for (const p of statement.params) request.input(p.name, p.type as ISqlType, p.value)
    return request.query(statement.sql)
  }

  /**
   * Applies writes (distinct keys) in one transaction, retrying passing errors. Resolves with one
   * outcome per write; rejects when the transaction could not be committed.
   */
  const apply = async (writes: readonly RowWrite[], context: DriverContext): Promise<WriteOutcome[]> => {
    return withRetry(
      async () => {
        const outcomes: WriteOutcome[] = writes.map((w) => ({ status: 'written', key: keyObject(w) }))
        const tx: Transaction = pool.transaction()
        await tx.begin()
        let committing = false
        try {
          if (mode === 'append') {
            for (const chunk of chunked([...writes.keys()], columnNames.length)) {
              await run(tx.request(), insertStatement(chunk.map((i) => writes[i]!)))
            }
          } else {
            const upserts = [...writes.keys()].filter((i) => writes[i]!.op === 'upsert')
            const deletes = [...writes.keys()].filter((i) => writes[i]!.op === 'delete')
            for (const chunk of chunked(upserts, columnNames.length)) {
              const result = await run(tx.request(), mergeStatement(chunk.map((i) => writes[i]!)))
              const applied = new Set((result.recordset ?? []).map((r) => Number(r.row)))
              chunk.forEach((i, r) => {
                // No OUTPUT row: the version guard kept the newer row (or there was nothing to update).
                if (!applied.has(r) && versionColumn !== undefined) outcomes[i] = { status: 'skipped', key: keyObject(writes[i]!) }
              })
            }
            for (const chunk of chunked(deletes, deleteColumns.length)) {
              const result = await run(tx.request(), deleteStatement(chunk.map((i) => writes[i]!)))
              const sets = (result.recordsets ?? []) as unknown as Record<string, unknown>[][]
              const kept = new Set((sets[1] ?? []).map((r) => Number(r.row)))
              chunk.forEach((i, r) => {
                // A row the version guard kept is skipped; a row that is gone (now, or before) is the
                // state the delete asked for, so it counts as a delete, as in the Postgres sink.
                outcomes[i] = kept.has(r) ? { status: 'skipped', key: keyObject(writes[i]!) } : { status: 'written', key: keyObject(writes[i]!), deleted: true }
              })
            }
          }
          committing = true
          await tx.commit()
          return outcomes
        } catch (error) {
          if (!committing) await rollbackQuietly(tx)
          // Re-running an upsert is harmless (the version guard or the same values), so a commit whose
          // outcome is unknown is retried; re-running an append could insert the rows twice.
          if (committing && mode === 'append' && isTransient(error)) {
            throw new CommitUnknownError(
              `the connection was lost while committing; these rows may or may not have been inserted (append mode does not retry a commit): ${errorMessage(error)}`,
            )
          }
          throw error
        }
      },
      retry,
      { isRetryable: isTransient, onRetry: (reason) => context.retried(reason), signal: context.signal, reasonOf: retryReasonOf },
    )
  }

  return defineSink<unknown, RowWrite>(
    {
      uri,
      async open(context) {
        sql = await loadMssql()
        let result: IResult<Record<string, unknown>>
        try {
          result = await withRetry(
            () => {
              const request = pool.request()
              request.input('schema', sql!.NVarChar(128), schema)
              request.input('table', sql!.NVarChar(128), table)
              return request.query(METADATA_SQL)
            },
            retry,
            { isRetryable: isTransient, onRetry: (reason) => context.retried(reason), signal: context.signal, reasonOf: retryReasonOf },
          )
        } catch (error) {
          throw asHydratorError(error, target) ?? new HydratorError('ERR_CONNECTION', `cannot read the columns of ${target}: ${errorMessage(error)}`, { cause: error })
        }
        const rows = result.recordset ?? []
        if (rows.length === 0) {
          throw new HydratorError('ERR_TARGET_NOT_FOUND', `table ${target} was not found (or the login cannot see it); create it before hydrating`)
        }
        columns = new Map(rows.map((r) => [String(r.COLUMN_NAME).toLowerCase(), { name: String(r.COLUMN_NAME), dataType: String(r.DATA_TYPE).toLowerCase() }]))
        const missing = columnNames.filter((c) => !columns.has(c.toLowerCase()))
        if (missing.length > 0) {
          throw new HydratorError(
            'ERR_TARGET_SCHEMA',
            `table ${target} has no column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `\`${c}\``).join(', ')}; its columns are: ${[...columns.values()].map((c) => c.name).join(', ')}`,
          )
        }
        if (versionColumn !== undefined) {
          const type = columns.get(versionColumn.toLowerCase())!.dataType
          if (!NUMERIC_TYPES.has(type)) {
            throw new HydratorError(
              'ERR_TARGET_SCHEMA',
              `version column \`${versionColumn}\` of ${target} is ${type}; it must be a number type (int, bigint, decimal, ...) so that versions compare as numbers`,
            )
          }
        }
      },
      prepare: (event) => compiled.toRow(event),
      keyOf: mode === 'upsert' ? (w) => w.keyString : undefined,
      preview: (w) => ({ op: mode === 'append' ? 'insert' : w.op, table: target, key: keyObject(w), row: w.row }),
      async write(batch, context) {
        const outcomes: WriteOutcome[] = new Array(batch.length)
        let survivors: number[]
        if (mode === 'upsert') {
          const collapsed = collapseByKey(batch)
          survivors = collapsed.survivors
          collapsed.survivorOf.forEach((s, i) => {
            if (s !== i) outcomes[i] = { status: 'skipped', key: keyObject(batch[i]!) }
          })
        } else {
          survivors = [...batch.keys()]
        }
        const writes = survivors.map((i) => batch[i]!)
        try {
          const applied = await apply(writes, context)
          survivors.forEach((i, k) => (outcomes[i] = applied[k]!))
          return outcomes
        } catch (error) {
          const fatal = asHydratorError(error, target)
          if (fatal) throw fatal
          // The server is unreachable or the commit's fate unknown: every write of the batch fails
          // with its key (row-by-row would meet the same fate, slower).
          const attempts = (error as { attempts?: number }).attempts
          const failed = (code: string, message: string) => {
            survivors.forEach((i) => (outcomes[i] = { status: 'failed', code, message, key: keyObject(batch[i]!), attempts }))
            return outcomes
          }
          if (error instanceof CommitUnknownError) return failed('ERR_CONNECTION', error.message)
          if (isTransient(error)) return failed('ERR_RETRIES_EXHAUSTED', `gave up after ${attempts} attempts: ${describe(error)}`)
        }
        // Something in the batch was rejected: apply it row by row, so only the rejected rows fail.
        for (const [k, i] of survivors.entries()) {
          const w = writes[k]!
          try {
            outcomes[i] = (await apply([w], context))[0]!
          } catch (error) {
            const fatal = asHydratorError(error, target)
            // The table or the login went bad mid-run: stop. A statement bug fails this row only.
            if (fatal && isConfigError(fatal)) throw fatal
            const attempts = (error as { attempts?: number }).attempts
            if (fatal) {
              outcomes[i] = { status: 'failed', code: fatal.code, message: fatal.message, key: keyObject(w), attempts }
            } else if (error instanceof CommitUnknownError) {
              outcomes[i] = { status: 'failed', code: 'ERR_CONNECTION', message: error.message, key: keyObject(w), attempts }
            } else if (isTransient(error)) {
              outcomes[i] = { status: 'failed', code: 'ERR_RETRIES_EXHAUSTED', message: `gave up after ${attempts} attempts: ${describe(error)}`, key: keyObject(w), attempts }
            } else {
              outcomes[i] = { status: 'failed', code: 'ERR_WRITE_REJECTED', message: rejectionMessage(error, target), key: keyObject(w), attempts }
            }
          }
        }
        return outcomes
      },
    },
    { ...options, batchSize },
  )
}

/**
 * Splits `schema.table` (either part may be bracket-quoted, `]]` for a `]`); a bare name is in `dbo`.
 * Throws ERR_INVALID_OPTION for anything else, echoing it.
 *
 * @example
 * parseTableName('[sales data].orders') // { schema: 'sales data', table: 'orders' }
 */
export function parseTableName(text: unknown): { schema: string; table: string } {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`table\` to be \`schema.table\`, e.g. \`dbo.users\`, got \`${String(text)}\``)
  }
  // The database comes from the connection: at most schema and table.
  const parts = splitQualifiedName(text, { open: '[', close: ']' }).map((p) => p.name)
  const long = parts.find((p) => p.length > 128)
  if (long) throw new HydratorError('ERR_INVALID_OPTION', `a name in \`table\` is longer than SQL Server's 128 characters: \`${text}\``)
  return parts.length === 1 ? { schema: 'dbo', table: parts[0]! } : { schema: parts[0]!, table: parts[1]! }
}

/**
 * Quotes an identifier for T-SQL: brackets, with `]` doubled, so any string is a safe name.
 *
 * @example
 * quoteIdentifier('odd]name') // '[odd]]name]'
 */
export function quoteIdentifier(name: string): string {
  return `[${name.replace(/]/g, ']]')}]`
}

/**
 * The parameter type for a value bound for a column: the column's own type where the value fits it
 * (so the server compares without converting the column, and index seeks stay possible), strings
 * for string columns whatever the value, and nvarchar(max) (objects and arrays as JSON) where the
 * server has to convert; what it cannot convert it rejects with its own message.
 */
function encodeValue(sql: Mssql, column: TargetColumn, value: unknown): { type: ParamType; value: unknown } {
  const dataType = column.dataType
  const ansi = ANSI_STRING_TYPES.has(dataType)
  const text = (v: string | null) => ({ type: ansi ? sql.VarChar(sql.MAX) : sql.NVarChar(sql.MAX), value: v })
  if (value === null || value === undefined) {
    if (dataType in INT_RANGES) return { type: intType(sql, dataType), value: null }
    if (dataType === 'bit') return { type: sql.Bit, value: null }
    if (dataType === 'float' || dataType === 'real') return { type: sql.Float, value: null }
    return text(null)
  }
  if (typeof value === 'object') return text(JSON.stringify(value))
  if (ansi || !(NUMERIC_TYPES.has(dataType) || dataType === 'bit')) {
    return text(typeof value === 'string' ? value : String(value))
  }
  if (typeof value === 'boolean') return { type: sql.Bit, value }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return text(String(value))
    // Decimal text converts exactly (a float would round 12.345 to 12.34), and it mixes with string
    // values in one VALUES list without the server converting those strings to int.
    if (EXACT_TYPES.has(dataType)) return text(plainNumber(value))
    const range = INT_RANGES[dataType]
    if (Number.isInteger(value)) {
      if (range && value >= range[0] && value <= range[1]) return { type: intType(sql, dataType), value }
      if (value >= -2147483648 && value <= 2147483647) return { type: sql.Int, value }
      if (Number.isSafeInteger(value)) return { type: sql.BigInt, value }
    }
    return { type: sql.Float, value }
  }
  return text(String(value))
}

/** A number as decimal text without an exponent: 1e21 -> `1000000000000000000000`, 1e-7 -> `0.0000001`. */
function plainNumber(n: number): string {
  const s = String(n)
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s)
  if (!m) return s
  const digits = m[2]! + (m[3] ?? '')
  const point = 1 + Number(m[4])
  const body = point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? digits + '0'.repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`
  return m[1] + body
}

function intType(sql: Mssql, dataType: string): ParamType {
  return dataType === 'tinyint' ? sql.TinyInt : dataType === 'smallint' ? sql.SmallInt : dataType === 'bigint' ? sql.BigInt : sql.Int
}

async function loadMssql(): Promise<Mssql> {
  try {
    const mod = (await import('mssql')) as Mssql & { default?: Mssql }
    return mod.default ?? mod
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', 'the SQL Server sink needs the `mssql` package: npm install mssql', { cause: error })
  }
}

async function rollbackQuietly(tx: Transaction): Promise<void> {
  try {
    await tx.rollback()
  } catch {
    // The server already rolled it back (lost connection, deadlock victim); nothing is left to undo.
  }
}

/** SQL Server error numbers carried by an mssql error (and the errors that preceded it). */
function errorNumbers(error: unknown): number[] {
  const out: number[] = []
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 4) return
    const o = e as { number?: unknown; info?: { number?: unknown }; originalError?: unknown; precedingErrors?: unknown[]; errors?: unknown[] }
    if (typeof o.number === 'number') out.push(o.number)
    if (typeof o.info?.number === 'number') out.push(o.info.number)
    visit(o.originalError, depth + 1)
    for (const p of o.precedingErrors ?? []) visit(p, depth + 1)
    if (Array.isArray(o.errors)) for (const p of o.errors) visit(p, depth + 1)
  }
  visit(error, 0)
  return out
}

function errorCodes(error: unknown): string[] {
  const out: string[] = []
  let e: unknown = error
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') out.push(code)
    e = (e as { originalError?: unknown }).originalError
  }
  return out
}

function isTransient(error: unknown): boolean {
  if (error instanceof HydratorError || error instanceof CommitUnknownError) return false
  const numbers = errorNumbers(error)
  if (numbers.some((n) => TRANSIENT_NUMBERS.has(n))) return true
  if (numbers.length > 0) return false
  return errorCodes(error).some((c) => TRANSIENT_CODES.has(c))
}

function retryReasonOf(error: unknown): string {
  const n = errorNumbers(error).find((x) => TRANSIENT_NUMBERS.has(x))
  if (n !== undefined) return `SQL Server error ${n}`
  return errorCodes(error).find((c) => TRANSIENT_CODES.has(c)) ?? 'Error'
}

/** The server's message and number, e.g. `Cannot insert the value NULL ... (SQL Server error 515)`. */
function describe(error: unknown): string {
  const n = errorNumbers(error)[0]
  return n === undefined ? errorMessage(error) : `${errorMessage(error)} (SQL Server error ${n})`
}

/** `[dbo].[users] rejected the row (SQL Server error 515): Cannot insert the value NULL ...`. */
function rejectionMessage(error: unknown, target: string): string {
  const n = errorNumbers(error)[0]
  return `${target} rejected the row (${n === undefined ? 'client' : `SQL Server error ${n}`}): ${errorMessage(error)}`
}

/** Errors that stop the run: the table or a column is gone, the login may not write, a bad statement. */
function asHydratorError(error: unknown, target: string): HydratorError | undefined {
  if (error instanceof HydratorError) return error
  const numbers = errorNumbers(error)
  const make = (code: ErrorCode, message: string) => new HydratorError(code, `${message}: ${describe(error)}`, { cause: error })
  if (numbers.includes(208)) return make('ERR_TARGET_NOT_FOUND', `table ${target} was not found`)
  if (numbers.includes(207)) return make('ERR_TARGET_SCHEMA', `a mapped column is missing from ${target}`)
  if (numbers.some((n) => AUTH_NUMBERS.has(n)) || errorCodes(error).includes('ELOGIN')) return make('ERR_AUTH', `the login may not write ${target}`)
  if (numbers.some((n) => STATEMENT_NUMBERS.has(n))) return make('ERR_INTERNAL', `SQL Server rejected a statement the sink built for ${target}`)
  return undefined
}
