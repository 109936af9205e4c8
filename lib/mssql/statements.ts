import { HydratorError } from '../errors.js'
import type { RowWrite } from '../mapping.js'
import { splitQualifiedName } from '../util/sql-names.js'
import type { ParamType } from './encode.js'

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

/** The columns of `@schema`.`@table`, with their types, in table order. */
export const METADATA_SQL =
  'SELECT [COLUMN_NAME], [DATA_TYPE], [CHARACTER_MAXIMUM_LENGTH], [IS_NULLABLE] FROM INFORMATION_SCHEMA.COLUMNS ' +
  'WHERE [TABLE_SCHEMA] = @schema AND [TABLE_NAME] = @table ORDER BY [ORDINAL_POSITION];'

/** The tables and views of `@schema`, for suggestions when a table is not found. */
export const TABLES_SQL = 'SELECT [TABLE_NAME] FROM INFORMATION_SCHEMA.TABLES WHERE [TABLE_SCHEMA] = @schema;'

/** One typed parameter of a statement, `@p0`. */
export interface Param {
  readonly name: string
  readonly type: ParamType
  readonly value: unknown
}

/** A statement and its parameters, built without a connection. */
export interface Statement {
  readonly sql: string
  readonly params: readonly Param[]
}

/** What the statements for one table and mapping are built from. */
export interface StatementShape {
  /** The target, quoted: `[dbo].[users]`. */
  readonly target: string
  readonly columnNames: readonly string[]
  readonly keyColumns: readonly string[]
  readonly versionColumn: string | undefined
  /** The parameter type and value for a value bound for a column (the column types are known once the sink opened). */
  readonly encode: (column: string, value: unknown) => { type: ParamType; value: unknown }
}

/** The statements a batch is written with: MERGE (upsert), DELETE, INSERT (append). */
export interface SqlStatements {
  readonly merge: (rows: readonly RowWrite[]) => Statement
  readonly delete: (rows: readonly RowWrite[]) => Statement
  readonly insert: (rows: readonly RowWrite[]) => Statement
  /**
   * Dry runs: reads the stored rows of the given keys (distinct), returning for each row found the
   * ordinal of its key (`row`) and its version (`v`); with `full`, every mapped column too (`m0`, ...).
   */
  readonly planRead: (rows: readonly RowWrite[], full: boolean) => Statement
  /** The columns a delete binds per row: the key, and the version column when there is one. */
  readonly deleteColumns: readonly string[]
}

/**
 * Builds the sink's statements for a table and mapping. Every value is a typed parameter, never
 * text in the statement; each statement's rows carry their ordinal, so that the OUTPUT tells which
 * rows were applied.
 */
export function sqlStatements({ target, columnNames, keyColumns, versionColumn, encode }: StatementShape): SqlStatements {
  const valueColumns = columnNames.filter((c) => !keyColumns.includes(c))

  /** The VALUES rows of a statement: `(0, @p0, @p1), (1, @p2, @p3)` and their parameters. */
  const valuesList = (rows: readonly RowWrite[], cols: readonly string[], ordinal: boolean): { text: string; params: Param[] } => {
    const params: Param[] = []
    const tuples = rows.map((w, r) => {
      const slots = cols.map((c) => {
        const { type, value } = encode(c, w.row[c])
        const p: Param = { name: `p${params.length}`, type, value }
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

  // Keys are matched by SQL Server, as the MERGE matches them (the column's collation decides), and
  // each row found comes back with the ordinal of its key.
  const planRead = (rows: readonly RowWrite[], full: boolean): Statement => {
    const { text, params } = valuesList(rows, keyColumns, true)
    const version = versionColumn === undefined ? '' : `, t.${q(versionColumn)} AS [v]`
    const columns = full ? columnNames.map((c, i) => `, t.${q(c)} AS [m${i}]`).join('') : ''
    return {
      sql: `SELECT s.${q(ORDINAL)} AS [row]${version}${columns} FROM (VALUES ${text}) AS s (${sourceColumns(keyColumns)}) INNER JOIN ${target} AS t ON ${on};`,
      params,
    }
  }

  return { merge: mergeStatement, delete: deleteStatement, insert: insertStatement, planRead, deleteColumns }
}

/**
 * Splits items into the rows of one statement each: at most {@link MAX_STATEMENT_PARAMETERS}
 * parameters (`perRow` per item) and at most 1,000 rows.
 */
export function chunked<T>(items: readonly T[], perRow: number): T[][] {
  const size = Math.max(1, Math.min(MAX_VALUES_ROWS, Math.floor(MAX_STATEMENT_PARAMETERS / perRow)))
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
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
