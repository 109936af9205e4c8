import { HydratorError } from '../errors.js'
import type { Position } from '../position.js'

/**
 * The place of an event in sorted order (`--order-by`): what a checkpoint records, since source
 * positions are not monotonic once events are sorted. A resume re-reads and re-sorts the source
 * (the sort is stable, so the order is the same) and skips the first `index + 1` events.
 */
export interface SortedPosition {
  readonly kind: 'sorted'
  /** The source URI. */
  readonly source: string
  /** The 0-based ordinal in sorted order; -1 for an unreadable record (they all come before the events). */
  readonly index: number
  /** Unreadable records reported up to here (all of them, on an event): a resume does not report these again. */
  readonly failures: number
  /** Events in sorted order: a resume whose sort finds another number refuses the checkpoint. */
  readonly total?: number
  /** Where the event (or record) came from in the source: file and line, key, ... */
  readonly origin?: Position
}

declare module '../position.js' {
  interface PositionKinds {
    sorted: SortedPosition
  }
}

/**
 * Refuses a resume whose source changed since the checkpoint: another number of events in sorted
 * order (`total`), or of unreadable records before them (`failures`).
 */
export function checkSortedResume(resume: Position | undefined, total: number, failures: number): void {
  if (!resume || resume.kind !== 'sorted') return
  if ((resume.total !== undefined && resume.total !== total) || (resume.index >= 0 && resume.failures !== failures)) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `the source changed since the checkpoint: it had ${resume.total ?? '?'} events and ${resume.failures} unreadable records in sorted order, now ${total} and ${failures}. Delete the checkpoint (and the output) to start over.`,
    )
  }
}
