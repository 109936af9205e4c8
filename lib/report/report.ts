import type { CheckpointTotals } from '../checkpoint/tracker.js'
import type { ItemFailure, Position } from '../types.js'

/** How a run ended. */
export type RunStatus = 'ok' | 'partial' | 'failed' | 'aborted'

/** One stage's counts: events in and out (batches counted by their events). */
export interface StageCount {
  readonly name: string
  readonly kind: string
  readonly in: number
  readonly out: number
  /** Events the stage failed (a transform that threw); present when there were any. */
  readonly failed?: number
}

/** Where a run's checkpoint stands when the run ends. */
export interface RunCheckpoint {
  readonly file: string
  /** Everything up to and including this position is handled; a resume starts just after it. */
  readonly position?: Position
  /** Every event was handled: running the same command again does nothing. */
  readonly complete: boolean
  /**
   * Failures in no dead-letter file (none was given, or it could not be written): they hold the
   * checkpoint before them, so a resume reads them again.
   */
  readonly held: number
  /** Totals up to `position`, over this run and the runs it resumed. */
  readonly totals: CheckpointTotals
  /** The last checkpoint write failed (a resume then starts from an earlier checkpoint). */
  readonly error?: { readonly code: string; readonly message: string }
}

/**
 * The report of a run, dry or not: a plain JSON-serialisable value (schema: lib/report/schema.ts,
 * published as `reportSchema`). It always adds up: `source.read = filter.matched +
 * filter.unmatched`, and without a fan-out map `filter.matched = sink.written + sink.skipped +
 * sink.failed`.
 */
export interface RunReport {
  /** `ok`: everything handled; `partial`: some events failed; `failed`: the run stopped early on an
   * error or too many failures; `aborted`: stopped by a signal. */
  readonly status: RunStatus
  readonly dryRun: boolean
  /** ISO 8601. */
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationMs: number
  readonly source: {
    readonly uri: string
    /** Events read (records that were valid events). */
    readonly read: number
    /** Records that could not be read as events (not JSON, not an object). */
    readonly failed: number
    /** Where a resumed run started. */
    readonly startedAt?: Position
  }
  readonly filter: {
    readonly matched: number
    readonly unmatched: number
    /** Of `unmatched`: lines the raw-text prefilter skipped without parsing. */
    readonly prefiltered: number
  }
  readonly sink: {
    readonly uri: string
    readonly received: number
    readonly written: number
    readonly skipped: number
    readonly failed: number
    /** Of `written`: deletes. */
    readonly deleted: number
    /** Dry runs: the first few writes the sink would have made. */
    readonly previews: readonly unknown[]
    /** Retries made, by reason. */
    readonly retries: Readonly<Record<string, number>>
  }
  readonly failures: {
    /** Source and sink failures together. */
    readonly count: number
    /** The first failures (capped); the dead-letter file holds all. */
    readonly samples: readonly ItemFailure[]
  }
  readonly stages: readonly StageCount[]
  /** Events read per second of wall time. */
  readonly eventsPerSecond: number
  /** Why the run stopped, for `failed` and `aborted`. */
  readonly error?: { readonly code: string; readonly message: string }
  /** With a checkpoint: where it stands. */
  readonly checkpoint?: RunCheckpoint
}
