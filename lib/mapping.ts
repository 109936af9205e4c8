import { HydratorError } from './errors.js'
import { compilePattern, type EventPattern } from './pattern/index.js'
import { compileProjection } from './util/json-path.js'

/**
 * How events become rows (or items, or documents): shared by every storage sink. The CLI builds it
 * from `--column`, `--key`, `--version-column`, `--delete-when` and `--table`.
 */
export interface Mapping {
  /** Column name -> JSON path in the event (`detail.aggregateId`; `.` is the whole event). */
  readonly columns: Readonly<Record<string, string>>
  /** The key column(s), among the mapped ones. */
  readonly key: readonly string[]
  /** A mapped column whose value guards writes: only a higher version overwrites. */
  readonly versionColumn?: string
  /** Events matching this EventBridge pattern (or predicate) delete the row with their key. */
  readonly deleteWhen?: EventPattern | ((event: unknown) => boolean)
}

/** One event turned into a row operation. */
export interface RowWrite {
  readonly op: 'upsert' | 'delete'
  /** Every mapped column with its value; a missing path is null. */
  readonly row: Readonly<Record<string, unknown>>
  /** Key values in `mapping.key` order. */
  readonly key: readonly unknown[]
  /** A string form of the key, unique per key, for grouping and ordering. */
  readonly keyString: string
  /** The version, when the mapping has a version column. */
  readonly version?: number
}

/** A mapped event; the key's string form is made only when something groups or orders by it. */
class MappedRow implements RowWrite {
  #keyString: string | undefined
  constructor(
    readonly op: 'upsert' | 'delete',
    readonly row: Readonly<Record<string, unknown>>,
    readonly key: readonly unknown[],
    readonly version: number | undefined,
  ) {}

  get keyString(): string {
    return (this.#keyString ??= JSON.stringify(this.key))
  }

  toJSON() {
    return { op: this.op, row: this.row, key: this.key, keyString: this.keyString, ...(this.version !== undefined ? { version: this.version } : {}) }
  }
}

export interface CompiledMapping {
  readonly mapping: Mapping
  readonly columnNames: readonly string[]
  /** Maps an event; throws HydratorError ERR_MAPPING when a key or version is missing or wrong. */
  toRow(event: unknown): RowWrite
}

/**
 * Validates a mapping and compiles its paths and delete pattern once.
 *
 * @example
 * const m = compileMapping({ columns: { id: 'detail.id', version: 'detail.version' }, key: ['id'], versionColumn: 'version' })
 * m.toRow(event) // { op: 'upsert', row: { id: 'a', version: 3 }, key: ['a'], keyString: '["a"]', version: 3 }
 */
export function compileMapping(mapping: Mapping): CompiledMapping {
  if (!mapping || typeof mapping.columns !== 'object' || Object.keys(mapping.columns).length === 0) {
    throw new HydratorError('ERR_INVALID_OPTION', 'a mapping needs at least one column (`--column name=json.path`)')
  }
  const columnNames = Object.keys(mapping.columns)
  const project = compileProjection(mapping.columns)
  const key = [...(mapping.key ?? [])]
  if (key.length === 0) {
    throw new HydratorError('ERR_INVALID_OPTION', `a mapping needs a key (\`--key\`), one or more of: ${columnNames.join(', ')}`)
  }
  for (const k of key) {
    if (!columnNames.includes(k)) {
      throw new HydratorError('ERR_INVALID_OPTION', `key column \`${k}\` is not mapped; add \`--column ${k}=<json path>\``)
    }
  }
  const versionColumn = mapping.versionColumn
  if (versionColumn !== undefined && !columnNames.includes(versionColumn)) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `version column \`${versionColumn}\` is not mapped; add \`--column ${versionColumn}=<json path>\``,
    )
  }
  const isDelete =
    mapping.deleteWhen === undefined
      ? undefined
      : typeof mapping.deleteWhen === 'function'
        ? mapping.deleteWhen
        : compilePattern(mapping.deleteWhen)

  return {
    mapping,
    columnNames,
    toRow(event) {
      const row = project(event)
      const keyValues: unknown[] = new Array(key.length)
      for (let i = 0; i < key.length; i++) {
        const k = key[i]!
        const v = row[k]
        if (v === null || v === undefined || v === '') {
          throw new HydratorError('ERR_MAPPING', `key column \`${k}\` (${mapping.columns[k]}) is missing in the event`)
        }
        if (typeof v === 'object') {
          throw new HydratorError('ERR_MAPPING', `key column \`${k}\` (${mapping.columns[k]}) is an object or array, expected a string or number`)
        }
        keyValues[i] = v
      }
      let version: number | undefined
      if (versionColumn !== undefined) {
        const raw = row[versionColumn]
        version = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : (raw as number)
        if (typeof version !== 'number' || !Number.isFinite(version)) {
          throw new HydratorError(
            'ERR_MAPPING',
            `version column \`${versionColumn}\` (${mapping.columns[versionColumn]}) must be a number, got ${raw === null ? 'nothing' : JSON.stringify(raw)}`,
          )
        }
        row[versionColumn] = version
      }
      return new MappedRow(isDelete?.(event) ? 'delete' : 'upsert', row, keyValues, version)
    },
  }
}

/**
 * Collapses writes that share a key within one batch, so no statement touches a key twice. The
 * survivor is the highest version (versioned), or the last one (unversioned); the others are
 * superseded: the survivor's effect is the one sequential application would leave.
 * Returns, per input index, the index of its survivor (itself when it survives).
 */
export function collapseByKey(writes: readonly RowWrite[]): { survivors: number[]; survivorOf: number[] } {
  const byKey = new Map<string, number>()
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!
    const current = byKey.get(w.keyString)
    if (current === undefined) {
      byKey.set(w.keyString, i)
    } else if (w.version === undefined || w.version > (writes[current]!.version ?? -Infinity)) {
      byKey.set(w.keyString, i)
    }
  }
  const survivorOf = writes.map((w) => byKey.get(w.keyString)!)
  const survivors = [...byKey.values()].sort((a, b) => a - b)
  return { survivors, survivorOf }
}
