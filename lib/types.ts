import type { LinePrefilter } from './pattern/prefilter.js'

/**
 * The three shapes of event-hydrator. A plugin is just one of these: no base class, no registration
 * needed for library use.
 *
 * - A {@link Source} is an async iterable of events (usually an async generator).
 * - A {@link Stage} turns one async iterable into another.
 * - A {@link Sink} consumes an async iterable and resolves with a {@link SinkResult}.
 */

/** Where an event came from (defined beside `positionOf` and `setPosition`). */
export type { Position } from './position.js'
import type { Position } from './position.js'

/** An event or data problem that the run went past (defined with the report's schema). */
export type { ItemFailure } from './report/schema.js'
import type { ItemFailure } from './report/schema.js'

/** How an event ended in a sink. */
export type Outcome = 'written' | 'skipped' | 'failed'

/** Counters a sink keeps while it runs; `run()` reads them even when the sink throws. */
export interface SinkTally {
  received: number
  written: number
  skipped: number
  failed: number
  /** Events parked behind a failure of their key (counted in `failed` too: they were not applied). */
  parked?: number
  /** Retries made, by reason (e.g. `ThrottlingException: 3`). */
  readonly retries: Record<string, number>
  /** Skips by reason (`stale: 6`, `duplicateInBatch: 2`). */
  readonly skippedBy: Record<string, number>
}

/**
 * Why an event was deliberately not applied: `stale` (the target holds this version or a newer
 * one), `duplicateInBatch` (a later event of the same key in the batch supersedes it),
 * `deleteOfMissing` (a delete of a row that is not there), or a sink's own reason.
 */
export type SkipReason = 'stale' | 'duplicateInBatch' | 'deleteOfMissing' | (string & {})

/**
 * What a dry run found the target would do, read from its current state without writing: the
 * counts equal the real run's on the same state (`written` = inserts + updates + deletes).
 */
export interface SinkPlan {
  readonly wouldInsert: number
  readonly wouldUpdate: number
  readonly wouldDelete: number
  readonly wouldSkip: number
  /**
   * False when the plan could not follow every key: it remembers the planned state of at most a
   * bounded number of keys, so on a bigger run a key planned again after that may be judged against
   * the target's state rather than the earlier planned write (counted as an insert where the real
   * run updates it, or written where it would be stale).
   */
  readonly exact: boolean
}

/** What a sink did: the sink part of the run report. */
export interface SinkResult {
  /** The sink's URI with any password redacted, e.g. `postgres://app@db/users?table=users`. */
  readonly uri: string
  readonly dryRun: boolean
  /** Events received by the sink. */
  readonly received: number
  readonly written: number
  /** Events deliberately not applied (stale versions, duplicates collapsed in a batch). */
  readonly skipped: number
  readonly failed: number
  /** Capped samples of the failures; the dead-letter file holds all of them. */
  readonly failures: readonly ItemFailure[]
  /** In a dry run: the first few writes the sink would have made. */
  readonly previews: readonly unknown[]
  /** Retries made, by reason. */
  readonly retries: Readonly<Record<string, number>>
  /** Deletes among `written`, for storage sinks with a delete mapping. */
  readonly deleted?: number
  /** Skips by reason. */
  readonly skippedBy?: Readonly<Record<string, number>>
  /** A dry run of a sink that reads its target's state: what the run would do. */
  readonly plan?: SinkPlan
  /** Events parked behind a failure of their key (among `failed`), when there were any. */
  readonly parked?: number
}

/** Options every cancellable call takes. */
export interface AbortOptions {
  /** Stops the work: sources stop reading, sinks finish what is in flight and resolve. */
  readonly signal?: AbortSignal
}

/**
 * What `run()` hands a sink besides the events; with a bare `pipe()` the sink gets none and uses
 * its own options.
 */
export interface SinkContext extends AbortOptions {
  /** Write nothing; count and preview what would be written. Overrides the sink's own option. */
  readonly dryRun?: boolean
  /** Counters to keep up to date while running, so a report can be made even after a crash. */
  readonly tally?: SinkTally
  /** Called for every event that ends as failed (for the report, the dead-letter file, limits). */
  readonly onFailure?: (failure: ItemFailure, event: unknown) => void
  /**
   * Called when events are fully handled, for checkpoints: `outcomes` (same order) say whether each
   * was written, skipped or failed, and may carry the sink's resume state after it. Without
   * `outcomes` every event counts as written. A failed event is also given to `onFailure` first.
   * When it returns a promise (a checkpoint written after every batch to a remote store), the sink
   * sends no further batch until it settles.
   */
  readonly onSettled?: (events: readonly unknown[], outcomes?: readonly ({ readonly status: Outcome; readonly state?: unknown } | undefined)[]) => void | Promise<void>
  /** How many previews to keep in a dry run. @default 5 */
  readonly previewLimit?: number
  /**
   * Parking (`onKeyFailure: 'park'`): the run's failed keys. The sink does not send an event whose
   * key failed earlier in the run; it settles it as failed and gives it to `onParked` instead.
   */
  readonly parking?: SinkParking
  /** Called for every parked event, after the failure it waits behind was given to `onFailure`. */
  readonly onParked?: (failure: ItemFailure, event: unknown) => void
  /**
   * `--rate auto`: where the sink reports its target's throttling (retried or not), so the rate
   * adapts (see `rateControl`); the writes it took are read from `tally`.
   */
  readonly rate?: ThrottleFeedback
}

