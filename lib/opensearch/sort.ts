import { HydratorError } from '../errors.js'

/**
 * One sort key: `'time'`, `'time:desc'`, or OpenSearch's own form `{ time: 'desc' }` /
 * `{ time: { order: 'desc', missing: '_first' } }`.
 */
export type OpenSearchSort = string | Readonly<Record<string, 'asc' | 'desc' | Readonly<Record<string, unknown>>>>

/** OpenSearch sort values of a hit: what `search_after` takes to go on after it. */
export type OpenSearchCursor = readonly (string | number | boolean | null)[]

/** One sort key, normalized. */
export interface SortKey {
  readonly field: string
  readonly desc: boolean
  readonly missingFirst: boolean
  /** The sort clause as sent. */
  readonly clause: Record<string, unknown>
}

/**
 * The sort keys of `sort` (`'time'`, `'time:desc'`, `{ time: 'desc' }`, `{ time: { order, missing } }`),
 * each with the clause sent to OpenSearch. Throws ERR_INVALID_OPTION for anything else, echoing it.
 */
export function normalizeSort(raw: unknown): SortKey[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`sort\` to be a non-empty array of fields, a time field and a unique tiebreaker such as ['time', 'id'], got \`${JSON.stringify(raw) ?? String(raw)}\``,
    )
  }
  return raw.map((entry): SortKey => {
    if (typeof entry === 'string') {
      const m = /^([^:]+?)(?::(asc|desc))?$/.exec(entry.trim())
      if (!m || !m[1]) throw new HydratorError('ERR_INVALID_OPTION', `expected a sort field such as \`time\` or \`time:desc\`, got \`${entry}\``)
      const desc = m[2] === 'desc'
      return { field: m[1], desc, missingFirst: false, clause: { [m[1]]: { order: desc ? 'desc' : 'asc' } } }
    }
    if (entry && typeof entry === 'object' && !Array.isArray(entry) && Object.keys(entry).length === 1) {
      const [field, spec] = Object.entries(entry as Record<string, unknown>)[0]!
      if (spec === 'asc' || spec === 'desc') return { field, desc: spec === 'desc', missingFirst: false, clause: { [field]: { order: spec } } }
      if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
        const s = spec as Record<string, unknown>
        if (s.order !== undefined && s.order !== 'asc' && s.order !== 'desc') {
          throw new HydratorError('ERR_INVALID_OPTION', `expected the sort order of \`${field}\` to be asc or desc, got \`${String(s.order)}\``)
        }
        return { field, desc: s.order === 'desc', missingFirst: s.missing === '_first', clause: { [field]: { ...s } } }
      }
    }
    throw new HydratorError('ERR_INVALID_OPTION', `expected a sort key such as \`'time'\`, \`'time:desc'\` or \`{ time: 'desc' }\`, got \`${JSON.stringify(entry)}\``)
  })
}

/** `resumeAfter` checked against the sort: an array of as many sort values as there are sort keys. */
export function validateCursor(cursor: unknown, sort: readonly SortKey[]): OpenSearchCursor {
  if (!Array.isArray(cursor) || cursor.some((v) => v !== null && !['string', 'number', 'boolean'].includes(typeof v))) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`resumeAfter\` to be an array of sort values such as [1704067200000, 'e-42'], got \`${JSON.stringify(cursor) ?? String(cursor)}\``)
  }
  if (cursor.length !== sort.length) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `\`resumeAfter\` has ${cursor.length} sort value(s) but the sort has ${sort.length} (${sort.map((s) => s.field).join(', ')}): resume with the sort of the run that made it`,
    )
  }
  return [...cursor] as OpenSearchCursor
}

/** Compares two hits' sort values the way OpenSearch ordered them (code point order for strings). */
export function compareCursors(a: OpenSearchCursor, b: OpenSearchCursor, sort: readonly SortKey[]): number {
  for (let i = 0; i < sort.length; i++) {
    const x = a[i] ?? null
    const y = b[i] ?? null
    if (x === y) continue
    if (x === null || y === null) return (x === null ? 1 : -1) * (sort[i]!.missingFirst ? -1 : 1)
    let c: number
    if (typeof x === 'number' && typeof y === 'number') c = x - y
    else c = compareCodePoints(String(x), String(y))
    if (c !== 0) return sort[i]!.desc ? -c : c
  }
  return 0
}

function compareCodePoints(x: string, y: string): number {
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const cx = x.codePointAt(i)!
    const cy = y.codePointAt(i)!
    if (cx !== cy) return cx < cy ? -1 : 1
    if (cx > 0xffff) i++
  }
  return x.length - y.length
}
