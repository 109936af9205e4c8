// A T-SQL subset: a lexer and a recursive-descent parser for the statements the SQL Server sink
// emits and the tests use to set up and read tables. Anything outside the subset is a syntax error
// (102/156), so a test fails loudly instead of a statement silently doing nothing.

import { SqlError, type SqlType, type TypeName, type Value } from './types.js'

// ---------------------------------------------------------------------------------------------
// Lexer

export type Token =
  | { readonly kind: 'ident'; readonly value: string; readonly quoted: boolean; readonly pos: number }
  | { readonly kind: 'string'; readonly value: string; readonly national: boolean; readonly pos: number }
  | { readonly kind: 'number'; readonly text: string; readonly pos: number }
  | { readonly kind: 'param'; readonly name: string; readonly pos: number }
  | { readonly kind: 'pseudo'; readonly name: string; readonly pos: number }
  | { readonly kind: 'op'; readonly value: string; readonly pos: number }
  | { readonly kind: 'eof'; readonly pos: number }

/** Words SQL Server reports as "the keyword 'X'" in syntax errors (those the subset meets). */
const RESERVED = new Set(
  'ADD ALL ALTER AND AS ASC BEGIN BETWEEN BY CHECK CLUSTERED COLUMN COMMIT CONSTRAINT CREATE DEFAULT DELETE DESC DISTINCT DROP ELSE END EXISTS FROM FULL IDENTITY IF IN INNER INSERT INTO IS JOIN KEY LEFT LIKE MERGE NONCLUSTERED NOT NULL OF ON OR ORDER OUTER OUTPUT PRIMARY ROLLBACK SELECT SET TABLE THEN TOP TRAN TRANSACTION TRUNCATE UNIQUE UPDATE USING VALUES WHEN WHERE WITH'.split(' '),
)

export function lex(sql: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const n = sql.length
  while (i < n) {
    const c = sql[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++
      continue
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      if (end === -1) throw new SqlError(113, "Missing end comment mark '*/'.")
      i = end + 2
      continue
    }
    const pos = i
    if (c === '[') {
      let value = ''
      i++
      for (;;) {
        if (i >= n) throw new SqlError(105, `Unclosed quotation mark after the character string '${value}'.`)
        if (sql[i] === ']') {
          if (sql[i + 1] === ']') {
            value += ']'
            i += 2
            continue
          }
          i++
          break
        }
        value += sql[i++]
      }
      tokens.push({ kind: 'ident', value, quoted: true, pos })
      continue
    }
    if (c === '"') {
      const end = sql.indexOf('"', i + 1)
      if (end === -1) throw new SqlError(105, `Unclosed quotation mark after the character string '${sql.slice(i + 1)}'.`)
      tokens.push({ kind: 'ident', value: sql.slice(i + 1, end), quoted: true, pos })
      i = end + 1
      continue
    }
    if (c === "'" || ((c === 'N' || c === 'n') && sql[i + 1] === "'")) {
      const national = c !== "'"
      i += national ? 2 : 1
      let value = ''
      for (;;) {
        if (i >= n) throw new SqlError(105, `Unclosed quotation mark after the character string '${value}'.`)
        if (sql[i] === "'") {
          if (sql[i + 1] === "'") {
            value += "'"
            i += 2
            continue
          }
          i++
          break
        }
        value += sql[i++]
      }
      tokens.push({ kind: 'string', value, national, pos })
      continue
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i))!
      tokens.push({ kind: 'number', text: m[0], pos })
      i += m[0].length
      continue
    }
    if (c === '@') {
      const m = /^@@?[A-Za-z0-9_@#$]+/.exec(sql.slice(i))
      if (!m) throw new SqlError(102, "Incorrect syntax near '@'.")
      tokens.push({ kind: 'param', name: m[0].slice(1), pos })
      i += m[0].length
      continue
    }
    if (c === '$') {
      const m = /^\$[A-Za-z_]+/.exec(sql.slice(i))
      if (!m) throw new SqlError(102, "Incorrect syntax near '$'.")
      tokens.push({ kind: 'pseudo', name: m[0].toLowerCase(), pos })
      i += m[0].length
      continue
    }
    if (/[A-Za-z_#]/.test(c)) {
      const m = /^[A-Za-z_#][A-Za-z0-9_@#$]*/.exec(sql.slice(i))!
      tokens.push({ kind: 'ident', value: m[0], quoted: false, pos })
      i += m[0].length
      continue
    }
    const two = sql.slice(i, i + 2)
    if (['<>', '!=', '<=', '>=', '!<', '!>'].includes(two)) {
      tokens.push({ kind: 'op', value: two, pos })
      i += 2
      continue
    }
    if ('(),.;=<>+-*/%'.includes(c)) {
      tokens.push({ kind: 'op', value: c, pos })
      i++
      continue
    }
    throw new SqlError(102, `Incorrect syntax near '${c}'.`)
  }
  tokens.push({ kind: 'eof', pos: n })
  return tokens
}

// ---------------------------------------------------------------------------------------------
// AST

export type Expr =
  | { readonly kind: 'literal'; readonly value: Value; readonly type: SqlType | null }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'column'; readonly qualifier?: string; readonly name: string }
  | { readonly kind: 'action' }
  | { readonly kind: 'compare'; readonly op: string; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'arith'; readonly op: string; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'and' | 'or'; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'not'; readonly expr: Expr }
  | { readonly kind: 'isnull'; readonly expr: Expr; readonly negated: boolean }
  | { readonly kind: 'in'; readonly expr: Expr; readonly list: readonly Expr[]; readonly negated: boolean }
  | { readonly kind: 'neg'; readonly expr: Expr }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Expr[] }

