import { PlanOverlay, type DriverContext, type PlannedWrite } from '../define-sink.js'
import type { RowWrite } from '../mapping.js'
import { planRows, type PlannedState, type StoredRow } from '../plan-rows.js'
import { chunked, type Statement } from './statements.js'

/** What the SQL Server sink's planner needs of the sink. */
export interface SqlServerPlannerOptions {
  readonly mode: 'upsert' | 'append'
  readonly columnNames: readonly string[]
  readonly keyColumns: readonly string[]
  readonly versionColumn?: string
  readonly keyObject: (row: RowWrite) => Record<string, unknown>
  readonly statement: (rows: readonly RowWrite[], full: boolean) => Statement
  /** Runs a read-only statement, retried like a write; rejects with a stopping error as a write would. */
  readonly query: (statement: Statement, context: DriverContext) => Promise<readonly Record<string, unknown>[]>
  /** The message for an error a key's value caused (its column cannot take it), else undefined. */
  readonly rejection: (error: unknown) => string | undefined
  /** Keys whose planned state is kept. @default 1,000,000 */
  readonly maxKeys?: number
  /** Writes whose stored rows are read in full, for the previews. */
  readonly previewRows: number
}

/**
 * The dry-run planner of the SQL Server sink: per batch, one read-only SELECT (split like the writes
 * to stay under 2,100 parameters) reads the stored version of the keys no earlier batch planned (all
 * mapped columns while previews are being collected), then {@link planRows} decides. Append mode
 * inserts every event and reads nothing. `reset()` forgets the keys planned so far (a sink opened
 * again starts a new plan).
 *
 * @example
 * const planner = sqlServerPlanner({ mode: 'upsert', columnNames, keyColumns, keyObject, statement, query, rejection, previewRows: 5 })
 * const planned = await planner.plan(batch, context) // one PlannedWrite per write, in batch order
 */
export function sqlServerPlanner(o: SqlServerPlannerOptions) {
  let overlay = new PlanOverlay<PlannedState>(o.maxKeys)
  let previewsLeft = o.previewRows

  /** Reads the stored rows of `rows` (distinct keys); a key SQL Server cannot convert is bisected out and rejected. */
  const read = async (rows: readonly RowWrite[], full: boolean, stored: Map<string, StoredRow>, rejected: Map<string, string>, context: DriverContext) => {
    if (rows.length === 0) return
    let found: readonly Record<string, unknown>[]
    try {
      found = await o.query(o.statement(rows, full), context)
    } catch (error) {
      const message = o.rejection(error)
      if (message === undefined) throw error
      if (rows.length === 1) return void rejected.set(rows[0]!.keyString, message)
      const middle = Math.ceil(rows.length / 2)
      await read(rows.slice(0, middle), full, stored, rejected, context)
      await read(rows.slice(middle), full, stored, rejected, context)
      return
    }
    for (const r of found) {
      const row = rows[Number(r.row)]!
      const columns = full ? Object.fromEntries(o.columnNames.map((c, i) => [c, r[`m${i}`]])) : undefined
      const v = r.v
      const version = o.versionColumn === undefined || v === null || v === undefined ? null : typeof v === 'number' ? v : Number(v)
      stored.set(row.keyString, { version, ...(columns ? { columns } : {}) })
    }
  }

  return {
    async plan(batch: readonly RowWrite[], context: DriverContext): Promise<PlannedWrite[]> {
      if (o.mode === 'append') return batch.map((w) => ({ op: 'insert', key: o.keyObject(w), next: w.row }))
      const unknown: RowWrite[] = []
      const seen = new Set<string>()
      for (const w of batch) {
        if (seen.has(w.keyString) || overlay.has(w.keyString)) continue
        seen.add(w.keyString)
        unknown.push(w)
      }
      const full = previewsLeft > 0
      previewsLeft -= batch.length
      const stored = new Map<string, StoredRow>()
      const rejected = new Map<string, string>()
      for (const chunk of chunked(unknown, o.keyColumns.length)) await read(chunk, full, stored, rejected, context)
      return planRows(batch, stored, overlay, { versionColumn: o.versionColumn, keyObject: o.keyObject, rejected, rejectedFails: 'survivor' })
    },
    get exact(): boolean {
      return overlay.exact
    },
    /** Forgets what earlier runs planned. */
    reset(): void {
      overlay = new PlanOverlay<PlannedState>(o.maxKeys)
      previewsLeft = o.previewRows
    },
  }
}