/** How a write tells `--rate auto` that its target refused it for being over capacity. */
export interface ThrottleFeedback {
  /**
   * A request was refused for being over the target's capacity (a 429, ThrottlingException,
   * UnprocessedItems, a lock timeout), whether a retry then succeeded or not. `sentAt` is when the
   * refused request was sent (`performance.now()`), so one burst lowers the rate once.
   */
  throttled(reason: string, sentAt?: number): void
  /** A write starts (`true`) or ends (`false`) waiting to retry after a throttle. */
  backingOff(waiting: boolean): void
}

/**
 * The run's failed keys, as a sink asks them (`KeyParking` in lib/park.ts): the sink parks an event
 * that comes after a failure of its key, and tells it of every failure.
 */
export interface SinkParking {
  /** True when the key comes from the run's `orderKey`, not from the sink. */
  readonly byOrderKey: boolean
  /** The event's key by the run's `orderKey`. */
  keyOfEvent(event: unknown): string | undefined
  /** The failure the event at `seq` (its index in the order the sink received events) of `key` waits behind. */
  behind(key: string | undefined, seq: number): FailedKey | undefined
  /** The event at `seq` of `key` failed. */
  fail(key: string | undefined, seq: number, event: unknown): FailedKey | undefined
  /** That failure has been given to `onFailure`. */
  noted(key: string | undefined, seq: number): void
  /** An event of `key` was parked. */
  parkedOne(key: string): void
}

/** A key that failed in a run: its events after `seq` are parked behind the failed one. */
export interface FailedKey {
  readonly key: string
  /** The failed event's index in the order the sink received events; -1 for a key carried over from a crashed run. */
  readonly seq: number
  /** The failed event, as parked events name it. */
  readonly behind: NonNullable<ItemFailure['parkedBehind']>
  /** The failure was given to `onFailure` (its dead-letter line is written first). */
  noted: boolean
  /** Settlements of parked events waiting for `noted`. */
  readonly waiting: (() => void)[]
}

/**
 * What a source may offer `run()` beyond being an async iterable: every member is optional, and
 * any async iterable is a source. The built-in sources (made with `defineSource`) offer them all.
 */
export interface SourceCapabilities {
  /** Live statistics for the report and the progress line. */
  readonly stats?: SourceStats
  /** Capped samples of the records that could not be read as events. */
  readonly failures?: { readonly samples: readonly ItemFailure[] }
  /** Also tells `listener` of every unreadable record (run() dead-letters and counts them). */
  addFailureListener?(listener: (failure: ItemFailure) => void): void
  /**
   * Installs a raw-text prefilter before the first event is read (line sources): a line for which
   * it returns false provably cannot match and is counted as read and unmatched, unparsed. Returns
   * false when the source cannot prefilter.
   */
  usePrefilter?(prefilter: LinePrefilter): boolean
  /**
   * Asks the source to keep the JSON text of each event it yields (see `rawTextOf`), before the
   * first event is read; run() asks when the sink writes JSON lines and nothing in between can
   * change an event. Returns false when the source cannot.
   */
  useRawText?(): boolean
  /**
   * After {@link useRawText}: asks the source to yield each event as its text alone, unparsed
   * (`TextEvent`), where it would otherwise parse it again; run() asks when neither the stages
   * (`blind`) nor the sink (`textOnly`) look inside events. Returns false when the source cannot.
   */
  useTextOnly?(): boolean
}

/** A source of events: any async iterable, with the optional {@link SourceCapabilities}. */
export type Source<T = unknown> = AsyncIterable<T> & SourceCapabilities

/** How `run()` counts a stage: `filter` and `map` drops are unmatched; `batch` output is not counted as events. */
export type StageKind = 'filter' | 'map' | 'batch' | 'take' | 'tap' | 'other'

/**
 * How a stage reports an event it failed (a transform that threw) instead of stopping the run:
 * `run()` installs a listener before the first event; without one, the stage throws, so nothing
 * is dropped silently in a bare `pipe()`.
 */
export interface StageFailures {
  listen(listener: (failure: ItemFailure, event: unknown) => void): void
}

/** What a stage may offer `run()` beyond its shape; stages from elsewhere count as `other`. */
export interface StageCapabilities {
  readonly kind?: StageKind
  /** For filters: a raw-line test that is false only when the line provably cannot match. */
  readonly prefilter?: LinePrefilter
  /** For stages that can fail single events (`map(fn, { onError: 'fail' })`). */
  readonly failures?: StageFailures
  /**
   * The stage hands on the very events it gets, unchanged, and runs no user code on them (a
   * pattern filter, take): a sink may then write an event as the text it was read as.
   */
  readonly keepsEvents?: boolean
  /**
   * The stage never looks inside the events it gets (take), so it may be given events that carry
   * only their text (`TextEvent`, see SourceCapabilities.useTextOnly).
   */
  readonly blind?: boolean
}