export interface ObjectName {
  /** The parts as written, unquoted: `['dbo', 'users']`. */
  readonly parts: readonly string[]
}

export interface SelectItem {
  readonly expr: Expr | { readonly kind: 'star'; readonly qualifier?: string }
  readonly alias?: string
}

export interface OutputItem {
  readonly expr: Expr
  readonly alias?: string
}

/** A table or a derived `(VALUES ...) AS s (cols)` in a SELECT's FROM. */
export type FromSource =
  | { readonly kind: 'table'; readonly table: ObjectName; readonly alias?: string }
  | { readonly kind: 'values'; readonly source: ValuesSource }

export interface ValuesSource {
  readonly rows: readonly (readonly Expr[])[]
  readonly alias: string
  readonly columns: readonly string[]
}

export type MergeClause =
  | {
      readonly kind: 'matched'
      readonly condition?: Expr
      readonly action: { readonly kind: 'update'; readonly set: readonly { column: string; expr: Expr }[] } | { readonly kind: 'delete' }
    }
  | { readonly kind: 'notMatched'; readonly condition?: Expr; readonly columns: readonly string[]; readonly values: readonly Expr[] }

export interface ColumnDef {
  readonly name: string
  readonly type: SqlType
  readonly nullable: boolean
  readonly identity: boolean
  readonly default?: Expr
  /** The default as written, for INFORMATION_SCHEMA.COLUMNS.COLUMN_DEFAULT. */
  readonly defaultText?: string
  /** IDENTITY(seed, increment). */
  readonly seed?: number
  readonly increment?: number
  /** COLLATE, as written. */
  readonly collation?: string
  readonly primaryKey?: { readonly name?: string }
  readonly unique?: { readonly name?: string }
  readonly checks: readonly { readonly name?: string; readonly expr: Expr; readonly text: string }[]
}

export type TableConstraint =
  | { readonly kind: 'primaryKey' | 'unique'; readonly name?: string; readonly columns: readonly string[] }
  | { readonly kind: 'check'; readonly name?: string; readonly expr: Expr; readonly text: string }

export type Statement =
  | { readonly kind: 'set'; readonly option: string; readonly value: string }
  | {
      readonly kind: 'select'
      readonly top?: number
      readonly items: readonly SelectItem[]
      readonly from?: { readonly first: FromSource; readonly joins: readonly { readonly source: FromSource; readonly on: Expr }[] }
      readonly where?: Expr
      readonly orderBy: readonly { readonly expr: Expr; readonly desc: boolean }[]
    }
  | { readonly kind: 'insert'; readonly table: ObjectName; readonly columns: readonly string[]; readonly output?: readonly OutputItem[]; readonly rows: readonly (readonly Expr[])[] }
  | {
      readonly kind: 'merge'
      readonly target: ObjectName
      readonly targetAlias?: string
      readonly hints: readonly string[]
      readonly source: ValuesSource
      readonly on: Expr
      readonly clauses: readonly MergeClause[]
      readonly output?: readonly OutputItem[]
    }
  | {
      readonly kind: 'delete'
      readonly target: ObjectName
      readonly output?: readonly OutputItem[]
      readonly from?: { readonly table: ObjectName; readonly alias?: string; readonly join?: { readonly source: ValuesSource; readonly on: Expr } }
      readonly where?: Expr
    }
  | { readonly kind: 'createTable'; readonly table: ObjectName; readonly columns: readonly ColumnDef[]; readonly constraints: readonly TableConstraint[] }
  | { readonly kind: 'dropTable'; readonly table: ObjectName; readonly ifExists: boolean }
  | { readonly kind: 'truncate'; readonly table: ObjectName }
  /** `EXEC sp_rename N'dbo.old', N'new' [, N'OBJECT']`. */
  | { readonly kind: 'rename'; readonly objname: string; readonly newname: string; readonly objtype?: string }

