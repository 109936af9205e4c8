import { PlanOverlay, type DriverContext, type PlannedWrite } from '../define-sink.js'
import type { RowWrite } from '../mapping.js'
import { planRows, type PlannedState, type StoredRow } from '../plan-rows.js'
import { columnArrays, type PgWrite } from './encode.js'
import type { Statements } from './statements.js'

/**
 * A version as the client returns it (int8 and numeric come as text) as a number; null stays null.
 *
 * @example
 * versionNumber('12') // 12
 */
export function versionNumber(value: unknown): number | null {
  if (value === null || value === undefined) return null
  return typeof value === 'number' ? value : Number(value)
}

/** What the PostgreSQL sink's planner needs of the sink. */
export interface PostgresPlannerOptions {
  readonly mode: 'upsert' | 'append'
  readonly columnNames: readonly string[]
  readonly keyIndexes: readonly number[]
  readonly versionColumn?: string
  readonly keyObject: (row: RowWrite) => Record<string, unknown>
  readonly statements: () => Pick<Statements, 'planRead' | 'planReadRows'>
  /** Runs a read-only statement, retried like a write; rejects with a stopping error as a write would. */
  readonly query: (text: string, parameters: readonly string[], context: DriverContext) => Promise<readonly Record<string, unknown>[]>
  /** The message for an error a key's value caused (its column's type cannot take it), else undefined. */
  readonly rejection: (error: unknown) => string | undefined
  /** Keys whose planned state is kept. @default 1,000,000 */
  readonly maxKeys?: number
  /** Writes whose stored rows are read in full, for the previews. */
  readonly previewRows: number
}

/**
 * The dry-run planner of the PostgreSQL sink: per batch, one read-only statement reads the stored
 * version of the keys no earlier batch planned (all mapped columns while previews are being
 * collected), then {@link planRows} decides. Append mode inserts every event and reads nothing.
 * `reset()` forgets the keys planned so far (a sink opened again starts a new plan).
 *
 * @example
 * const planner = postgresPlanner({ mode: 'upsert', columnNames, keyIndexes, keyObject, statements, query, rejection, previewRows: 5 })
 * const planned = await planner.plan(batch, context) // one PlannedWrite per write, in batch order
 */
export function postgresPlanner(o: PostgresPlannerOptions) {
  let overlay = new PlanOverlay<PlannedState>(o.maxKeys)
  let previewsLeft = o.previewRows

  /** Reads the stored rows of `writes` (distinct keys); a key PostgreSQL cannot cast is bisected out and rejected. */
  const read = async (writes: readonly PgWrite[], full: boolean, stored: Map<string, StoredRow>, rejected: Map<string, string>, context: DriverContext) => {
    if (writes.length === 0) return
    const s = o.statements()
    let found: readonly Record<string, unknown>[]
    try {
      found = await o.query(full ? s.planReadRows : s.planRead, columnArrays(writes, o.keyIndexes), context)
    } catch (error) {
      const message = o.rejection(error)
      if (message === undefined) throw error
      if (writes.length === 1) return void rejected.set(writes[0]!.row.keyString, message)
      const middle = Math.ceil(writes.length / 2)
      await read(writes.slice(0, middle), full, stored, rejected, context)
      await read(writes.slice(middle), full, stored, rejected, context)
      return
    }
    for (const r of found) {
      // postgres 3.4.9 leaves holes at the start of a result after an error that came mid-result.
      if (r?.found !== true) continue
      const w = writes[Number(r.o) - 1]!
      const columns = full ? Object.fromEntries(o.columnNames.map((c, i) => [c, r[`m${i}`]])) : undefined
      stored.set(w.row.keyString, { version: o.versionColumn === undefined ? null : versionNumber(r.v), ...(columns ? { columns } : {}) })
    }
  }

  return {
    async plan(batch: readonly PgWrite[], context: DriverContext): Promise<PlannedWrite[]> {
      if (o.mode === 'append') return batch.map((w) => ({ op: 'insert', key: o.keyObject(w.row), next: w.row.row }))
      const unknown: PgWrite[] = []
      const seen = new Set<string>()
      for (const w of batch) {
        const k = w.row.keyString
        if (seen.has(k) || overlay.has(k)) continue
        seen.add(k)
        unknown.push(w)
      }
      const full = previewsLeft > 0
      previewsLeft -= batch.length
      const stored = new Map<string, StoredRow>()
      const rejected = new Map<string, string>()
      await read(unknown, full, stored, rejected, context)
      return planRows(batch.map((w) => w.row), stored, overlay, { versionColumn: o.versionColumn, keyObject: o.keyObject, rejected })
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
