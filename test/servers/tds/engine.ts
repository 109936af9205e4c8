// The in-memory database behind the TDS test server: a catalog of tables, SQL Server's implicit
// conversions and their errors, three-valued logic under a case-insensitive collation, and the
// statements of the subset in sql.ts (SELECT, INSERT ... VALUES, MERGE ... USING (VALUES ...),
// DELETE with a VALUES join, CREATE/DROP/TRUNCATE TABLE, SET, EXEC sp_rename; the catalog views
// INFORMATION_SCHEMA.TABLES, COLUMNS, TABLE_CONSTRAINTS, KEY_COLUMN_USAGE, CHECK_CONSTRAINTS and
// sys.tables, sys.schemas, sys.identity_columns, sys.indexes). Every change is logged so a
// failed statement leaves nothing and a rolled-back transaction leaves nothing.

import {
  parse,
  type ColumnDef,
  type Expr,
  type FromSource,
  type MergeClause,
  type ObjectName,
  type OutputItem,
  type Statement,
  type ValuesSource,
} from './sql.js'
import { SqlError, type SqlType, type TypeName, type Value } from './types.js'
import type { ResultColumn } from './wire.js'

/** Several errors raised by one statement (SQL Server reports each invalid column on its own). */
export class SqlErrors extends Error {
  constructor(readonly errors: readonly SqlError[]) {
    super(errors.map((e) => e.message).join(' '))
  }
}

export interface Column {
  readonly name: string
  readonly type: SqlType
  readonly nullable: boolean
  readonly identity: boolean
  readonly default?: Expr
  /** The default as written (INFORMATION_SCHEMA.COLUMNS.COLUMN_DEFAULT shows it in parentheses). */
  readonly defaultText?: string
  readonly seed?: number
  readonly increment?: number
  /** As given with COLLATE, for the catalog (comparisons stay case-insensitive, the server's default). */
  readonly collation?: string
}

interface KeyConstraint {
  /** Renamed by sp_rename. */
  name: string
  readonly kind: 'primaryKey' | 'unique'
  readonly columns: readonly number[]
  readonly index: Map<string, Row>
}

interface CheckConstraint {
  name: string
  readonly expr: Expr
  /** As written, in parentheses: INFORMATION_SCHEMA.CHECK_CONSTRAINTS.CHECK_CLAUSE. */
  readonly text?: string
  readonly column?: string
}

export interface Row {
  values: Value[]
}

export class Table {
  readonly rows = new Set<Row>()
  identityNext = 1
  constructor(
    readonly schema: string,
    /** Renamed by sp_rename. */
    public name: string,
    readonly columns: readonly Column[],
    readonly keys: readonly KeyConstraint[],
    readonly checks: readonly CheckConstraint[],
  ) {}

  columnIndex(name: string): number {
    const lower = name.toLowerCase()
    return this.columns.findIndex((c) => c.name.toLowerCase() === lower)
  }
}

type Undo =
  | { readonly kind: 'insert' | 'delete'; readonly table: Table; readonly row: Row }
  | { readonly kind: 'update'; readonly table: Table; readonly row: Row; readonly old: Value[] }
  | { readonly kind: 'create' | 'drop'; readonly table: Table; readonly catalog: Map<string, Table> }
  | { readonly kind: 'rename'; readonly revert: () => void }

export interface Transaction {
  readonly descriptor: Buffer
  readonly log: Undo[]
}

/** What a connection carries between requests. */
export interface Session {
  transaction: Transaction | null
  xactAbort: boolean
  readonly options: Map<string, string>
}

export interface TypedValue {
  readonly v: Value
  readonly t: SqlType | null
}

export interface StatementResult {
  readonly columns?: readonly ResultColumn[]
  readonly rows?: readonly Value[][]
  /** Rows affected or returned, for DONE's count; undefined for statements without one. */
  readonly rowCount?: number
  readonly curCmd: number
}

const CUR_CMD = { select: 0xc1, insert: 0xc3, delete: 0xc4, update: 0xc5, merge: 0x117, create: 0xc6, drop: 0xbf, set: 0, execute: 0xe0 } as const

// ---------------------------------------------------------------------------------------------
// Types, precedence, conversions

const PRECEDENCE: Record<TypeName, number> = {
  datetimeoffset: 30,
  datetime2: 29,
  datetime: 28,
  date: 26,
  float: 24,
  real: 23,
  decimal: 22,
  numeric: 22,
  bigint: 20,
  int: 19,
  smallint: 18,
  tinyint: 17,
  bit: 16,
  uniqueidentifier: 12,
  nvarchar: 11,
  nchar: 10,
  varchar: 9,
  char: 8,
  varbinary: 7,
}

const INT_RANGE: Partial<Record<TypeName, [bigint, bigint]>> = {
  tinyint: [0n, 255n],
  smallint: [-32768n, 32767n],
  int: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
}

const isInt = (t: TypeName) => t === 'tinyint' || t === 'smallint' || t === 'int' || t === 'bigint'
const isDecimal = (t: TypeName) => t === 'decimal' || t === 'numeric'
const isFloat = (t: TypeName) => t === 'float' || t === 'real'
const isChar = (t: TypeName) => t === 'char' || t === 'varchar' || t === 'nchar' || t === 'nvarchar'
const isDate = (t: TypeName) => t === 'date' || t === 'datetime' || t === 'datetime2' || t === 'datetimeoffset'

function inferType(v: Value): SqlType {
  if (typeof v === 'number') return Number.isInteger(v) ? { name: 'int' } : { name: 'float' }
  if (typeof v === 'boolean') return { name: 'bit' }
  if (v instanceof Date) return { name: 'datetime2', scale: 7 }
  if (Buffer.isBuffer(v)) return { name: 'varbinary', length: -1 }
  return { name: 'nvarchar', length: -1 }
}

function higher(a: SqlType | null, b: SqlType | null): SqlType | null {
  if (!a) return b
  if (!b) return a
  if (PRECEDENCE[a.name] !== PRECEDENCE[b.name]) return PRECEDENCE[a.name] > PRECEDENCE[b.name] ? a : b
  if (isChar(a.name) || a.name === 'varbinary') {
    const la = a.length === -1 ? Infinity : (a.length ?? 1)
    const lb = b.length === -1 ? Infinity : (b.length ?? 1)
    return la >= lb ? a : b
  }
  if (isDecimal(a.name)) {
    const scale = Math.max(a.scale ?? 0, b.scale ?? 0)
    const whole = Math.max((a.precision ?? 18) - (a.scale ?? 0), (b.precision ?? 18) - (b.scale ?? 0))
    return { name: a.name, precision: Math.min(38, whole + scale), scale }
  }
  return a
}

export interface AssignTarget {
  readonly database: string
  readonly table: Table
  readonly column: Column
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:\d{2})?$/i
const GUID_RE = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i

