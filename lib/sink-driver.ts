// What a sink driver is made of (the shape defineSink() drives): its writes, their outcomes, the
// context a driver gets, and the sink's options. Split from define-sink.ts, which re-exports it.
import { HydratorError, isConfigError, type ErrorCode } from './errors.js'
import type { BatchParking } from './stages/park-sink.js'
import type { AbortOptions, Outcome, SkipReason, ThrottleFeedback } from './types.js'

/** How one write of a batch ended, in the order of the batch. */
export interface WriteOutcome {
  /** `parked`: not sent, because `context.parking` said so (drivers that start writes in lanes of their own). */
  readonly status: Outcome | 'parked'
  /** For `failed`: a stable code (ERR_WRITE_REJECTED, ...) or the target's own (a SQLSTATE, an AWS error name). */
  readonly code?: ErrorCode | (string & {})
  /** For `failed`: the target's own message, naming the key. */
  readonly message?: string
  /** The key of the row or item, for the report. */
  readonly key?: unknown
  readonly attempts?: number
  /** The write was a delete (counted in `deleted` as well as `written`). */
  readonly deleted?: boolean
  /** For `skipped`: why (`stale`, `duplicateInBatch`, `deleteOfMissing`, ...). */
  readonly reason?: SkipReason
  /**
   * What the sink needs to resume exactly just after this event (the NDJSON sink: the file's
   * length after its line); a checkpoint records the state of the last event it covers.
   */
  readonly state?: unknown
}

/** The outcome of a write the driver did not send because parking said so (`context.parking`). */
export const PARKED: WriteOutcome = Object.freeze({ status: 'parked' })

/**
 * True for an error that means the target cannot take any more writes (a full disk, a closed
 * output): the run stops with it instead of failing every later event the same way.
 */
export function stopsRun(error: unknown): boolean {
  return isConfigError(error) || (error instanceof HydratorError && error.code === 'ERR_OUTPUT')
}

/**
 * What a driver gets besides its batch. `signal` is set for `open()` only: once a write has started
 * it always finishes (a stopped run lets writes in flight end, so none is turned into a failure).
 */
export interface DriverContext extends AbortOptions {
  readonly dryRun: boolean
  /** Count a retry under a reason, e.g. `ProvisionedThroughputExceededException`. */
  readonly retried: (reason: string) => void
  /**
   * `--rate auto`: give it to `withRetry` as `throttle`, with the target's own `isThrottle`, so
   * throttling lowers the rate. Undefined when the rate does not adapt.
   */
  readonly throttle?: ThrottleFeedback
  /**
   * Set while the run parks failed keys (see {@link BatchParking}), for drivers that start a write
   * of a key after another may have failed: lanes (`orderKeyOf`), or a batch in which a write fails
   * before the rest is sent. defineSink itself parks whole events before it sends a batch.
   */
  readonly parking?: BatchParking
}

/**
 * The part of a sink that knows its target. `defineSink` adds the rest: batching, batches in
 * flight, per-key order, dry runs and previews, counting, failure samples and abort handling.
 */
export interface SinkDriver<In, W> {
  /** The target's URI for the report, password redacted. */
  readonly uri: string
  /** Checks the target before any event is read (table exists, columns exist); throws a HydratorError. */
  open?(context: DriverContext): Promise<void>
  /** Turns an event into a write; a thrown error fails only this event (e.g. ERR_MAPPING). */
  prepare?(event: In): W
  /** A string key: two in-flight batches never share one, so writes to a key stay in order. */
  keyOf?(write: W): string | undefined
  /**
   * Same-key writes of a batch (by `keyOf`) collapse to one, so a write never succeeds after an
   * earlier one of its key in the same batch failed: parking by that key need not split batches.
   */
  readonly collapsesByKey?: boolean
  /**
   * The driver applies a batch's writes in order and asks `context.parking` before each one it
   * starts, marking a key failed as soon as a write of it fails: a write never succeeds after an
   * earlier one of its key in the same batch failed, so parking need not split batches.
   */
  readonly parksInBatch?: boolean
  /**
   * The driver keeps per-key order itself (lanes) by this key, and asks `context.parking` before
   * each write starts; parking uses this key. @default none: batches of one key never overlap
   */
  orderKeyOf?(write: W): string | undefined
  /** The size of a write in bytes, for `maxBatchBytes`. */
  sizeOf?(write: W): number
  /**
   * Writes a batch, resolving with one outcome per write in batch order. Retries passing errors
   * itself; a rejection fails the whole batch (or the run, for configuration errors).
   */
  write(batch: readonly W[], context: DriverContext): Promise<readonly WriteOutcome[]>
  /** What a dry run shows for a write. @default the write itself */
  preview?(write: W): unknown
  /**
   * Dry runs that show a plan: reads the target's current state for the writes of a batch (read-only
   * queries) and says, per write in batch order, what the real write would do. Without it a dry run
   * counts every write as written. The driver keeps the planned state of the keys it planned (in a
   * {@link PlanOverlay}) so a key planned again is judged against that, as the real run would be.
   */
  plan?(batch: readonly W[], context: DriverContext): Promise<readonly PlannedWrite[]>
  /** False once the plan's overlay forgot keys (see {@link PlanOverlay}). @default true */
  planIsExact?(): boolean
  /** Releases connections; called once, also after errors. */
  close?(): Promise<void>
}

/** What the real write of one event would do, as a dry run found it. */
export type PlannedWrite =
  | { readonly op: 'insert' | 'update' | 'delete'; readonly key?: unknown; readonly current?: unknown; readonly next?: unknown }
  | { readonly op: 'skip'; readonly reason: SkipReason; readonly key?: unknown; readonly current?: unknown; readonly next?: unknown }
  | { readonly op: 'fail'; readonly code: string; readonly message: string; readonly key?: unknown }

/** Options every built-in sink takes. */
export interface SinkOptions extends AbortOptions {
  /** Events per write request. */
  readonly batchSize?: number
  /** Bytes per write request, when the driver can size writes. */
  readonly maxBatchBytes?: number
  /** Batches in flight at once; writes to one key always stay in order. @default 1 */
  readonly concurrency?: number
  /** Previews kept in a dry run. @default 5 */
  readonly previewLimit?: number
}
