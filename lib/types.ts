/**
 * The three shapes of event-hydrator. A plugin is just one of these: no base class, no registration
 * needed for library use.
 *
 * - A {@link Source} is an async iterable of events (usually an async generator).
 * - A {@link Stage} turns one async iterable into another.
 * - A {@link Sink} consumes an async iterable and resolves with a {@link SinkResult}.
 */

/** Where an event came from: enough to find it again (file and line, a key, a sort value). */
export interface Position {
  /** The URI or path of the source, e.g. `events.ndjson` or `dynamo:events`. */
  readonly source: string
  /** The file the event was read from, for file sources. */
  readonly file?: string
  /** 1-based line number in `file` (NDJSON), or 1-based element index in a JSON array. */
  readonly line?: number
  /** Byte offset of the start of the line in the (uncompressed) file, for resuming. */
  readonly offset?: number
  /** Byte offset just past the line: where a resumed read starts. */
  readonly next?: number
  /** 0-based index of the element in a JSON array, or of the file in a folder. */
  readonly index?: number
  /** The primary key of a DynamoDB item, the `_id` of an OpenSearch document. */
  readonly key?: unknown
  /** OpenSearch sort values (search_after). */
  readonly sort?: readonly unknown[]
  /** Index of the event inside one stored item that holds several (DynamoDB unwrap). */
  readonly part?: number
  /**
   * What the source needs to go on just after this event, as JSON (DynamoDB: the ExclusiveStartKey
   * of every segment, a `DynamoCursor`). Checkpoints keep it; sources take it back as `resumeFrom`.
   */
  readonly cursor?: unknown
}

/** An event or data problem that the run went past: one entry in the report's failure samples. */
export interface ItemFailure {
  /** The stage or component that failed it: `source`, `filter`, `map`, `sink`, ... */
  readonly stage: string
  /** Where the event came from, when known. */
  readonly position?: Position
  /** A stable error code (see errors.ts). */
  readonly code: string
  /** What went wrong, naming the place; never the whole payload. */
  readonly message: string
  /** The key of the target row or item, for sink failures. */
  readonly key?: unknown
  /** How many attempts were made before giving up. */
  readonly attempts?: number
}

/** How an event ended in a sink. */
export type Outcome = 'written' | 'skipped' | 'failed'

/** Counters a sink keeps while it runs; `run()` reads them even when the sink throws. */
export interface SinkTally {
  received: number
  written: number
  skipped: number
  failed: number
  /** Retries made, by reason (e.g. `ThrottlingException: 3`). */
  readonly retries: Record<string, number>
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
   */
  readonly onSettled?: (events: readonly unknown[], outcomes?: readonly ({ readonly status: Outcome; readonly state?: unknown } | undefined)[]) => void
  /** How many previews to keep in a dry run. @default 5 */
  readonly previewLimit?: number
}

/** A source of events: any async iterable. File sources also expose live statistics. */
export type Source<T = unknown> = AsyncIterable<T>

/** A stage: config first, data last; `filter(pattern)` returns one. */
export type Stage<In = unknown, Out = In> = (source: AsyncIterable<In>) => AsyncIterable<Out>

/** The only place that writes: consumes events and resolves with what it did. */
export type Sink<In = unknown> = (source: AsyncIterable<In>, context?: SinkContext) => Promise<SinkResult>

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