// ---------------------------------------------------------------------------------------------
// Parser

const SET_OPTIONS = new Set([
  'ansi_nulls',
  'ansi_null_dflt_on',
  'ansi_padding',
  'ansi_warnings',
  'arithabort',
  'concat_null_yields_null',
  'cursor_close_on_commit',
  'datefirst',
  'dateformat',
  'implicit_transactions',
  'language',
  'numeric_roundabort',
  'quoted_identifier',
  'textsize',
  'xact_abort',
  'nocount',
  'lock_timeout',
  'deadlock_priority',
])

/** Parses a batch of statements. Throws SqlError with SQL Server's syntax error numbers. */
export function parse(sql: string): Statement[] {
  return new Parser(lex(sql), sql).batch()
}

/** Parses sp_executesql's `@params`: `@p0 nvarchar(max), @p1 int OUTPUT`. */
export function parseParamDeclarations(text: string): { name: string; type: SqlType }[] {
  return new Parser(lex(text)).paramDeclarations()
}

class Parser {
  #i = 0
  constructor(
    readonly tokens: Token[],
    readonly sql = '',
  ) {}

  /** The source text of what `parse` reads, as written (a default's or a check's definition). */
  #text<T>(parse: () => T): { value: T; text: string } {
    const from = this.#t.pos
    const value = parse()
    return { value, text: this.sql.slice(from, this.#t.pos).trim() }
  }

  get #t(): Token {
    return this.tokens[this.#i]!
  }

  #peek(ahead = 1): Token {
    return this.tokens[Math.min(this.#i + ahead, this.tokens.length - 1)]!
  }

  #next(): Token {
    const t = this.#t
    if (t.kind !== 'eof') this.#i++
    return t
  }

  #isWord(word: string, t: Token = this.#t): boolean {
    return t.kind === 'ident' && !t.quoted && t.value.toUpperCase() === word
  }

