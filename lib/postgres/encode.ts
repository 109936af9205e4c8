import type { RowWrite } from '../mapping.js'

/** How a column takes a value: json/jsonb columns take any value as JSON, array columns take arrays as array literals. */
export type ColumnKind = 'json' | 'array' | 'other'

/** One event ready to be written: the mapped row and its column values as PostgreSQL text. */
export interface PgWrite {
  readonly row: RowWrite
  /** One text per mapped column, in mapping order; null for SQL NULL. */
  readonly texts: readonly (string | null)[]
}

/**
 * A value as PostgreSQL input text for a column: JSON for json/jsonb columns (any value) and for
 * objects elsewhere; an array literal for arrays into array columns; null stays NULL.
 */
export function toText(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null
  if (kind === 'json') return JSON.stringify(value)
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
    case 'bigint':
      return String(value)
    case 'boolean':
      return value ? 'true' : 'false'
  }
  if (value instanceof Date) return value.toISOString()
  if (kind === 'array' && Array.isArray(value)) return arrayLiteral(value.map((v) => (Array.isArray(v) ? v : toText(v, 'other'))))
  return JSON.stringify(value)
}

/** A PostgreSQL array literal: every element double-quoted and escaped, nulls as NULL, nested arrays kept. */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    const v = values[i]
    if (v === null || v === undefined) out += 'NULL'
    else if (Array.isArray(v)) out += arrayLiteral(v.map((x) => (Array.isArray(x) ? x : toText(x, 'other'))))
    else out += '"' + String(v).replace(/["\\]/g, '\\$&') + '"'
  }
  return out + '}'
}

/** Keys and versions are sent as text like every other value: one `text[]` parameter per column. */
export function columnArrays(writes: readonly PgWrite[], columns: readonly number[]): string[] {
  return columns.map((c) => arrayLiteral(writes.map((w) => w.texts[c]!)))
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }
const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_SPECIALS = /[\\\t\n\r]/g

/** A value in COPY's text format. */
export function copyText(text: string | null): string {
  if (text === null) return '\\N'
  return COPY_SPECIAL.test(text) ? text.replace(COPY_SPECIALS, (c) => COPY_ESCAPES[c]!) : text
}