function parseDate(text: string, target: SqlType): Date | undefined {
  const s = text.trim()
  let m = DATE_RE.exec(s)
  if (!m && /^\d{8}$/.test(s)) m = DATE_RE.exec(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6)}`)
  if (!m) return undefined
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m
  if (target.name === 'datetime' && ((zone && zone.toUpperCase() !== 'Z') || frac.length > 3)) return undefined
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(Number(h), Number(mi), Number(sec), Math.round(Number(`0.${frac || '0'}`) * 1000))
  let ms = date.getTime()
  // Strings convert through datetimeoffset: only datetimeoffset keeps the zone; datetime2, date and
  // datetime keep the local time and drop the offset.
  if (target.name === 'datetimeoffset' && zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000
  }
  return roundDate(new Date(ms), target)
}

function roundDate(d: Date, target: SqlType): Date {
  let ms = d.getTime()
  if (target.name === 'date') ms = Math.floor(ms / 86_400_000) * 86_400_000
  else if (target.name !== 'datetime') {
    const scale = target.scale ?? 7
    if (scale < 3) {
      const unit = 10 ** (3 - scale)
      ms = Math.round(ms / unit) * unit
    }
  }
  return new Date(ms)
}

function numberToDecimalText(n: number): string {
  if (Number.isInteger(n)) return BigInt(n).toString()
  const s = String(n)
  if (!/e/i.test(s)) return s
  return n.toFixed(20).replace(/0+$/, '')
}

function normalizeDecimal(text: string, precision: number, scale: number, fromName: string): string | 'overflow' {
  const m = /^\s*([+-])?(\d*)(?:\.(\d*))?\s*$/.exec(text)
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new SqlError(8114, `Error converting data type ${fromName} to numeric.`)
  let whole = (m[2] ?? '').replace(/^0+/, '')
  let frac = m[3] ?? ''
  let n = BigInt((whole || '0') + frac.slice(0, scale).padEnd(scale, '0'))
  if (frac.length > scale && Number(frac[scale]) >= 5) n += 1n
  const digits = n.toString().padStart(scale + 1, '0')
  whole = scale > 0 ? digits.slice(0, -scale) : digits
  frac = scale > 0 ? digits.slice(-scale) : ''
  if (whole.replace(/^0+/, '').length > precision - scale) return 'overflow'
  const sign = m[1] === '-' && n !== 0n ? '-' : ''
  return sign + whole + (scale > 0 ? `.${frac}` : '')
}

function article(name: string): string {
  return /^[aeiou]/.test(name) ? 'an' : 'a'
}

/** SQL Server's implicit conversion of a value to `target`, with its errors. */
export function convert(tv: TypedValue, target: SqlType, assign?: AssignTarget): Value {
  const { v } = tv
  if (v === null) return null
  const from = tv.t ?? inferType(v)
  const fromName = from.name
  const tn = target.name
  if (isInt(tn)) {
    let n: bigint
    if (typeof v === 'boolean') n = v ? 1n : 0n
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new SqlError(8115, `Arithmetic overflow error converting expression to data type ${tn}.`)
      n = BigInt(Math.trunc(v))
    } else if (typeof v === 'string' && isDecimal(fromName)) n = BigInt(v.split('.')[0]!.replace(/^([+-]?)$/, '$10'))
    else if (typeof v === 'string') {
      const s = v.trim()
      if (!/^[+-]?\d+$/.test(s)) throw new SqlError(245, `Conversion failed when converting the ${fromName} value '${v}' to data type ${tn}.`)
      n = BigInt(s)
      const [lo, hi] = INT_RANGE[tn]!
      if (n < lo || n > hi) throw new SqlError(248, `The conversion of the ${fromName} value '${v}' overflowed ${article(tn)} ${tn} column. Use a larger integer column.`)
      return Number(n)
    } else throw new SqlError(206, `Operand type clash: ${fromName} is incompatible with ${tn}`)
    const [lo, hi] = INT_RANGE[tn]!
    if (n < lo || n > hi) throw new SqlError(8115, `Arithmetic overflow error converting expression to data type ${tn}.`)
    return Number(n)
  }
  if (tn === 'bit') {
    if (typeof v === 'boolean') return v
    if (typeof v === 'number') return v !== 0
    if (typeof v === 'string') {
      const s = v.trim().toLowerCase()
      if (s === 'true') return true
      if (s === 'false') return false
      if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(s)) return Number(s) !== 0
      throw new SqlError(245, `Conversion failed when converting the ${fromName} value '${v}' to data type bit.`)
    }
    throw new SqlError(206, `Operand type clash: ${fromName} is incompatible with bit`)
  }
  if (isDecimal(tn)) {
    let text: string
    if (typeof v === 'boolean') text = v ? '1' : '0'
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new SqlError(8115, `Arithmetic overflow error converting ${fromName} to data type numeric.`)
      text = numberToDecimalText(v)
    } else if (typeof v === 'string') text = v
    else throw new SqlError(206, `Operand type clash: ${fromName} is incompatible with ${tn}`)
    const out = normalizeDecimal(text, target.precision ?? 18, target.scale ?? 0, fromName)
    if (out === 'overflow') throw new SqlError(8115, `Arithmetic overflow error converting ${fromName} to data type numeric.`)
    return out
  }
  if (isFloat(tn)) {
    let n: number
    if (typeof v === 'boolean') n = v ? 1 : 0
    else if (typeof v === 'number') n = v
    else if (typeof v === 'string') {
      const s = v.trim()
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new SqlError(8114, `Error converting data type ${fromName} to float.`)
      n = Number(s)
    } else throw new SqlError(206, `Operand type clash: ${fromName} is incompatible with ${tn}`)
    return tn === 'real' ? Math.fround(n) : n
  }
  if (isChar(tn)) {
    let s: string
    if (typeof v === 'string') s = v
    else if (typeof v === 'number') s = String(v)
    else if (typeof v === 'boolean') s = v ? '1' : '0'
    else if (v instanceof Date) s = v.toISOString().replace('T', ' ').replace('Z', '')
    else throw new SqlError(257, `Implicit conversion from data type ${fromName} to ${tn} is not allowed. Use the CONVERT function to run this query.`)
    if (tn === 'char' || tn === 'varchar') s = s.replace(/[^\u0000-\u00ff]/g, '?')
    const length = target.length ?? 1
    if (assign && length !== -1) {
      if (s.length > length) {
        if (/^ *$/.test(s.slice(length))) s = s.slice(0, length)
        else {
          const t = assign.table
          throw new SqlError(
            2628,
            `String or binary data would be truncated in table '${assign.database}.${t.schema}.${t.name}', column '${assign.column.name}'. Truncated value: '${s.slice(0, length)}'.`,
          )
        }
      }
      if (tn === 'char' || tn === 'nchar') s = s.padEnd(length, ' ')
    }
    return s
  }
  if (tn === 'uniqueidentifier') {
    if (typeof v !== 'string') throw new SqlError(206, `Operand type clash: ${fromName} is incompatible with uniqueidentifier`)
    const m = GUID_RE.exec(v.trim())
    if (!m) throw new SqlError(8169, 'Conversion failed when converting from a character string to uniqueidentifier.')
    return m[1]!.toUpperCase()
  }
  if (isDate(tn)) {
    if (v instanceof Date) return roundDate(v, target)
    if (typeof v === 'string') {
      const d = parseDate(v, target)
      if (!d) throw new SqlError(241, 'Conversion failed when converting date and/or time from character string.')
      return d
    }
    throw new SqlError(206, `Operand type clash: ${fromName} is incompatible with ${tn}`)
  }
  // varbinary
  if (!Buffer.isBuffer(v)) {
    throw new SqlError(257, `Implicit conversion from data type ${fromName} to varbinary is not allowed. Use the CONVERT function to run this query.`)
  }
  const length = target.length ?? 1
  if (assign && length !== -1 && v.length > length) {
    const t = assign.table
    throw new SqlError(2628, `String or binary data would be truncated in table '${assign.database}.${t.schema}.${t.name}', column '${assign.column.name}'. Truncated value: ''.`)
  }
  return v
}

/** A string compared as SQL_Latin1_General_CP1_CI_AS does: case-insensitive, trailing spaces ignored. */
function collate(s: string): string {
  return s.replace(/ +$/, '').toLowerCase()
}

/** Three-valued comparison: a number (<0, 0, >0), or null when either side is NULL. */
export function compare(a: TypedValue, b: TypedValue): number | null {
  if (a.v === null || b.v === null) return null
  const t = higher(a.t ?? inferType(a.v), b.t ?? inferType(b.v))!
  const x = convert(a, t)
  const y = convert(b, t)
  return compareConverted(x, y, t)
}

function compareConverted(x: Value, y: Value, t: SqlType): number {
  if (isInt(t.name) || isFloat(t.name)) return (x as number) - (y as number)
  if (isDecimal(t.name)) {
    const s = Math.max(decimals(x as string), decimals(y as string))
    const d = scaled(x as string, s) - scaled(y as string, s)
    return d < 0n ? -1 : d > 0n ? 1 : 0
  }
  if (t.name === 'bit') return Number(x) - Number(y)
  if (isDate(t.name)) return (x as Date).getTime() - (y as Date).getTime()
  if (t.name === 'varbinary') return Buffer.compare(x as Buffer, y as Buffer)
  const cx = collate(String(x))
  const cy = collate(String(y))
  return cx < cy ? -1 : cx > cy ? 1 : 0
}

function decimals(s: string): number {
  const i = s.indexOf('.')
  return i === -1 ? 0 : s.length - i - 1
}

function scaled(s: string, scale: number): bigint {
  const neg = s.startsWith('-')
  const [w, f = ''] = s.replace(/^[+-]/, '').split('.')
  const n = BigInt((w || '0') + f.padEnd(scale, '0'))
  return neg ? -n : n
}

/** The key of a row in a unique index, as the collation sees it. */
function keyOf(values: readonly Value[], columns: readonly number[], types: readonly Column[]): string {
  return JSON.stringify(
    columns.map((i) => {
      const v = values[i] ?? null
      if (v === null) return null
      if (typeof v === 'string' && isChar(types[i]!.type.name)) return collate(v)
      if (v instanceof Date) return v.getTime()
      if (Buffer.isBuffer(v)) return v.toString('hex')
      return v
    }),
  )
}

function displayValue(v: Value): string {
  if (v === null) return '<NULL>'
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '')
  if (Buffer.isBuffer(v)) return `0x${v.toString('hex').toUpperCase()}`
  if (typeof v === 'boolean') return v ? '1' : '0'
  return String(v)
}

// ---------------------------------------------------------------------------------------------
// Scopes: which row sources an expression can see

interface Relation {
  /** The name an expression uses for it: an alias, `inserted`, `deleted`, or the table name. */
  readonly name: string
  readonly columns: readonly { readonly name: string; readonly type: SqlType }[]
}

interface Env {
  readonly relations: readonly Relation[]
  /** Relations searched for an unqualified column name. */
  readonly unqualified: readonly string[]
  readonly params: ReadonlyMap<string, TypedValue>
  /** What a column reference means where columns are not allowed (INSERT ... VALUES). */
  readonly columnsAllowed?: boolean
  /** Message for a reference to a relation that exists but may not be used here (MERGE's NOT MATCHED). */
  readonly forbidden?: ReadonlyMap<string, SqlError>
  readonly action?: boolean
}

interface RowContext {
  readonly values: ReadonlyMap<string, Value[] | null>
  readonly action?: string
}

function findRelation(env: Env, name: string): Relation | undefined {
  const lower = name.toLowerCase()
  return env.relations.find((r) => r.name.toLowerCase() === lower)
}

function columnIndexIn(r: Relation, name: string): number {
  const lower = name.toLowerCase()
  return r.columns.findIndex((c) => c.name.toLowerCase() === lower)
}

/** Checks names before anything runs, collecting SQL Server's errors (207, 209, 4104, 137). */
function bind(expr: Expr, env: Env, errors: SqlError[]): void {
  switch (expr.kind) {
    case 'literal':
      return
    case 'param':
      if (!env.params.has(expr.name.toLowerCase())) errors.push(new SqlError(137, `Must declare the scalar variable "@${expr.name}".`))
      return
    case 'action':
      if (!env.action) errors.push(new SqlError(207, "Invalid column name '$action'."))
      return
    case 'column': {
      if (env.columnsAllowed === false) {
        errors.push(
          new SqlError(
            128,
            `The name "${expr.name}" is not permitted in this context. Valid expressions are constants, constant expressions, and (in some contexts) variables. Column names are not permitted.`,
          ),
        )
        return
      }
      if (expr.qualifier !== undefined) {
        const forbidden = env.forbidden?.get(expr.qualifier.toLowerCase())
        if (forbidden) {
          errors.push(forbidden)
          return
        }
        const r = findRelation(env, expr.qualifier)
        if (!r) errors.push(new SqlError(4104, `The multi-part identifier "${expr.qualifier}.${expr.name}" could not be bound.`))
        else if (columnIndexIn(r, expr.name) === -1) errors.push(new SqlError(207, `Invalid column name '${expr.name}'.`))
        return
      }
      const hits = env.unqualified.map((n) => findRelation(env, n)!).filter((r) => r && columnIndexIn(r, expr.name) !== -1)
      if (hits.length === 0) errors.push(new SqlError(207, `Invalid column name '${expr.name}'.`))
      else if (hits.length > 1) errors.push(new SqlError(209, `Ambiguous column name '${expr.name}'.`))
      return
    }
    case 'compare':
    case 'arith':
    case 'and':
    case 'or':
      bind(expr.left, env, errors)
      bind(expr.right, env, errors)
      return
    case 'not':
    case 'isnull':
    case 'neg':
      bind(expr.expr, env, errors)
      return
    case 'in':
      bind(expr.expr, env, errors)
      expr.list.forEach((e) => bind(e, env, errors))
      return
    case 'call':
      expr.args.forEach((e) => bind(e, env, errors))
      return
  }
}

function resolveColumn(expr: Extract<Expr, { kind: 'column' }>, env: Env): { relation: Relation; index: number } {
  const relation = expr.qualifier !== undefined
    ? findRelation(env, expr.qualifier)!
    : env.unqualified.map((n) => findRelation(env, n)!).find((r) => columnIndexIn(r, expr.name) !== -1)!
  return { relation, index: columnIndexIn(relation, expr.name) }
}

/** The type an expression has before any row is seen (for COLMETADATA and VALUES columns). */
function staticType(expr: Expr, env: Env): SqlType | null {
  switch (expr.kind) {
    case 'literal':
      return expr.type
    case 'param':
      return env.params.get(expr.name.toLowerCase())?.t ?? null
    case 'action':
      return { name: 'nvarchar', length: 10 }
    case 'column': {
      const { relation, index } = resolveColumn(expr, env)
      return relation.columns[index]!.type
    }
    case 'arith':
      return higher(staticType(expr.left, env), staticType(expr.right, env))
    case 'neg':
      return staticType(expr.expr, env)
    case 'call':
      switch (expr.name) {
        case 'LEN':
        case 'ISJSON':
          return { name: 'int' }
        case 'DB_NAME':
        case 'SCHEMA_NAME':
          return { name: 'nvarchar', length: 128 }
        case 'ISNULL':
          return staticType(expr.args[0]!, env) ?? staticType(expr.args[1]!, env)
        case 'COALESCE':
          return expr.args.map((a) => staticType(a, env)).reduce(higher, null)
        default:
          return staticType(expr.args[0]!, env)
      }
    default:
      return { name: 'bit' }
  }
}

const PREDICATES = new Set(['compare', 'and', 'or', 'not', 'isnull', 'in'])

// ---------------------------------------------------------------------------------------------
// The database

export interface DatabaseOptions {
  /** The database name in messages and INFORMATION_SCHEMA. @default 'hydrator' */
  readonly name?: string
}

export class Database {
  readonly name: string
  readonly tables = new Map<string, Table>()
  #constraintSeq = 0x3a2b1c0d

  constructor(options: DatabaseOptions = {}) {
    this.name = options.name ?? 'hydrator'
  }

  /** Rows of a table as plain objects (for tests), in insertion order. */
  rows(name: string): Record<string, Value>[] {
    const table = this.#lookup({ parts: name.split('.') })
    if (!table) throw new Error(`no table ${name}`)
    return [...table.rows].map((r) => Object.fromEntries(table.columns.map((c, i) => [c.name, r.values[i] ?? null])))
  }

  #lookup(name: ObjectName): Table | undefined {
    const parts = name.parts
    let schema = 'dbo'
    let table: string
    if (parts.length === 1) table = parts[0]!
    else if (parts.length === 2) [schema, table] = parts as [string, string]
    else if (parts.length === 3) {
      if (parts[0]!.toLowerCase() !== this.name.toLowerCase()) return undefined
      schema = parts[1]!
      table = parts[2]!
    } else return undefined
    return this.tables.get(`${schema.toLowerCase()}.${table.toLowerCase()}`)
  }

  #table(name: ObjectName): Table {
    const t = this.#lookup(name)
    if (!t) throw new SqlError(208, `Invalid object name '${name.parts.join('.')}'.`)
    return t
  }

  /**
   * Runs a batch of T-SQL in a session with typed parameters. Statements run one by one; an error
   * undoes the failing statement and ends the batch, keeping what earlier statements did.
   */
  execute(
    sql: string,
    params: ReadonlyMap<string, TypedValue>,
    session: Session,
  ): { results: StatementResult[]; error?: SqlErrors; rolledBack?: boolean } {
    const results: StatementResult[] = []
    let statements: Statement[]
    try {
      statements = parse(sql)
    } catch (error) {
      return { results, error: asErrors(error) }
    }
    for (const statement of statements) {
      const autocommit = session.transaction === null
      const log: Undo[] = autocommit ? [] : session.transaction!.log
      const mark = log.length
      try {
        results.push(this.#run(statement, params, session, log))
      } catch (error) {
        undo(log, mark)
        const errors = asErrors(error)
        if (session.xactAbort && session.transaction) {
          // XACT_ABORT ON: any error rolls back the whole transaction.
          undo(session.transaction.log, 0)
          session.transaction = null
          return { results, error: errors, rolledBack: true }
        }
        return { results, error: errors }
      }
    }
    return { results }
  }

  /** Undoes everything a transaction did. */
  rollback(transaction: Transaction): void {
    undo(transaction.log, 0)
  }

  #run(s: Statement, params: ReadonlyMap<string, TypedValue>, session: Session, log: Undo[]): StatementResult {
    switch (s.kind) {
      case 'set':
        if (s.option === 'xact_abort') session.xactAbort = s.value === 'on'
        session.options.set(s.option, s.value)
        return { curCmd: CUR_CMD.set }
      case 'select':
        return this.#select(s, params)
      case 'insert':
        return this.#insert(s, params, log)
      case 'merge':
        return this.#merge(s, params, log)
      case 'delete':
        return this.#delete(s, params, log)
      case 'createTable':
        return this.#createTable(s, log)
      case 'dropTable': {
        const t = this.#lookup(s.table)
        if (!t) {
          if (s.ifExists) return { curCmd: CUR_CMD.drop }
          throw new SqlError(3701, `Cannot drop the table '${s.table.parts.join('.')}', because it does not exist or you do not have permission.`)
        }
        this.tables.delete(`${t.schema.toLowerCase()}.${t.name.toLowerCase()}`)
        log.push({ kind: 'drop', table: t, catalog: this.tables })
        return { curCmd: CUR_CMD.drop }
      }
      case 'truncate': {
        const t = this.#table(s.table)
        for (const row of [...t.rows]) deleteRow(t, row, log)
        return { curCmd: CUR_CMD.delete }
      }
      case 'rename':
        return this.#rename(s, log)
    }
  }

  /** A stable object_id per table, for the sys views. */
  readonly #objectIds = new WeakMap<Table, number>()
  #objectSeq = 0x1f2e3d4c
  #objectId(t: Table): number {
    let id = this.#objectIds.get(t)
    if (id === undefined) this.#objectIds.set(t, (id = this.#objectSeq++))
    return id
  }

  /** The constraint of this name in a schema (constraint names are unique per schema, as for any object). */
  #constraint(schema: string, name: string): { table: Table; constraint: KeyConstraint | CheckConstraint } | undefined {
    for (const t of this.tables.values()) {
      if (t.schema.toLowerCase() !== schema.toLowerCase()) continue
      const c = [...t.keys, ...t.checks].find((k) => k.name.toLowerCase() === name.toLowerCase())
      if (c) return { table: t, constraint: c }
    }
    return undefined
  }

  /**
   * `sp_rename`: a table, or a key or check constraint (objtype OBJECT, the default). The new name is
   * one part; an object that is not there, or a name in use in the schema, is refused as SQL Server does.
   */
  #rename(s: Extract<Statement, { kind: 'rename' }>, log: Undo[]): StatementResult {
    const objtype = (s.objtype ?? 'OBJECT').toUpperCase()
    if (objtype !== 'OBJECT') throw new SqlError(15248, `Either the parameter @objname is ambiguous or the claimed @objtype (${objtype}) is wrong. (the TDS test server renames objects only)`)
    const parts = s.objname.split('.').map((p) => p.replace(/^\[(.*)\]$/, '$1'))
    const [schema, name] = parts.length === 1 ? ['dbo', parts[0]!] : [parts[parts.length - 2]!, parts[parts.length - 1]!]
    const newName = s.newname.replace(/^\[(.*)\]$/, '$1')
    if (!newName || newName.length > 128) throw new SqlError(15070, `Object '${s.objname}' was not renamed: the new name is not a valid identifier.`)
    const table = this.tables.get(`${schema.toLowerCase()}.${name.toLowerCase()}`)
    const constraint = table ? undefined : this.#constraint(schema, name)
    if (!table && !constraint) throw new SqlError(15248, `Either the parameter @objname is ambiguous or the claimed @objtype (${objtype}) is wrong.`)
    if (this.tables.has(`${schema.toLowerCase()}.${newName.toLowerCase()}`) || this.#constraint(schema, newName)) {
      throw new SqlError(15335, `Error: The new name '${newName}' is already in use as a OBJECT name and would cause a duplicate that is not permitted.`)
    }
    if (table) {
      const old = table.name
      this.tables.delete(`${schema.toLowerCase()}.${old.toLowerCase()}`)
      table.name = newName
      this.tables.set(`${schema.toLowerCase()}.${newName.toLowerCase()}`, table)
      log.push({
        kind: 'rename',
        revert: () => {
          this.tables.delete(`${schema.toLowerCase()}.${newName.toLowerCase()}`)
          table.name = old
          this.tables.set(`${schema.toLowerCase()}.${old.toLowerCase()}`, table)
        },
      })
    } else {
      const c = constraint!.constraint
      const old = c.name
      c.name = newName
      log.push({ kind: 'rename', revert: () => (c.name = old) })
    }
    return { curCmd: CUR_CMD.execute }
  }

  // -- DDL

  #createTable(s: Extract<Statement, { kind: 'createTable' }>, log: Undo[]): StatementResult {
    const parts = s.table.parts
    const name = parts[parts.length - 1]!
    const schema = parts.length >= 2 ? parts[parts.length - 2]! : 'dbo'
    if (name.startsWith('#')) throw new SqlError(102, `Incorrect syntax near '${name}'. (the TDS test server has no temporary tables)`)
    if (this.#lookup(s.table)) throw new SqlError(2714, `There is already an object named '${name}' in the database.`)
    if (schema.toLowerCase() !== 'dbo') {
      throw new SqlError(2760, `The specified schema name "${schema}" either does not exist or you do not have permission to use it.`)
    }
    const seen = new Set<string>()
    for (const c of s.columns) {
      if (seen.has(c.name.toLowerCase())) throw new SqlError(2705, `Column names in each table must be unique. Column name '${c.name}' in table '${name}' is specified more than once.`)
      seen.add(c.name.toLowerCase())
    }
    const columns: Column[] = s.columns.map((c: ColumnDef) => ({
      name: c.name,
      type: c.type,
      nullable: c.nullable,
      identity: c.identity,
      default: c.default,
      ...(c.defaultText !== undefined ? { defaultText: c.defaultText } : {}),
      ...(c.seed !== undefined ? { seed: c.seed, increment: c.increment } : {}),
      ...(c.collation !== undefined ? { collation: c.collation } : {}),
    }))
    const index = (col: string): number => {
      const i = columns.findIndex((c) => c.name.toLowerCase() === col.toLowerCase())
      if (i === -1) throw new SqlError(1911, `Column name '${col}' does not exist in the target table or view.`)
      return i
    }
    const suffix = () => (this.#constraintSeq++).toString(16).toUpperCase()
    const keys: KeyConstraint[] = []
    const checks: CheckConstraint[] = []
    s.columns.forEach((c, i) => {
      if (c.primaryKey) keys.push({ kind: 'primaryKey', name: c.primaryKey.name ?? `PK__${name.slice(0, 8)}__${suffix()}`, columns: [i], index: new Map() })
      if (c.unique) keys.push({ kind: 'unique', name: c.unique.name ?? `UQ__${name.slice(0, 8)}__${suffix()}`, columns: [i], index: new Map() })
      for (const check of c.checks) checks.push({ name: check.name ?? `CK__${name.slice(0, 8)}__${c.name.slice(0, 8)}__${suffix()}`, expr: check.expr, text: check.text, column: c.name })
    })
    for (const k of s.constraints) {
      if (k.kind === 'check') {
        checks.push({ name: k.name ?? `CK__${name.slice(0, 8)}__${suffix()}`, expr: k.expr, text: k.text })
      } else {
        const cols = k.columns.map(index)
        if (k.kind === 'primaryKey') cols.forEach((i) => ((columns[i] as { nullable: boolean }).nullable = false))
        keys.push({ kind: k.kind, name: k.name ?? `${k.kind === 'primaryKey' ? 'PK' : 'UQ'}__${name.slice(0, 8)}__${suffix()}`, columns: cols, index: new Map() })
      }
    }
    if (keys.filter((k) => k.kind === 'primaryKey').length > 1) {
      throw new SqlError(8110, `Cannot add multiple PRIMARY KEY constraints to table '${name}'.`)
    }
    // Constraint names are object names: unique in the schema, as table names are.
    const names = new Set<string>()
    for (const k of [...keys, ...checks]) {
      const lower = k.name.toLowerCase()
      if (names.has(lower) || this.#constraint(schema, k.name) || this.tables.has(`${schema.toLowerCase()}.${lower}`)) {
        throw new SqlErrors([new SqlError(2714, `There is already an object named '${k.name}' in the database.`), new SqlError(1750, 'Could not create constraint or index. See previous errors.')])
      }
      names.add(lower)
    }
    const table = new Table(schema, name, columns, keys, checks)
    // Check constraints may name only the table's own columns.
    const env: Env = { relations: [{ name, columns }], unqualified: [name], params: new Map() }
    const errors: SqlError[] = []
    for (const c of checks) bind(c.expr, env, errors)
    for (const c of columns) if (c.default) bind(c.default, { ...env, columnsAllowed: false }, errors)
    if (errors.length) throw new SqlErrors(errors)
    this.tables.set(`${schema.toLowerCase()}.${name.toLowerCase()}`, table)
    log.push({ kind: 'create', table, catalog: this.tables })
    return { curCmd: CUR_CMD.create }
  }

  // -- SELECT

  #virtual(name: ObjectName): { columns: Column[]; rows: Value[][] } | undefined {
    const parts = name.parts.map((p) => p.toLowerCase())
    const [schema, table] = parts.length === 2 ? parts : parts.length === 3 && parts[0] === this.name.toLowerCase() ? parts.slice(1) : []
    if (schema === 'sys') return this.#sysView(table!)
    if (schema !== 'information_schema') return undefined
    const nv = (length = 128): SqlType => ({ name: 'nvarchar', length })
    const col = (n: string, type: SqlType): Column => ({ name: n, type, nullable: true, identity: false })
    const tables = [...this.tables.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
    if (table === 'tables') {
      return {
        columns: [col('TABLE_CATALOG', nv()), col('TABLE_SCHEMA', nv()), col('TABLE_NAME', nv()), col('TABLE_TYPE', { name: 'varchar', length: 10 })],
        rows: tables.map((t) => [this.name, t.schema, t.name, 'BASE TABLE']),
      }
    }
    if (table === 'columns') {
      const rows: Value[][] = []
      for (const t of tables) {
        t.columns.forEach((c, i) => {
          const ty = c.type
          const charLen = isChar(ty.name) || ty.name === 'varbinary' ? (ty.length ?? 1) : null
          const octets = charLen === null ? null : charLen === -1 ? -1 : ty.name.startsWith('n') ? charLen * 2 : charLen
          const precision = isInt(ty.name)
            ? { tinyint: 3, smallint: 5, int: 10, bigint: 19 }[ty.name as 'int']
            : isDecimal(ty.name)
              ? (ty.precision ?? 18)
              : ty.name === 'float'
                ? 53
                : ty.name === 'real'
                  ? 24
                  : null
          const scale = isInt(ty.name) ? 0 : isDecimal(ty.name) ? (ty.scale ?? 0) : null
          const dtPrecision = isDate(ty.name) ? (ty.name === 'date' ? 0 : ty.name === 'datetime' ? 3 : (ty.scale ?? 7)) : null
          rows.push([
            this.name,
            t.schema,
            t.name,
            c.name,
            i + 1,
            c.defaultText !== undefined ? `(${c.defaultText})` : null,
            c.nullable ? 'YES' : 'NO',
            ty.name,
            charLen,
            octets,
            precision,
            scale,
            dtPrecision,
            isChar(ty.name) ? (c.collation ?? 'SQL_Latin1_General_CP1_CI_AS') : null,
          ])
        })
      }
      return {
        columns: [
          col('TABLE_CATALOG', nv()),
          col('TABLE_SCHEMA', nv()),
          col('TABLE_NAME', nv()),
          col('COLUMN_NAME', nv()),
          col('ORDINAL_POSITION', { name: 'int' }),
          col('COLUMN_DEFAULT', nv(4000)),
          col('IS_NULLABLE', { name: 'varchar', length: 3 }),
          col('DATA_TYPE', nv()),
          col('CHARACTER_MAXIMUM_LENGTH', { name: 'int' }),
          col('CHARACTER_OCTET_LENGTH', { name: 'int' }),
          col('NUMERIC_PRECISION', { name: 'tinyint' }),
          col('NUMERIC_SCALE', { name: 'int' }),
          col('DATETIME_PRECISION', { name: 'smallint' }),
          col('COLLATION_NAME', nv()),
        ],
        rows,
      }
    }
    if (table === 'table_constraints') {
      const rows: Value[][] = []
      for (const t of tables) {
        for (const k of t.keys) rows.push([this.name, t.schema, k.name, this.name, t.schema, t.name, k.kind === 'primaryKey' ? 'PRIMARY KEY' : 'UNIQUE', 'NO', 'NO'])
        for (const k of t.checks) rows.push([this.name, t.schema, k.name, this.name, t.schema, t.name, 'CHECK', 'NO', 'NO'])
      }
      return {
        columns: [
          col('CONSTRAINT_CATALOG', nv()),
          col('CONSTRAINT_SCHEMA', nv()),
          col('CONSTRAINT_NAME', nv()),
          col('TABLE_CATALOG', nv()),
          col('TABLE_SCHEMA', nv()),
          col('TABLE_NAME', nv()),
          col('CONSTRAINT_TYPE', { name: 'varchar', length: 11 }),
          col('IS_DEFERRABLE', { name: 'varchar', length: 2 }),
          col('INITIALLY_DEFERRED', { name: 'varchar', length: 2 }),
        ],
        rows,
      }
    }
    if (table === 'key_column_usage') {
      const rows: Value[][] = []
      for (const t of tables) {
        for (const k of t.keys) k.columns.forEach((c, i) => rows.push([this.name, t.schema, k.name, this.name, t.schema, t.name, t.columns[c]!.name, i + 1]))
      }
      return {
        columns: [
          col('CONSTRAINT_CATALOG', nv()),
          col('CONSTRAINT_SCHEMA', nv()),
          col('CONSTRAINT_NAME', nv()),
          col('TABLE_CATALOG', nv()),
          col('TABLE_SCHEMA', nv()),
          col('TABLE_NAME', nv()),
          col('COLUMN_NAME', nv()),
          col('ORDINAL_POSITION', { name: 'int' }),
        ],
        rows,
      }
    }
    if (table === 'check_constraints') {
      const rows: Value[][] = []
      for (const t of tables) for (const k of t.checks) rows.push([this.name, t.schema, k.name, k.text ?? null])
      return { columns: [col('CONSTRAINT_CATALOG', nv()), col('CONSTRAINT_SCHEMA', nv()), col('CONSTRAINT_NAME', nv()), col('CHECK_CLAUSE', nv(4000))], rows }
    }
    return undefined
  }

  /** sys.tables, sys.schemas, sys.identity_columns and sys.indexes, with the columns the sinks read. */
  #sysView(table: string): { columns: Column[]; rows: Value[][] } | undefined {
    const col = (n: string, type: SqlType): Column => ({ name: n, type, nullable: true, identity: false })
    const nv = (length = 128): SqlType => ({ name: 'nvarchar', length })
    const tables = [...this.tables.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
    const DBO = 1
    switch (table) {
      case 'schemas':
        return { columns: [col('name', nv()), col('schema_id', { name: 'int' })], rows: [['dbo', DBO]] }
      case 'tables':
        return { columns: [col('object_id', { name: 'int' }), col('name', nv()), col('schema_id', { name: 'int' })], rows: tables.map((t) => [this.#objectId(t), t.name, DBO]) }
      case 'identity_columns': {
        const rows: Value[][] = []
        for (const t of tables) for (const c of t.columns) if (c.identity) rows.push([this.#objectId(t), c.name, c.seed ?? 1, c.increment ?? 1])
        return { columns: [col('object_id', { name: 'int' }), col('name', nv()), col('seed_value', { name: 'bigint' }), col('increment_value', { name: 'bigint' })], rows }
      }
      case 'indexes': {
        // The test server's only indexes are those of its key constraints (and each table's heap or clustered index).
        const rows: Value[][] = []
        for (const t of tables) {
          const primary = t.keys.find((k) => k.kind === 'primaryKey')
          if (!primary) rows.push([this.#objectId(t), null, 0, 0, 0, 0, 0])
          t.keys.forEach((k, i) => rows.push([this.#objectId(t), k.name, i + 1, k === primary ? 1 : 2, 1, k.kind === 'primaryKey' ? 1 : 0, k.kind === 'unique' ? 1 : 0]))
        }
        return {
          columns: [
            col('object_id', { name: 'int' }),
            col('name', nv()),
            col('index_id', { name: 'int' }),
            col('type', { name: 'tinyint' }),
            col('is_unique', { name: 'bit' }),
            col('is_primary_key', { name: 'bit' }),
            col('is_unique_constraint', { name: 'bit' }),
          ],
          rows,
        }
      }
    }
    return undefined
  }

  #select(s: Extract<Statement, { kind: 'select' }>, params: ReadonlyMap<string, TypedValue>): StatementResult {
    // Every FROM source as a relation with its rows; joins are nested loops filtered by ON.
    const sources: { name: string; columns: readonly { name: string; type: SqlType }[]; rows: Value[][] }[] = []
    const load = (f: FromSource) => {
      if (f.kind === 'values') {
        const { relation, rows } = this.#values(f.source, params)
        return { name: relation.name, columns: relation.columns, rows }
      }
      const name = f.alias ?? f.table.parts[f.table.parts.length - 1]!
      const v = this.#virtual(f.table)
      if (v) return { name, ...v }
      const t = this.#table(f.table)
      return { name, columns: t.columns, rows: [...t.rows].map((r) => r.values) }
    }
    if (s.from) {
      sources.push(load(s.from.first))
      for (const j of s.from.joins) {
        const next = load(j.source)
        if (sources.some((x) => x.name.toLowerCase() === next.name.toLowerCase())) {
          throw new SqlError(1011, `The correlation name '${next.name}' is specified multiple times in a FROM clause.`)
        }
        sources.push(next)
      }
    }
    const env: Env = {
      relations: sources.map((x) => ({ name: x.name, columns: x.columns })),
      unqualified: sources.map((x) => x.name),
      params,
    }
    const errors: SqlError[] = []
    for (const j of s.from?.joins ?? []) bind(j.on, env, errors)
    const items: { expr: Expr; name: string }[] = []
    for (const item of s.items) {
      if (item.expr.kind === 'star') {
        if (sources.length === 0) throw new SqlError(263, 'Must specify table to select from.')
        const q = item.expr.qualifier
        const picked = q === undefined ? sources : sources.filter((x) => x.name.toLowerCase() === q.toLowerCase())
        if (picked.length === 0) throw new SqlError(4104, `The multi-part identifier "${q}" could not be bound.`)
        for (const x of picked) for (const c of x.columns) items.push({ expr: { kind: 'column', qualifier: x.name, name: c.name }, name: c.name })
        continue
      }
      bind(item.expr, env, errors)
      items.push({ expr: item.expr, name: item.alias ?? (item.expr.kind === 'column' ? item.expr.name : '') })
    }
    if (s.where) bind(s.where, env, errors)
    for (const o of s.orderBy) bind(o.expr, env, errors)
    if (errors.length) throw new SqlErrors(errors)
    const columns: ResultColumn[] = items.map((i) => ({ name: i.name, type: staticType(i.expr, env) ?? { name: 'int' }, nullable: true }))
    // Each combined row is one Value[] per source.
    let combos: Value[][][] = sources.length === 0 ? [[]] : sources[0]!.rows.map((r) => [r])
    const context = (combo: Value[][]): RowContext => ({ values: new Map(sources.map((x, i) => [x.name.toLowerCase(), combo[i]!])) })
    s.from?.joins.forEach((j, k) => {
      const next = sources[k + 1]!
      combos = combos.flatMap((combo) => next.rows.map((r) => [...combo, r]).filter((c) => predicate(j.on, env, context(c)) === true))
    })
    if (s.where) combos = combos.filter((combo) => predicate(s.where!, env, context(combo)) === true)
    if (s.orderBy.length) {
      const keyed = combos.map((combo) => ({ combo, keys: s.orderBy.map((o) => evaluate(o.expr, env, context(combo))) }))
      keyed.sort((a, b) => {
        for (let i = 0; i < s.orderBy.length; i++) {
          const x = a.keys[i]!
          const y = b.keys[i]!
          const c = x.v === null ? (y.v === null ? 0 : -1) : y.v === null ? 1 : compare(x, y)!
          if (c !== 0) return s.orderBy[i]!.desc ? -c : c
        }
        return 0
      })
      combos = keyed.map((k) => k.combo)
    }
    if (s.top !== undefined) combos = combos.slice(0, s.top)
    const out = combos.map((combo) => items.map((item, i) => convert(evaluate(item.expr, env, context(combo)), columns[i]!.type)))
    return { columns, rows: out, rowCount: out.length, curCmd: CUR_CMD.select }
  }

  // -- shared write helpers

  #values(source: ValuesSource, params: ReadonlyMap<string, TypedValue>): { relation: Relation; rows: Value[][] } {
    const width = source.columns.length
    for (const row of source.rows) {
      if (row.length > width) throw new SqlError(8158, `'${source.alias}' has more columns than were specified in the column list.`)
      if (row.length < width) throw new SqlError(8159, `'${source.alias}' has fewer columns than were specified in the column list.`)
    }
    const env: Env = { relations: [], unqualified: [], params, columnsAllowed: false }
    const errors: SqlError[] = []
    for (const row of source.rows) for (const e of row) bind(e, env, errors)
    if (errors.length) throw new SqlErrors(errors)
    // A VALUES column has the type of highest precedence among its rows; every row converts to it.
    const types = source.columns.map((_, i) => source.rows.map((r) => staticType(r[i]!, env)).reduce(higher, null) ?? { name: 'int' as const })
    const rows = source.rows.map((r) => r.map((e, i) => convert(evaluate(e, env, { values: new Map() }), types[i]!)))
    return { relation: { name: source.alias, columns: source.columns.map((name, i) => ({ name, type: types[i]! })) }, rows }
  }

  #assign(table: Table, values: Value[], verb: 'INSERT' | 'UPDATE', statement: string): Value[] {
    const out = [...values]
    table.columns.forEach((c, i) => {
      if (out[i] === null && !c.nullable) {
        throw new SqlError(515, `Cannot insert the value NULL into column '${c.name}', table '${this.name}.${table.schema}.${table.name}'; column does not allow nulls. ${verb} fails.`)
      }
    })
    const env: Env = { relations: [{ name: table.name, columns: table.columns }], unqualified: [table.name], params: new Map() }
    for (const check of table.checks) {
      if (predicate(check.expr, env, ctx(table.name, out)) === false) {
        throw new SqlError(
          547,
          `The ${statement} statement conflicted with the CHECK constraint "${check.name}". The conflict occurred in database "${this.name}", table "${table.schema}.${table.name}"${check.column ? `, column '${check.column}'` : ''}.`,
        )
      }
    }
    return out
  }

  #insertValues(table: Table, columns: readonly number[], values: readonly TypedValue[], statement: string, log: Undo[]): Row {
    const out: Value[] = table.columns.map(() => null)
    const given = new Set(columns)
    table.columns.forEach((c, i) => {
      if (given.has(i)) return
      if (c.identity) {
        // IDENTITY(seed, increment): the first row gets the seed.
        const step = c.increment ?? 1
        out[i] = (c.seed ?? 1) + (table.identityNext - 1) * step
        table.identityNext++
      }
      else if (c.default) out[i] = convert(evaluate(c.default, { relations: [], unqualified: [], params: new Map() }, { values: new Map() }), c.type, { database: this.name, table, column: c })
    })
    columns.forEach((i, k) => {
      const c = table.columns[i]!
      if (c.identity) {
        throw new SqlError(544, `Cannot insert explicit value for identity column in table '${table.name}' when IDENTITY_INSERT is set to OFF.`)
      }
      out[i] = convert(values[k]!, c.type, { database: this.name, table, column: c })
    })
    return insertRow(table, this.#assign(table, out, 'INSERT', statement), log)
  }

  #targetColumns(table: Table, names: readonly string[]): number[] {
    const errors: SqlError[] = []
    const seen = new Set<number>()
    const out = names.map((n) => {
      const i = table.columnIndex(n)
      if (i === -1) errors.push(new SqlError(207, `Invalid column name '${n}'.`))
      else if (seen.has(i)) errors.push(new SqlError(264, `The column name '${n}' is specified more than once in the SET clause or column list of an INSERT. A column cannot be assigned more than one value in the same clause. Modify the clause to make sure that a column is updated only once. If this statement updates or inserts columns into a view, column aliasing can conceal the duplication in your code.`))
      seen.add(i)
      return i
    })
    if (errors.length) throw new SqlErrors(errors)
    return out
  }

  #outputColumns(items: readonly OutputItem[] | undefined, env: Env): ResultColumn[] | undefined {
    if (!items) return undefined
    const errors: SqlError[] = []
    for (const item of items) {
      if (item.expr.kind === 'column' && item.expr.qualifier === undefined) {
        errors.push(new SqlError(207, `Invalid column name '${item.expr.name}'.`))
        continue
      }
      bind(item.expr, env, errors)
    }
    if (errors.length) throw new SqlErrors(errors)
    return items.map((item) => ({
      name: item.alias ?? (item.expr.kind === 'column' ? item.expr.name : item.expr.kind === 'action' ? '$action' : ''),
      type: staticType(item.expr, env) ?? { name: 'int' },
      nullable: true,
    }))
  }

  // -- INSERT

  #insert(s: Extract<Statement, { kind: 'insert' }>, params: ReadonlyMap<string, TypedValue>, log: Undo[]): StatementResult {
    const table = this.#table(s.table)
    if (s.rows.length > 1000) throw new SqlError(10738, 'The number of row value expressions in the INSERT statement exceeds the maximum allowed number of 1000 row values.')
    const columns = this.#targetColumns(table, s.columns)
    for (const row of s.rows) {
      if (row.length !== columns.length) {
        throw new SqlError(110, 'There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.')
      }
    }
    const valuesEnv: Env = { relations: [], unqualified: [], params, columnsAllowed: false }
    const errors: SqlError[] = []
    for (const row of s.rows) for (const e of row) bind(e, valuesEnv, errors)
    if (errors.length) throw new SqlErrors(errors)
    const outEnv: Env = { relations: [{ name: 'inserted', columns: table.columns }], unqualified: [], params }
    const outColumns = this.#outputColumns(s.output, outEnv)
    const output: Value[][] = []
    for (const row of s.rows) {
      const values = row.map((e) => evaluate(e, valuesEnv, { values: new Map() }))
      const inserted = this.#insertValues(table, columns, values, 'INSERT', log)
      if (outColumns) output.push(s.output!.map((o, i) => convert(evaluate(o.expr, outEnv, { values: new Map([['inserted', inserted.values]]) }), outColumns[i]!.type)))
    }
    return { columns: outColumns, rows: outColumns ? output : undefined, rowCount: s.rows.length, curCmd: CUR_CMD.insert }
  }

  // -- MERGE

  #merge(s: Extract<Statement, { kind: 'merge' }>, params: ReadonlyMap<string, TypedValue>, log: Undo[]): StatementResult {
    const table = this.#table(s.target)
    const targetName = s.targetAlias ?? s.target.parts[s.target.parts.length - 1]!
    if (targetName.toLowerCase() === s.source.alias.toLowerCase()) {
      throw new SqlError(1011, `The correlation name '${s.source.alias}' is specified multiple times in a FROM clause.`)
    }
    const { relation: source, rows: sourceRows } = this.#values(s.source, params)
    const target: Relation = { name: targetName, columns: table.columns }
    const both: Env = { relations: [target, source], unqualified: [targetName, source.name], params }
    const notMatchedError = (q: string) =>
      new SqlError(5334, `The identifier '${q}' cannot be bound. Only source columns and columns in the clause scope are allowed in the 'WHEN NOT MATCHED' clause of a MERGE statement.`)
    const sourceOnly: Env = { relations: [source], unqualified: [source.name], params, forbidden: new Map([[targetName.toLowerCase(), notMatchedError(targetName)]]) }
    const errors: SqlError[] = []
    bind(s.on, both, errors)
    let matchedCount = 0
    let notMatchedCount = 0
    for (const c of s.clauses) {
      if (c.kind === 'matched') {
        matchedCount++
        if (c.condition) bind(c.condition, both, errors)
        if (c.action.kind === 'update') {
          for (const set of c.action.set) {
            if (table.columnIndex(set.column) === -1) errors.push(new SqlError(207, `Invalid column name '${set.column}'.`))
            bind(set.expr, both, errors)
          }
        }
      } else {
        notMatchedCount++
        if (c.condition) bind(c.condition, sourceOnly, errors)
        for (const name of c.columns) if (table.columnIndex(name) === -1) errors.push(new SqlError(207, `Invalid column name '${name}'.`))
        if (c.columns.length !== c.values.length) {
          errors.push(new SqlError(c.columns.length > c.values.length ? 109 : 110, `There are ${c.columns.length > c.values.length ? 'more' : 'fewer'} columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.`))
        }
        for (const v of c.values) bind(v, sourceOnly, errors)
      }
    }
    if (matchedCount > 2) throw new SqlError(10714, "An action of type 'WHEN MATCHED' cannot appear more than 2 times in a 'MERGE' statement.")
    if (notMatchedCount > 1) throw new SqlError(10714, "An action of type 'WHEN NOT MATCHED' cannot appear more than once in a 'MERGE' statement.")
    const outEnv: Env = {
      relations: [{ name: 'inserted', columns: table.columns }, { name: 'deleted', columns: table.columns }, source],
      unqualified: [],
      params,
      action: true,
    }
    let outColumns: ResultColumn[] | undefined
    try {
      outColumns = this.#outputColumns(s.output, outEnv)
    } catch (error) {
      errors.push(...asErrors(error).errors)
    }
    if (errors.length) throw new SqlErrors(errors)

    // Match every source row against the target, then act; a target row matched twice is error 8672.
    const targetRows = [...table.rows]
    const matches = sourceRows.map((srow) =>
      targetRows.filter((trow) => predicate(s.on, both, { values: new Map([[targetName.toLowerCase(), trow.values], [source.name.toLowerCase(), srow]]) }) === true),
    )
    const seen = new Map<Row, number>()
    for (const m of matches) for (const row of m) seen.set(row, (seen.get(row) ?? 0) + 1)
    if ([...seen.values()].some((n) => n > 1) && s.clauses.some((c) => c.kind === 'matched')) {
      throw new SqlError(
        8672,
        'The MERGE statement attempted to UPDATE or DELETE the same row more than once. This happens when a target row matches more than one source row. A MERGE statement cannot UPDATE/DELETE the same row of the target table multiple times. Refine the ON clause to ensure a target row matches at most one source row, or use the GROUP BY clause to group the source rows.',
      )
    }
    const output: Value[][] = []
    let affected = 0
    const emit = (action: string, inserted: Value[] | null, deleted: Value[] | null, srow: Value[]) => {
      affected++
      if (!outColumns) return
      const c = { values: new Map<string, Value[] | null>([['inserted', inserted], ['deleted', deleted], [source.name.toLowerCase(), srow]]), action }
      output.push(s.output!.map((o, i) => convert(evaluate(o.expr, outEnv, c), outColumns![i]!.type)))
    }
    sourceRows.forEach((srow, k) => {
      const matched = matches[k]!
      if (matched.length > 0) {
        for (const trow of matched) {
          const c = { values: new Map([[targetName.toLowerCase(), trow.values], [source.name.toLowerCase(), srow]]) }
          const clause = s.clauses.find((cl): cl is Extract<MergeClause, { kind: 'matched' }> => cl.kind === 'matched' && (!cl.condition || predicate(cl.condition, both, c) === true))
          if (!clause) continue
          if (clause.action.kind === 'delete') {
            const old = trow.values
            deleteRow(table, trow, log)
            emit('DELETE', null, old, srow)
          } else {
            const next = [...trow.values]
            for (const set of clause.action.set) {
              const i = table.columnIndex(set.column)
              next[i] = convert(evaluate(set.expr, both, c), table.columns[i]!.type, { database: this.name, table, column: table.columns[i]! })
            }
            const old = trow.values
            updateRow(table, trow, this.#assign(table, next, 'UPDATE', 'MERGE'), log)
            emit('UPDATE', trow.values, old, srow)
          }
        }
      } else {
        const c = { values: new Map([[source.name.toLowerCase(), srow]]) }
        const clause = s.clauses.find((cl): cl is Extract<MergeClause, { kind: 'notMatched' }> => cl.kind === 'notMatched' && (!cl.condition || predicate(cl.condition, sourceOnly, c) === true))
        if (!clause) return
        const columns = this.#targetColumns(table, clause.columns)
        const values = clause.values.map((e) => evaluate(e, sourceOnly, c))
        const row = this.#insertValues(table, columns, values, 'MERGE', log)
        emit('INSERT', row.values, null, srow)
      }
    })
    return { columns: outColumns, rows: outColumns ? output : undefined, rowCount: affected, curCmd: CUR_CMD.merge }
  }

  // -- DELETE

  #delete(s: Extract<Statement, { kind: 'delete' }>, params: ReadonlyMap<string, TypedValue>, log: Undo[]): StatementResult {
    let table: Table
    let relName: string
    let join: { relation: Relation; rows: Value[][]; on: Expr } | undefined
    if (s.from) {
      table = this.#table(s.from.table)
      relName = s.from.alias ?? s.from.table.parts[s.from.table.parts.length - 1]!
      const targetText = s.target.parts.join('.')
      if (targetText.toLowerCase() !== relName.toLowerCase() && this.#lookup(s.target) !== table) {
        throw new SqlError(208, `Invalid object name '${targetText}'.`)
      }
      if (s.from.join) {
        const { relation, rows } = this.#values(s.from.join.source, params)
        join = { relation, rows, on: s.from.join.on }
      }
    } else {
      table = this.#table(s.target)
      relName = s.target.parts[s.target.parts.length - 1]!
    }
    const target: Relation = { name: relName, columns: table.columns }
    const env: Env = join
      ? { relations: [target, join.relation], unqualified: [relName, join.relation.name], params }
      : { relations: [target], unqualified: [relName], params }
    const errors: SqlError[] = []
    if (join) bind(join.on, env, errors)
    if (s.where) bind(s.where, env, errors)
    const outEnv: Env = { relations: [{ name: 'deleted', columns: table.columns }, ...(join ? [join.relation] : [])], unqualified: [], params }
    let outColumns: ResultColumn[] | undefined
    try {
      outColumns = this.#outputColumns(s.output, outEnv)
    } catch (error) {
      errors.push(...asErrors(error).errors)
    }
    if (errors.length) throw new SqlErrors(errors)
    const output: Value[][] = []
    let affected = 0
    for (const row of [...table.rows]) {
      let hit: Value[] | null = null
      let matched = false
      if (join) {
        for (const srow of join.rows) {
          const c = { values: new Map([[relName.toLowerCase(), row.values], [join.relation.name.toLowerCase(), srow]]) }
          if (predicate(join.on, env, c) === true && (!s.where || predicate(s.where, env, c) === true)) {
            hit = srow
            matched = true
            break
          }
        }
      } else {
        matched = !s.where || predicate(s.where, env, { values: new Map([[relName.toLowerCase(), row.values]]) }) === true
      }
      if (!matched) continue
      const old = row.values
      deleteRow(table, row, log)
      affected++
      if (outColumns) {
        const c = { values: new Map<string, Value[] | null>([['deleted', old], ...(join ? [[join.relation.name.toLowerCase(), hit] as [string, Value[] | null]] : [])]) }
        output.push(s.output!.map((o, i) => convert(evaluate(o.expr, outEnv, c), outColumns![i]!.type)))
      }
    }
    return { columns: outColumns, rows: outColumns ? output : undefined, rowCount: affected, curCmd: CUR_CMD.delete }
  }
}

function ctx(name: string, values: Value[]): RowContext {
  return { values: new Map(name ? [[name.toLowerCase(), values]] : []) }
}

function asErrors(error: unknown): SqlErrors {
  if (error instanceof SqlErrors) return error
  if (error instanceof SqlError) return new SqlErrors([error])
  const message = error instanceof Error ? error.message : String(error)
  return new SqlErrors([new SqlError(50000, `internal error in the TDS test server: ${message}`)])
}

// ---------------------------------------------------------------------------------------------
// Row changes, each logged for undo

function checkKeys(table: Table, values: readonly Value[], except?: Row): void {
  for (const k of table.keys) {
    const key = keyOf(values, k.columns, table.columns)
    const other = k.index.get(key)
    if (other && other !== except) {
      const shown = `(${k.columns.map((i) => displayValue(values[i] ?? null)).join(', ')})`
      throw new SqlError(
        2627,
        `Violation of ${k.kind === 'primaryKey' ? 'PRIMARY KEY' : 'UNIQUE KEY'} constraint '${k.name}'. Cannot insert duplicate key in object '${table.schema}.${table.name}'. The duplicate key value is ${shown}.`,
      )
    }
  }
}

function index(table: Table, row: Row): void {
  for (const k of table.keys) k.index.set(keyOf(row.values, k.columns, table.columns), row)
}

function unindex(table: Table, row: Row): void {
  for (const k of table.keys) {
    const key = keyOf(row.values, k.columns, table.columns)
    if (k.index.get(key) === row) k.index.delete(key)
  }
}

function insertRow(table: Table, values: Value[], log: Undo[]): Row {
  checkKeys(table, values)
  const row: Row = { values }
  table.rows.add(row)
  index(table, row)
  log.push({ kind: 'insert', table, row })
  return row
}

function deleteRow(table: Table, row: Row, log: Undo[]): void {
  table.rows.delete(row)
  unindex(table, row)
  log.push({ kind: 'delete', table, row })
}

function updateRow(table: Table, row: Row, values: Value[], log: Undo[]): void {
  checkKeys(table, values, row)
  unindex(table, row)
  const old = row.values
  row.values = values
  index(table, row)
  log.push({ kind: 'update', table, row, old })
}

function undo(log: Undo[], mark: number): void {
  while (log.length > mark) {
    const u = log.pop()!
    switch (u.kind) {
      case 'insert':
        u.table.rows.delete(u.row)
        unindex(u.table, u.row)
        break
      case 'delete':
        u.table.rows.add(u.row)
        index(u.table, u.row)
        break
      case 'update':
        unindex(u.table, u.row)
        u.row.values = u.old
        index(u.table, u.row)
        break
      case 'create':
        u.catalog.delete(`${u.table.schema.toLowerCase()}.${u.table.name.toLowerCase()}`)
        break
      case 'rename':
        u.revert()
        break
      case 'drop':
        u.catalog.set(`${u.table.schema.toLowerCase()}.${u.table.name.toLowerCase()}`, u.table)
        break
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function evaluate(expr: Expr, env: Env, c: RowContext): TypedValue {
  switch (expr.kind) {
    case 'literal':
      return { v: expr.value, t: expr.type }
    case 'param':
      return env.params.get(expr.name.toLowerCase())!
    case 'action':
      return { v: c.action ?? null, t: { name: 'nvarchar', length: 10 } }
    case 'column': {
      const { relation, index: i } = resolveColumn(expr, env)
      const values = c.values.get(relation.name.toLowerCase())
      return { v: values ? (values[i] ?? null) : null, t: relation.columns[i]!.type }
    }
    case 'neg': {
      const x = evaluate(expr.expr, env, c)
      if (x.v === null) return x
      if (typeof x.v === 'string' && x.t && isDecimal(x.t.name)) return { v: x.v.startsWith('-') ? x.v.slice(1) : `-${x.v}`, t: x.t }
      return { v: -Number(convert(x, { name: 'float' })), t: x.t }
    }
    case 'arith': {
      const a = evaluate(expr.left, env, c)
      const b = evaluate(expr.right, env, c)
      const t = higher(a.t ?? (a.v === null ? null : inferType(a.v)), b.t ?? (b.v === null ? null : inferType(b.v)))
      if (a.v === null || b.v === null || !t) return { v: null, t }
      if (isChar(t.name) && expr.op === '+') return { v: String(convert(a, t)) + String(convert(b, t)), t: { ...t, length: -1 } }
      const x = Number(convert(a, { name: 'float' }))
      const y = Number(convert(b, { name: 'float' }))
      if ((expr.op === '/' || expr.op === '%') && y === 0) throw new SqlError(8134, 'Divide by zero error encountered.')
      let v = expr.op === '+' ? x + y : expr.op === '-' ? x - y : expr.op === '*' ? x * y : expr.op === '/' ? x / y : x % y
      if (isInt(t.name) && expr.op === '/') v = Math.trunc(v)
      return { v: isDecimal(t.name) ? numberToDecimalText(v) : v, t }
    }
    case 'call': {
      const args = expr.args.map((a) => evaluate(a, env, c))
      switch (expr.name) {
        case 'ISNULL':
          return args[0]!.v === null ? { v: args[1]!.v, t: args[0]!.t ?? args[1]!.t } : args[0]!
        case 'COALESCE':
          return args.find((a) => a.v !== null) ?? { v: null, t: null }
        case 'LEN':
          return { v: args[0]!.v === null ? null : String(args[0]!.v).replace(/ +$/, '').length, t: { name: 'int' } }
        case 'UPPER':
        case 'LOWER':
        case 'LTRIM':
        case 'RTRIM':
        case 'TRIM': {
          const a = args[0]!
          if (a.v === null) return a
          const s = String(a.v)
          const v = expr.name === 'UPPER' ? s.toUpperCase() : expr.name === 'LOWER' ? s.toLowerCase() : expr.name === 'LTRIM' ? s.replace(/^ +/, '') : expr.name === 'RTRIM' ? s.replace(/ +$/, '') : s.trim()
          return { v, t: a.t }
        }
        case 'DB_NAME':
          return { v: 'hydrator', t: { name: 'nvarchar', length: 128 } }
        case 'SCHEMA_NAME':
          return { v: 'dbo', t: { name: 'nvarchar', length: 128 } }
        case 'ISJSON': {
          const a = args[0]!
          if (a.v === null) return { v: null, t: { name: 'int' } }
          try {
            const parsed = JSON.parse(String(a.v))
            return { v: typeof parsed === 'object' && parsed !== null ? 1 : 0, t: { name: 'int' } }
          } catch {
            return { v: 0, t: { name: 'int' } }
          }
        }
      }
      throw new SqlError(195, `'${expr.name}' is not a recognized built-in function name.`)
    }
    default:
      throw new SqlError(102, "Incorrect syntax near '='. (the TDS test server does not use a condition as a value)")
  }
}

/** Three-valued logic: true, false, or null (unknown). */
function predicate(expr: Expr, env: Env, c: RowContext): boolean | null {
  switch (expr.kind) {
    case 'compare': {
      const r = compare(evaluate(expr.left, env, c), evaluate(expr.right, env, c))
      if (r === null) return null
      switch (expr.op) {
        case '=':
          return r === 0
        case '<>':
          return r !== 0
        case '<':
          return r < 0
        case '<=':
          return r <= 0
        case '>':
          return r > 0
        default:
          return r >= 0
      }
    }
    case 'and': {
      const a = predicate(expr.left, env, c)
      if (a === false) return false
      const b = predicate(expr.right, env, c)
      if (b === false) return false
      return a === null || b === null ? null : true
    }
    case 'or': {
      const a = predicate(expr.left, env, c)
      if (a === true) return true
      const b = predicate(expr.right, env, c)
      if (b === true) return true
      return a === null || b === null ? null : false
    }
    case 'not': {
      const a = predicate(expr.expr, env, c)
      return a === null ? null : !a
    }
    case 'isnull': {
      const isNull = evaluate(expr.expr, env, c).v === null
      return expr.negated ? !isNull : isNull
    }
    case 'in': {
      const x = evaluate(expr.expr, env, c)
      let unknown = false
      for (const e of expr.list) {
        const r = compare(x, evaluate(e, env, c))
        if (r === 0) return !expr.negated
        if (r === null) unknown = true
      }
      return unknown ? null : expr.negated
    }
    default:
      if (!PREDICATES.has(expr.kind)) {
        throw new SqlError(4145, 'An expression of non-boolean type specified in a context where a condition is expected.')
      }
      return null
  }
}