  #isOp(op: string, t: Token = this.#t): boolean {
    return t.kind === 'op' && t.value === op
  }

  #acceptWord(word: string): boolean {
    if (!this.#isWord(word)) return false
    this.#i++
    return true
  }

  #acceptOp(op: string): boolean {
    if (!this.#isOp(op)) return false
    this.#i++
    return true
  }

  #fail(t: Token = this.#t): never {
    if (t.kind === 'eof') throw new SqlError(102, "Incorrect syntax near ')'.".replace(')', lastText(this.tokens)))
    if (t.kind === 'ident' && !t.quoted && RESERVED.has(t.value.toUpperCase())) {
      throw new SqlError(156, `Incorrect syntax near the keyword '${t.value.toUpperCase()}'.`)
    }
    throw new SqlError(102, `Incorrect syntax near '${tokenText(t)}'.`)
  }

  #expectWord(word: string): void {
    if (!this.#acceptWord(word)) this.#fail()
  }

  #expectOp(op: string): void {
    if (!this.#acceptOp(op)) this.#fail()
  }

  /** A (possibly bracketed) identifier that is not a reserved word. */
  #ident(): string {
    const t = this.#t
    if (t.kind !== 'ident' || (!t.quoted && RESERVED.has(t.value.toUpperCase()))) this.#fail()
    this.#i++
    return t.value
  }

  #objectName(): ObjectName {
    const parts = [this.#ident()]
    while (this.#isOp('.')) {
      this.#i++
      parts.push(this.#ident())
    }
    if (parts.length > 4) this.#fail()
    return { parts }
  }

  #optionalAlias(): string | undefined {
    if (this.#acceptWord('AS')) return this.#ident()
    const t = this.#t
    if (t.kind === 'ident' && (t.quoted || !RESERVED.has(t.value.toUpperCase()))) {
      this.#i++
      return t.value
    }
    return undefined
  }

  paramDeclarations(): { name: string; type: SqlType }[] {
    const out: { name: string; type: SqlType }[] = []
    if (this.#t.kind === 'eof') return out
    do {
      const p = this.#next()
      if (p.kind !== 'param') this.#fail(p)
      this.#acceptWord('AS')
      out.push({ name: p.name, type: this.#dataType() })
      if (!this.#acceptWord('OUTPUT')) this.#acceptWord('OUT')
    } while (this.#acceptOp(','))
    if ((this.#t as Token).kind !== 'eof') this.#fail()
    return out
  }

  batch(): Statement[] {
    const out: Statement[] = []
    for (;;) {
      while (this.#acceptOp(';'));
      if (this.#t.kind === 'eof') return out
      out.push(this.#statement())
    }
  }

  #statement(): Statement {
    const t = this.#t
    if (this.#isWord('SET')) return this.#set()
    if (this.#isWord('SELECT')) return this.#select()
    if (this.#isWord('INSERT')) return this.#insert()
    if (this.#isWord('MERGE')) return this.#merge()
    if (this.#isWord('DELETE')) return this.#delete()
    if (this.#isWord('CREATE')) return this.#createTable()
    if (this.#isWord('DROP')) return this.#dropTable()
    if (this.#isWord('TRUNCATE')) {
      this.#next()
      this.#expectWord('TABLE')
      return { kind: 'truncate', table: this.#objectName() }
    }
    if (this.#isWord('EXEC') || this.#isWord('EXECUTE')) return this.#exec()
    return this.#fail(t)
  }

  /** `EXEC sp_rename 'objname', 'newname' [, 'objtype']`: the one procedure the test server runs in a batch. */
  #exec(): Statement {
    this.#next()
    const proc = this.#next()
    if (proc.kind !== 'ident') this.#fail(proc)
    const name = proc.value.toLowerCase().replace(/^(dbo\.|sys\.)/, '')
    if (name !== 'sp_rename') throw new SqlError(2812, `Could not find stored procedure '${proc.value}'.`)
    const args: string[] = []
    do {
      const a = this.#next()
      if (a.kind !== 'string') this.#fail(a)
      args.push(a.value)
    } while (this.#acceptOp(','))
    if (args.length < 2) throw new SqlError(201, "Procedure or function 'sp_rename' expects parameter '@newname', which was not supplied.")
    if (args.length > 3) throw new SqlError(8144, 'Procedure or function sp_rename has too many arguments specified.')
    return { kind: 'rename', objname: args[0]!, newname: args[1]!, ...(args[2] !== undefined ? { objtype: args[2] } : {}) }
  }

  #set(): Statement {
    this.#next()
    if (this.#acceptWord('TRANSACTION')) {
      this.#expectWord('ISOLATION')
      this.#expectWord('LEVEL')
      const words: string[] = []
      while (this.#t.kind === 'ident' && ['READ', 'COMMITTED', 'UNCOMMITTED', 'REPEATABLE', 'SERIALIZABLE', 'SNAPSHOT'].includes((this.#t as { value: string }).value.toUpperCase())) {
        words.push((this.#next() as { value: string }).value.toLowerCase())
      }
      if (words.length === 0) this.#fail()
      return { kind: 'set', option: 'transaction isolation level', value: words.join(' ') }
    }
    const t = this.#next()
    if (t.kind !== 'ident') this.#fail(t)
    const option = t.value.toLowerCase()
    if (!SET_OPTIONS.has(option)) throw new SqlError(195, `'${t.value}' is not a recognized SET option.`)
    const v = this.#next()
    if (v.kind === 'eof') this.#fail(v)
    const value = v.kind === 'ident' ? v.value.toLowerCase() : v.kind === 'number' ? v.text : v.kind === 'string' ? v.value : tokenText(v)
    if (v.kind === 'op' && v.value === '-') {
      const num = this.#next()
      if (num.kind !== 'number') this.#fail(num)
      return { kind: 'set', option, value: `-${num.text}` }
    }
    return { kind: 'set', option, value }
  }

  #select(): Statement {
    this.#next()
    let top: number | undefined
    if (this.#acceptWord('TOP')) {
      const paren = this.#acceptOp('(')
      const n = this.#next()
      if (n.kind !== 'number') this.#fail(n)
      top = Number(n.text)
      if (paren) this.#expectOp(')')
    }
    const items: SelectItem[] = []
    do {
      if (this.#isOp('*')) {
        this.#next()
        items.push({ expr: { kind: 'star' } })
        continue
      }
      if (this.#t.kind === 'ident' && this.#isOp('.', this.#peek()) && this.#isOp('*', this.#peek(2))) {
        const qualifier = this.#ident()
        this.#next()
        this.#next()
        items.push({ expr: { kind: 'star', qualifier } })
        continue
      }
      const expr = this.#expr()
      let alias: string | undefined
      if (this.#acceptWord('AS')) {
        const a = this.#next()
        if (a.kind === 'ident' || a.kind === 'string') alias = a.value
        else this.#fail(a)
      } else if (this.#t.kind === 'ident' && (this.#t.quoted || !RESERVED.has(this.#t.value.toUpperCase()))) {
        alias = this.#ident()
      }
      items.push({ expr, alias })
    } while (this.#acceptOp(','))
    let from: { first: FromSource; joins: { source: FromSource; on: Expr }[] } | undefined
    if (this.#acceptWord('FROM')) {
      const first = this.#fromSource()
      const joins: { source: FromSource; on: Expr }[] = []
      while (this.#isWord('INNER') || this.#isWord('JOIN')) {
        this.#acceptWord('INNER')
        this.#expectWord('JOIN')
        const source = this.#fromSource()
        this.#expectWord('ON')
        joins.push({ source, on: this.#expr() })
      }
      from = { first, joins }
    }
    const where = this.#acceptWord('WHERE') ? this.#expr() : undefined
    const orderBy: { expr: Expr; desc: boolean }[] = []
    if (this.#acceptWord('ORDER')) {
      this.#expectWord('BY')
      do {
        const expr = this.#expr()
        const desc = this.#acceptWord('DESC')
        if (!desc) this.#acceptWord('ASC')
        orderBy.push({ expr, desc })
      } while (this.#acceptOp(','))
    }
    return { kind: 'select', top, items, from, where, orderBy }
  }

  #fromSource(): FromSource {
    if (this.#isOp('(')) return { kind: 'values', source: this.#valuesSource() }
    const table = this.#objectName()
    const alias = this.#optionalAlias()
    if (this.#acceptWord('WITH')) this.#hints()
    return { kind: 'table', table, alias }
  }

  #hints(): string[] {
    this.#expectOp('(')
    const hints: string[] = []
    do {
      const h = this.#next()
      if (h.kind !== 'ident') this.#fail(h)
      const name = h.value.toUpperCase()
      if (!['HOLDLOCK', 'SERIALIZABLE', 'UPDLOCK', 'ROWLOCK', 'TABLOCK', 'NOLOCK', 'READCOMMITTED', 'PAGLOCK'].includes(name)) {
        throw new SqlError(321, `"${h.value}" is not a recognized table hints option.`)
      }
      hints.push(name)
    } while (this.#acceptOp(','))
    this.#expectOp(')')
    return hints
  }

  #columnList(): string[] {
    this.#expectOp('(')
    const cols: string[] = []
    do cols.push(this.#ident())
    while (this.#acceptOp(','))
    this.#expectOp(')')
    return cols
  }

  #valuesRows(): Expr[][] {
    this.#expectWord('VALUES')
    const rows: Expr[][] = []
    do {
      this.#expectOp('(')
      const row: Expr[] = []
      do row.push(this.#expr())
      while (this.#acceptOp(','))
      this.#expectOp(')')
      rows.push(row)
    } while (this.#acceptOp(','))
    return rows
  }

  #output(): OutputItem[] | undefined {
    if (!this.#acceptWord('OUTPUT')) return undefined
    const items: OutputItem[] = []
    do {
      const expr = this.#expr()
      let alias: string | undefined
      if (this.#acceptWord('AS')) alias = this.#ident()
      else if (this.#t.kind === 'ident' && (this.#t.quoted || !RESERVED.has(this.#t.value.toUpperCase()))) alias = this.#ident()
      items.push({ expr, alias })
    } while (this.#acceptOp(','))
    if (this.#acceptWord('INTO')) throw new SqlError(102, "Incorrect syntax near 'INTO'. (the TDS test server does not support OUTPUT ... INTO)")
    return items
  }

  #insert(): Statement {
    this.#next()
    this.#acceptWord('INTO')
    const table = this.#objectName()
    const columns = this.#columnList()
    const output = this.#output()
    if (this.#isWord('SELECT') || this.#isWord('DEFAULT')) {
      throw new SqlError(102, `Incorrect syntax near '${tokenText(this.#t)}'. (the TDS test server supports INSERT ... VALUES only)`)
    }
    const rows = this.#valuesRows()
    return { kind: 'insert', table, columns, output, rows }
  }

  #valuesSource(): ValuesSource {
    this.#expectOp('(')
    const rows = this.#valuesRows()
    this.#expectOp(')')
    this.#acceptWord('AS')
    const alias = this.#ident()
    const columns = this.#columnList()
    return { rows, alias, columns }
  }

  #merge(): Statement {
    this.#next()
    this.#acceptWord('INTO')
    const target = this.#objectName()
    const hints = this.#acceptWord('WITH') ? this.#hints() : []
    const targetAlias = this.#optionalAliasBefore('USING')
    this.#expectWord('USING')
    if (!this.#isOp('(')) {
      throw new SqlError(102, `Incorrect syntax near '${tokenText(this.#t)}'. (the TDS test server supports MERGE ... USING (VALUES ...) only)`)
    }
    const source = this.#valuesSource()
    this.#expectWord('ON')
    const on = this.#expr()
    const clauses: MergeClause[] = []
    while (this.#acceptWord('WHEN')) {
      if (this.#acceptWord('MATCHED')) {
        const condition = this.#acceptWord('AND') ? this.#expr() : undefined
        this.#expectWord('THEN')
        if (this.#acceptWord('DELETE')) {
          clauses.push({ kind: 'matched', condition, action: { kind: 'delete' } })
        } else {
          this.#expectWord('UPDATE')
          this.#expectWord('SET')
          const set: { column: string; expr: Expr }[] = []
          do {
            const first = this.#ident()
            let column = first
            if (this.#acceptOp('.')) column = this.#ident()
            this.#expectOp('=')
            set.push({ column, expr: this.#expr() })
          } while (this.#acceptOp(','))
          clauses.push({ kind: 'matched', condition, action: { kind: 'update', set } })
        }
      } else {
        this.#expectWord('NOT')
        this.#expectWord('MATCHED')
        if (this.#acceptWord('BY')) {
          if (this.#acceptWord('SOURCE')) throw new SqlError(102, "Incorrect syntax near 'SOURCE'. (the TDS test server does not support WHEN NOT MATCHED BY SOURCE)")
          this.#expectWord('TARGET')
        }
        const condition = this.#acceptWord('AND') ? this.#expr() : undefined
        this.#expectWord('THEN')
        this.#expectWord('INSERT')
        const columns = this.#columnList()
        const values = this.#valuesRows()
        if (values.length !== 1) this.#fail()
        clauses.push({ kind: 'notMatched', condition, columns, values: values[0]! })
      }
    }
    if (clauses.length === 0) this.#fail()
    const output = this.#output()
    if (!this.#isOp(';')) throw new SqlError(10713, 'A MERGE statement must be terminated by a semi-colon (;).')
    return { kind: 'merge', target, targetAlias, hints, source, on, clauses, output }
  }

  #optionalAliasBefore(word: string): string | undefined {
    if (this.#isWord(word)) return undefined
    return this.#optionalAlias()
  }

  #delete(): Statement {
    this.#next()
    this.#acceptWord('FROM')
    const target = this.#objectName()
    const output = this.#output()
    let from: { table: ObjectName; alias?: string; join?: { source: ValuesSource; on: Expr } } | undefined
    if (this.#acceptWord('FROM')) {
      const table = this.#objectName()
      const alias = this.#optionalAlias()
      let join: { source: ValuesSource; on: Expr } | undefined
      if (this.#acceptWord('INNER') || this.#isWord('JOIN')) {
        this.#expectWord('JOIN')
        const source = this.#valuesSource()
        this.#expectWord('ON')
        join = { source, on: this.#expr() }
      }
      from = { table, alias, join }
    }
    const where = this.#acceptWord('WHERE') ? this.#expr() : undefined
    return { kind: 'delete', target, output, from, where }
  }

  #dataType(): SqlType {
    const t = this.#next()
    if (t.kind !== 'ident') this.#fail(t)
    const raw = t.value.toLowerCase()
    const args: (number | 'max')[] = []
    if (this.#acceptOp('(')) {
      do {
        const a = this.#next()
        if (a.kind === 'number') args.push(Number(a.text))
        else if (a.kind === 'ident' && a.value.toLowerCase() === 'max') args.push('max')
        else this.#fail(a)
      } while (this.#acceptOp(','))
      this.#expectOp(')')
    }
    const length = (d: number): number => (args[0] === 'max' ? -1 : ((args[0] as number | undefined) ?? d))
    switch (raw) {
      case 'bit':
      case 'tinyint':
      case 'smallint':
      case 'int':
      case 'bigint':
      case 'real':
      case 'date':
      case 'datetime':
      case 'uniqueidentifier':
        return { name: raw as TypeName }
      case 'float':
        return { name: typeof args[0] === 'number' && args[0] <= 24 ? 'real' : 'float' }
      case 'decimal':
      case 'numeric':
        return { name: raw, precision: (args[0] as number | undefined) ?? 18, scale: (args[1] as number | undefined) ?? 0 }
      case 'money':
        return { name: 'decimal', precision: 19, scale: 4 }
      case 'datetime2':
      case 'datetimeoffset':
        return { name: raw, scale: (args[0] as number | undefined) ?? 7 }
      case 'char':
      case 'varchar':
      case 'nchar':
      case 'nvarchar':
      case 'varbinary':
        return { name: raw, length: length(1) }
      case 'sysname':
        return { name: 'nvarchar', length: 128 }
      default:
        throw new SqlError(2715, `Column, parameter, or variable #1: Cannot find data type ${t.value}.`)
    }
  }

  #createTable(): Statement {
    this.#next()
    this.#expectWord('TABLE')
    const table = this.#objectName()
    this.#expectOp('(')
    const columns: ColumnDef[] = []
    const constraints: TableConstraint[] = []
    do {
      let constraintName: string | undefined
      if (this.#acceptWord('CONSTRAINT')) constraintName = this.#ident()
      if (this.#isWord('PRIMARY') || this.#isWord('UNIQUE')) {
        const kind = this.#isWord('PRIMARY') ? 'primaryKey' : 'unique'
        this.#next()
        if (kind === 'primaryKey') this.#expectWord('KEY')
        if (!this.#acceptWord('CLUSTERED')) this.#acceptWord('NONCLUSTERED')
        this.#expectOp('(')
        const cols: string[] = []
        do {
          cols.push(this.#ident())
          if (!this.#acceptWord('ASC')) this.#acceptWord('DESC')
        } while (this.#acceptOp(','))
        this.#expectOp(')')
        constraints.push({ kind, name: constraintName, columns: cols })
        continue
      }
      if (this.#acceptWord('CHECK')) {
        const { value: expr, text } = this.#text(() => {
          this.#expectOp('(')
          const e = this.#expr()
          this.#expectOp(')')
          return e
        })
        constraints.push({ kind: 'check', name: constraintName, expr, text })
        continue
      }
      if (constraintName !== undefined) this.#fail()
      columns.push(this.#columnDef())
    } while (this.#acceptOp(','))
    this.#expectOp(')')
    return { kind: 'createTable', table, columns, constraints }
  }

  #columnDef(): ColumnDef {
    const name = this.#ident()
    const type = this.#dataType()
    let nullable = true
    let identity = false
    let dflt: Expr | undefined
    let defaultText: string | undefined
    let seed: number | undefined
    let increment: number | undefined
    let collation: string | undefined
    let primaryKey: { name?: string } | undefined
    let unique: { name?: string } | undefined
    const checks: { name?: string; expr: Expr; text: string }[] = []
    let constraintName: string | undefined
    for (;;) {
      if (this.#acceptWord('CONSTRAINT')) {
        constraintName = this.#ident()
        continue
      }
      if (this.#acceptWord('NOT')) {
        this.#expectWord('NULL')
        nullable = false
      } else if (this.#acceptWord('NULL')) {
        nullable = true
      } else if (this.#acceptWord('PRIMARY')) {
        this.#expectWord('KEY')
        if (!this.#acceptWord('CLUSTERED')) this.#acceptWord('NONCLUSTERED')
        primaryKey = { name: constraintName }
        nullable = false
      } else if (this.#acceptWord('UNIQUE')) {
        if (!this.#acceptWord('CLUSTERED')) this.#acceptWord('NONCLUSTERED')
        unique = { name: constraintName }
      } else if (this.#acceptWord('IDENTITY')) {
        identity = true
        if (this.#acceptOp('(')) {
          const signed = () => {
            const minus = this.#acceptOp('-')
            const n = this.#next()
            if (n.kind !== 'number') this.#fail(n)
            return (minus ? -1 : 1) * Number(n.text)
          }
          seed = signed()
          this.#expectOp(',')
          increment = signed()
          this.#expectOp(')')
        }
      } else if (this.#acceptWord('DEFAULT')) {
        const { value, text } = this.#text(() => this.#primary())
        dflt = value
        defaultText = text
      } else if (this.#acceptWord('CHECK')) {
        const { value: expr, text } = this.#text(() => {
          this.#expectOp('(')
          const e = this.#expr()
          this.#expectOp(')')
          return e
        })
        checks.push({ name: constraintName, expr, text })
      } else if (this.#acceptWord('COLLATE')) {
        collation = this.#ident()
      } else {
        break
      }
      constraintName = undefined
    }
    return { name, type, nullable, identity, default: dflt, ...(defaultText !== undefined ? { defaultText } : {}), ...(seed !== undefined ? { seed, increment } : {}), ...(collation !== undefined ? { collation } : {}), primaryKey, unique, checks }
  }

  #dropTable(): Statement {
    this.#next()
    this.#expectWord('TABLE')
    let ifExists = false
    if (this.#acceptWord('IF')) {
      this.#expectWord('EXISTS')
      ifExists = true
    }
    return { kind: 'dropTable', table: this.#objectName(), ifExists }
  }

  // Expressions, lowest precedence first.

  #expr(): Expr {
    let left = this.#and()
    while (this.#acceptWord('OR')) left = { kind: 'or', left, right: this.#and() }
    return left
  }

  #and(): Expr {
    let left = this.#not()
    while (this.#acceptWord('AND')) left = { kind: 'and', left, right: this.#not() }
    return left
  }

  #not(): Expr {
    if (this.#acceptWord('NOT')) return { kind: 'not', expr: this.#not() }
    return this.#predicate()
  }

  #predicate(): Expr {
    const left = this.#additive()
    const t = this.#t
    if (t.kind === 'op' && ['=', '<>', '!=', '<', '<=', '>', '>=', '!<', '!>'].includes(t.value)) {
      this.#next()
      const op = t.value === '!=' ? '<>' : t.value === '!<' ? '>=' : t.value === '!>' ? '<=' : t.value
      return { kind: 'compare', op, left, right: this.#additive() }
    }
    if (this.#acceptWord('IS')) {
      const negated = this.#acceptWord('NOT')
      this.#expectWord('NULL')
      return { kind: 'isnull', expr: left, negated }
    }
    const negated = this.#isWord('NOT') && this.#isWord('IN', this.#peek())
    if (negated) this.#next()
    if (this.#acceptWord('IN')) {
      this.#expectOp('(')
      const list: Expr[] = []
      do list.push(this.#expr())
      while (this.#acceptOp(','))
      this.#expectOp(')')
      return { kind: 'in', expr: left, list, negated }
    }
    return left
  }

  #additive(): Expr {
    let left = this.#multiplicative()
    while (this.#isOp('+') || this.#isOp('-')) {
      const op = (this.#next() as { value: string }).value
      left = { kind: 'arith', op, left, right: this.#multiplicative() }
    }
    return left
  }

  #multiplicative(): Expr {
    let left = this.#unary()
    while (this.#isOp('*') || this.#isOp('/') || this.#isOp('%')) {
      const op = (this.#next() as { value: string }).value
      left = { kind: 'arith', op, left, right: this.#unary() }
    }
    return left
  }

  #unary(): Expr {
    if (this.#acceptOp('-')) return { kind: 'neg', expr: this.#unary() }
    if (this.#acceptOp('+')) return this.#unary()
    return this.#primary()
  }

  #primary(): Expr {
    const t = this.#t
    switch (t.kind) {
      case 'number': {
        this.#next()
        if (/[eE]/.test(t.text)) return { kind: 'literal', value: Number(t.text), type: { name: 'float' } }
        if (t.text.includes('.')) {
          const [w, f = ''] = t.text.split('.')
          const digits = (w!.replace(/^0+/, '') + f).length || 1
          return { kind: 'literal', value: t.text, type: { name: 'numeric', precision: Math.max(digits, f.length), scale: f.length } }
        }
        const n = Number(t.text)
        if (n <= 2147483647) return { kind: 'literal', value: n, type: { name: 'int' } }
        return { kind: 'literal', value: t.text, type: { name: 'numeric', precision: t.text.length, scale: 0 } }
      }
      case 'string':
        this.#next()
        return { kind: 'literal', value: t.value, type: { name: t.national ? 'nvarchar' : 'varchar', length: Math.max(1, t.value.length) } }
      case 'param':
        this.#next()
        return { kind: 'param', name: t.name }
      case 'pseudo':
        this.#next()
        if (t.name !== '$action') throw new SqlError(207, `Invalid column name '${t.name}'.`)
        return { kind: 'action' }
      case 'op':
        if (t.value === '(') {
          this.#next()
          const e = this.#expr()
          this.#expectOp(')')
          return e
        }
        return this.#fail()
      case 'ident': {
        if (this.#isWord('NULL')) {
          this.#next()
          return { kind: 'literal', value: null, type: null }
        }
        if (!t.quoted && this.#isOp('(', this.#peek())) {
          const name = t.value.toUpperCase()
          if (!['ISNULL', 'COALESCE', 'LEN', 'UPPER', 'LOWER', 'LTRIM', 'RTRIM', 'TRIM', 'DB_NAME', 'SCHEMA_NAME', 'ISJSON'].includes(name)) {
            throw new SqlError(195, `'${t.value}' is not a recognized built-in function name.`)
          }
          this.#next()
          this.#next()
          const args: Expr[] = []
          if (!this.#isOp(')')) {
            do args.push(this.#expr())
            while (this.#acceptOp(','))
          }
          this.#expectOp(')')
          return { kind: 'call', name, args }
        }
        const first = this.#ident()
        if (this.#acceptOp('.')) return { kind: 'column', qualifier: first, name: this.#ident() }
        return { kind: 'column', name: first }
      }
      default:
        return this.#fail()
    }
  }
}

function tokenText(t: Token): string {
  switch (t.kind) {
    case 'ident':
      return t.value
    case 'string':
      return t.value
    case 'number':
      return t.text
    case 'param':
      return `@${t.name}`
    case 'pseudo':
      return t.name
    case 'op':
      return t.value
    case 'eof':
      return ''
  }
}

function lastText(tokens: readonly Token[]): string {
  for (let i = tokens.length - 2; i >= 0; i--) return tokenText(tokens[i]!)
  return ''
}