/** A stage: config first, data last; `filter(pattern)` returns one. */
export type Stage<In = unknown, Out = In> = ((source: AsyncIterable<In>) => AsyncIterable<Out>) & StageCapabilities

/** What a sink may offer `run()` and the CLI beyond its shape. */
export interface SinkCapabilities {
  /** The target's URI for the report (password redacted), known even when the sink fails before resolving. */
  readonly uri?: string
  /**
   * The sink paces its own calls at this many events per second (Lambda after its ordered lanes,
   * EventBridge per request), so `--rate` puts no rate stage in front of it.
   */
  readonly pacedPerSecond?: number
  /**
   * A delivery repeated after a crash takes effect again (appends, invocations): the checkpoint is
   * written after every batch, so a hard kill repeats only the batches in flight.
   */
  readonly checkpointEveryBatch?: boolean
  /** The sink writes each event as JSON text, and writes the text it was read as when the source kept it (`rawTextOf`). */
  readonly writesRawText?: boolean
  /**
   * With {@link writesRawText}: the sink reads nothing of an event but its text (no field of it
   * names a file, a key or a partition), so it may be given events that carry only their text.
   */
  readonly textOnly?: boolean
  /**
   * `--rebuild`: the sink writes into a fresh copy of its target, which {@link SinkRebuild.swap}
   * puts in the target's place; `hydrate()` swaps once the run ends `ok`.
   */
  readonly rebuild?: SinkRebuild
}

/** What a storage sink writing beside its live target (`--rebuild`) offers (see lib/rebuild.ts). */
export interface SinkRebuild {
  /** The live target as the report names it: `public.users`, `dbo.users`, the alias, the table. */
  readonly live: string
  /** The fresh copy the sink writes into: `public.users__rebuild_1a2b3c4d`. */
  readonly table: string
  /**
   * True when the target cannot be swapped in place (DynamoDB cannot rename a table): the run
   * writes the new table and the report names it.
   */
  readonly swapless?: boolean
  /** The swap keeps the previous target under a dated name rather than dropping it. */
  readonly keepOld?: boolean
  /**
   * Swaps the copy in at once, in one transaction or request; the previous target is dropped or,
   * with `keepOld`, kept under a dated name. Rejects (nothing changed) when the copy is missing.
   */
  swap(): Promise<RebuildSwap>
}

/** What a swap did. */
export interface RebuildSwap {
  /** Where the previous target went: its dated name (`keepOld`), or undefined when it was dropped. */
  readonly old?: string
  /** The statements or requests that made the swap, for the report (no values). */
  readonly steps: readonly string[]
}

/** The only place that writes: consumes events and resolves with what it did. */
export type Sink<In = unknown> = ((source: AsyncIterable<In>, context?: SinkContext) => Promise<SinkResult>) & SinkCapabilities

/** Live statistics a source keeps; `run()` reads them for the report. */
export interface SourceStats {
  /** The source URI (passwords redacted). */
  readonly uri: string
  /** Events yielded. */
  read: number
  /** Records that could not be turned into events (not JSON, not an object). */
  failed: number
  /** Lines that the raw-text prefilter proved could not match and so were never parsed. */
  prefiltered: number
  /** Bytes consumed so far, for progress. */
  bytesRead: number
  /** Total bytes, when known (files), for progress percent and ETA. */
  bytesTotal?: number
  /** Where the source started, for a resumed run. */
  startedAt?: Position
  /** Worker threads that found lines for this source (NDJSON files read on a second core). */
  workerThreads?: number
  /**
   * A source that reads everything before it yields (`--order-by`): its phase (`sorting` while it
   * reads and spills, `writing` once it yields), events read and runs spilled so far, and the events
   * in sorted order once known. The progress line shows it.
   */
  readonly sort?: SortProgress
}

/** Where a sorting source stands (see {@link SourceStats.sort}). */
export interface SortProgress {
  readonly phase: 'sorting' | 'writing'
  /** Events read in the sorting phase. */
  readonly read: number
  /** Sorted runs spilled to the temp folder. */
  readonly runs: number
  /** Events in sorted order, once the sorting phase is over. */
  readonly total?: number
}

/** Options shared by every built-in source. */
export interface SourceOptions extends AbortOptions {
  /**
   * Called for every record that cannot be read as an event. Without it, failures are counted in
   * `stats` and reading goes on until `maxFailures`.
   */
  readonly onFailure?: (failure: ItemFailure) => void
  /**
   * Stop with ERR_TOO_MANY_FAILURES after this many unreadable records.
   * @default Infinity
   */
  readonly maxFailures?: number
}
