import type { ISqlType, ISqlTypeFactory } from 'mssql'

/** The `mssql` module, loaded when the sink opens. */
export type Mssql = typeof import('mssql')
/** The type a parameter is sent as. */
export type ParamType = ISqlType | ISqlTypeFactory

/** A column of the target table, as INFORMATION_SCHEMA.COLUMNS describes it. */
export interface TargetColumn {
  readonly name: string
  /** Lowercase: `int`, `nvarchar`, `decimal`, ... */
  readonly dataType: string
}

/** The SQL Server types a version column may have: they compare as numbers. */
export const NUMERIC_TYPES: ReadonlySet<string> = new Set(['tinyint', 'smallint', 'int', 'bigint', 'decimal', 'numeric', 'float', 'real', 'money', 'smallmoney'])
const INT_RANGES: Record<string, [number, number]> = {
  tinyint: [0, 255],
  smallint: [-32768, 32767],
  int: [-2147483648, 2147483647],
  bigint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
}
const ANSI_STRING_TYPES = new Set(['char', 'varchar', 'text'])
const EXACT_TYPES = new Set(['decimal', 'numeric', 'money', 'smallmoney'])

/**
 * The parameter type for a value bound for a column: the column's own type where the value fits it
 * (so the server compares without converting the column, and index seeks stay possible), strings
 * for string columns whatever the value, and nvarchar(max) (objects and arrays as JSON) where the
 * server has to convert; what it cannot convert it rejects with its own message.
 */
export function encodeValue(sql: Mssql, column: TargetColumn, value: unknown): { type: ParamType; value: unknown } {
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
