// Types shared by the parts of the TDS test server.

/** The SQL Server types the test server stores, reads as parameters and returns in results. */
export type TypeName =
  | 'bit'
  | 'tinyint'
  | 'smallint'
  | 'int'
  | 'bigint'
  | 'decimal'
  | 'numeric'
  | 'float'
  | 'real'
  | 'char'
  | 'varchar'
  | 'nchar'
  | 'nvarchar'
  | 'date'
  | 'datetime'
  | 'datetime2'
  | 'datetimeoffset'
  | 'uniqueidentifier'
  | 'varbinary'

export interface SqlType {
  readonly name: TypeName
  /** Characters (or bytes for varbinary/varchar); -1 for `max`. */
  readonly length?: number
  readonly precision?: number
  readonly scale?: number
}

/**
 * A value at run time: integers, floats and bits as numbers/booleans, decimals as exact decimal
 * strings, strings as strings, date/time types as Date (a UTC instant), varbinary as Buffer.
 */
export type Value = null | number | string | boolean | Date | Buffer

/** A server error with SQL Server's own number and message. */
export class SqlError extends Error {
  constructor(
    readonly number: number,
    message: string,
    readonly severity = 16,
    readonly state = 1,
  ) {
    super(message)
    this.name = 'SqlError'
  }
}

/** T-SQL spelling of a type: `nvarchar(max)`, `decimal(10,2)`, `int`. */
export function typeToString(t: SqlType): string {
  switch (t.name) {
    case 'char':
    case 'varchar':
    case 'nchar':
    case 'nvarchar':
    case 'varbinary':
      return `${t.name}(${t.length === -1 ? 'max' : (t.length ?? 1)})`
    case 'decimal':
    case 'numeric':
      return `${t.name}(${t.precision ?? 18},${t.scale ?? 0})`
    case 'datetime2':
    case 'datetimeoffset':
      return `${t.name}(${t.scale ?? 7})`
    default:
      return t.name
  }
}
