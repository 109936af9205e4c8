// The dry-run plan of the SQL sinks (PostgreSQL, SQL Server): what their version-guarded upserts and
// deletes would do to each row, decided from the stored rows a read-only SELECT found. Pure.
import type { PlannedWrite } from './define-sink.js'
import type { PlanOverlay } from './plan-overlay.js'
import { collapseByKey, type RowWrite } from './mapping.js'

/** A row as a dry run read it: its version (null without one) and, for previews, its mapped columns. */
export interface StoredRow {
  readonly version: number | null
  readonly columns?: Readonly<Record<string, unknown>>
}

/** The planned state of a key: its row's version (null: none), or undefined once a planned delete removed it. */
export type PlannedState = number | null | undefined

/** What {@link planRows} needs besides the batch. */
export interface PlanRowsOptions {
  readonly versionColumn?: string
  readonly keyObject: (row: RowWrite) => Record<string, unknown>
  /** Keys the database cannot take (a key its column type rejects), with its message: their writes fail. */
  readonly rejected?: ReadonlyMap<string, string>
  /**
   * Which writes of a rejected key fail: `every` (PostgreSQL: a rejected survivor lets the next write
   * of its key try, which meets the same rejection) or `survivor` (SQL Server skips the superseded
   * writes before it writes the survivor, whatever becomes of it). @default 'every'
   */
  readonly rejectedFails?: 'every' | 'survivor'
}

/**
 * Says per write what a SQL sink's upsert (or MERGE) and delete do to a batch, as they do it: same-key writes
 * collapse to the survivor of {@link collapseByKey} (the others `duplicateInBatch`); an upsert inserts
 * a missing row and updates a present one unless the version guard keeps it (`stale`: a version not
 * higher; a NULL version is overwritten); a delete removes a present row under the same guard, and a
 * delete of a missing row changes nothing (`deleteOfMissing`). A key's row before the batch is its
 * planned state in `overlay` when an earlier batch planned it, else `stored` (absent when not there);
 * the keys a write changes get their planned state in `overlay`.
 *
 * @example
 * planRows([upsertA2], new Map([['["a"]', { version: 1 }]]), new PlanOverlay(), options) // [{ op: 'update', key: { id: 'a' }, ... }]
 */
export function planRows(
  rows: readonly RowWrite[],
  stored: ReadonlyMap<string, StoredRow>,
  overlay: PlanOverlay<PlannedState>,
  { versionColumn, keyObject, rejected, rejectedFails = 'every' }: PlanRowsOptions,
): PlannedWrite[] {
  // Every key's row before the batch, taken before any write of the batch changes the overlay.
  const before = new Map<string, StoredRow | undefined>()
  for (const row of rows) {
    const k = row.keyString
    if (before.has(k)) continue
    if (overlay.has(k)) {
      const planned = overlay.get(k)
      before.set(k, planned === undefined ? undefined : { version: planned })
    } else before.set(k, stored.get(k))
  }
  const { survivorOf } = collapseByKey(rows)
  return rows.map((row, i): PlannedWrite => {
    const key = keyObject(row)
    const failed = rejected?.get(row.keyString)
    if (failed !== undefined && rejectedFails === 'every') return { op: 'fail', code: 'ERR_WRITE_REJECTED', message: failed, key }
    const state = before.get(row.keyString)
    const current = state === undefined ? undefined : (state.columns ?? { ...key, ...(versionColumn !== undefined ? { [versionColumn]: state.version } : {}) })
    const next = row.op === 'delete' ? undefined : row.row
    const shown = { key, ...(current !== undefined ? { current } : {}), ...(next !== undefined ? { next } : {}) }
    if (survivorOf[i] !== i) return { op: 'skip', reason: 'duplicateInBatch', ...shown }
    if (failed !== undefined) return { op: 'fail', code: 'ERR_WRITE_REJECTED', message: failed, key }
    const stale = state !== undefined && versionColumn !== undefined && state.version !== null && state.version >= row.version!
    if (row.op === 'delete') {
      if (state === undefined) return { op: 'skip', reason: 'deleteOfMissing', ...shown }
      if (stale) return { op: 'skip', reason: 'stale', ...shown }
      overlay.set(row.keyString, undefined)
      return { op: 'delete', ...shown }
    }
    if (stale) return { op: 'skip', reason: 'stale', ...shown }
    overlay.set(row.keyString, row.version ?? null)
    return { op: state === undefined ? 'insert' : 'update', ...shown }
  })
}
