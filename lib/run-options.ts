// What run() takes, and the progress it reports. Split from run.ts, which re-exports it.
import type { Checkpoint, CheckpointIdentity, CheckpointLock, CheckpointSession } from './checkpoint/index.js'
import type { FailureStore } from './dead-letter.js'
import type { ParkingOptions } from './park.js'
import type { RateControl } from './rate-control.js'
import type { ItemFailure, Sink, SortProgress, Source, Stage } from './types.js'

/** A live snapshot for progress displays. */
export interface Progress {
  readonly read: number
  readonly matched: number
  readonly written: number
  readonly skipped: number
  readonly failed: number
  readonly bytesRead: number
  readonly bytesTotal?: number
  readonly elapsedMs: number
  /** A sorting source (`--order-by`): `sorting` (reading and spilling) then `writing`, with its counts. */
  readonly sort?: SortProgress
  /** `--rate auto`: the rate events may be sent at now. */
  readonly ratePerSecond?: number
}

export interface RunOptions extends ParkingOptions {
  /** Where events come from. */
  readonly source: Source<any>
  /** Stages in order: filter, map, take, ... */
  readonly stages?: readonly Stage<any, any>[]
  /** Where events go. */
  readonly sink: Sink<any>
  /** Read and filter for real; write nothing; report what would be written. @default false */
  readonly dryRun?: boolean
  /** Stops the run gracefully: reading stops, in-flight writes finish, status `aborted`. */
  readonly signal?: AbortSignal
  /** Stop with status `failed` after this many failures (source and sink together). @default Infinity */
  readonly maxFailures?: number
  /**
   * Stop with status `failed` when more than this share (0..1) of the events read so far failed,
   * checked once at least 100 events were read (`--max-failures 5%`).
   */
  readonly maxFailureRate?: number
  /** Apply a leading filter's raw-text prefilter in line sources. @default true */
  readonly prefilter?: boolean
  /** The source URI for the report when the source does not know it. */
  readonly sourceUri?: string
  /** Called for every failed event or record (logs, metrics); see `deadLetter` to keep them. */
  readonly onFailure?: (failure: ItemFailure, event: unknown) => void
  /**
   * Keeps every failed event (the dead-letter file). If storing one fails, the run stops with that
   * error, and the checkpoint never passes the events that were not stored.
   */
  readonly deadLetter?: FailureStore
  /** The sink URI for the report when the sink does not say (passwords are redacted). */
  readonly sinkUri?: string
  /** Called with a snapshot every `progressIntervalMs`. */
  readonly onProgress?: (progress: Progress) => void
  /** @default 1000 */
  readonly progressIntervalMs?: number
  /**
   * Record the low-water mark (the position up to which every event is fully handled: written,
   * skipped, dropped by a filter, or failed and stored in `deadLetter`) in this file, atomically,
   * every `intervalMs` and at the end. Resume with `readCheckpoint` + `resumeOptions`. Only one run
   * holds a checkpoint at a time (`lockCheckpoint`); a second one is refused with
   * ERR_CHECKPOINT_LOCKED before anything is read.
   */
  readonly checkpoint?: {
    /** The local checkpoint file (or give `session`). */
    readonly file?: string
    /**
     * The checkpoint as held by this run, wherever it is kept (`openStoreSession` for DynamoDB, S3
     * or a custom store; `fileSession`): its `previous` is what the run resumes from.
     */
    readonly session?: CheckpointSession
    readonly identity: CheckpointIdentity
    /** Milliseconds between writes; 0 writes only after every batch the sink settles. @default 5000 */
    readonly intervalMs?: number
    /**
     * Also write after every batch the sink settles, before it sends the next one, so a hard kill
     * repeats at most the batches in flight (for appends and invocations, which a repeat applies
     * twice). @default false, or the sink's `checkpointEveryBatch`
     */
    readonly everyBatch?: boolean
    /** The checkpoint this run resumes from: its totals are carried over. */
    readonly previous?: Checkpoint
    /** The lock, when the caller took it before reading `previous`; run() takes one otherwise, and releases the one it took. */
    readonly lock?: CheckpointLock
  }
  /** Awaited before each read while it returns a promise (dead-letter backpressure). */
  readonly backpressure?: () => Promise<void> | undefined
  /**
   * `--rate auto`: events enter the sink at this controller's rate, and the sink's throttles and
   * successes move it (`rateControl()`); the report's `sink.rate` says what it did. A dry run only
   * reports where it would start.
   */
  readonly rate?: RateControl
}
