// What hydrate() takes: the CLI's flags, camel-cased. Split from hydrate.ts, which re-exports it.
import type { Readable, Writable } from 'node:stream'
import type { CheckpointStore } from './checkpoint/index.js'
import type { EventPattern } from './pattern/index.js'
import type { Plugin } from './registry.js'
import type { Progress } from './run-options.js'
import type { Share } from './share.js'
import type { Sink, Source } from './types.js'

/** A filter rule: an EventBridge pattern, a pattern file or inline JSON, or a predicate. */
export type HydrateFilter = EventPattern | string | ((event: any) => boolean)

/**
 * What {@link hydrate} takes: the CLI's flags, camel-cased, with the same names and defaults
 * (`--batch-size` is `batchSize`, `--dead-letter` is `deadLetter`). Source and sink are URIs or
 * objects; every URI goes through the same registry as the CLI's.
 */
export interface HydrateOptions {
  /** Where events come from: a URI (`json:./events.ndjson`, `dynamo:events`, ...) or any source. */
  readonly source: string | Source<any>
  /** Where events go: a URI (`postgres://...?table=users`, `dynamo:users`, ...) or any sink. @default 'ndjson:-' */
  readonly sink?: string | Sink<any>
  /** EventBridge pattern(s) selecting the events (a pattern, a file or inline JSON, a predicate); several mean any. */
  readonly filter?: HydrateFilter | readonly HydrateFilter[]
  /** Maps each event (a function, or a module whose default export is one); undefined drops, an array fans out. A throw fails that event (ERR_TRANSFORM). */
  readonly transform?: ((event: any) => unknown) | string
  /** Storage mapping: `name=json.path` (repeatable), or `{ name: 'json.path' }`. */
  readonly column?: string | readonly string[] | Readonly<Record<string, string>>
  /** The key column(s): `id`, `tenant,id`, or a list. */
  readonly key?: string | readonly string[]
  /** A mapped column whose higher value wins; older or equal versions are skipped. */
  readonly versionColumn?: string
  /** Events matching this pattern (or a file, inline JSON, a predicate) delete their row. */
  readonly deleteWhen?: HydrateFilter
  /** The target table (a sink URI's `?table=` wins). */
  readonly table?: string
  /** Read and filter for real, write nothing; storage sinks report a plan. @default false */
  readonly dryRun?: boolean
  /**
   * Record progress here and resume from it when it exists: a local file (one run at a time:
   * `<file>.lock`), a store URI (`dynamo:table/run-id`, `s3://bucket/key`, or a plugin's scheme;
   * one worker at a time through a lease), or a {@link CheckpointStore}. With a `share`, each share
   * has its own: `run.share-2-of-16.ckpt`, `dynamo:table/run-id/share-2-of-16`.
   */
  readonly checkpoint?: string | CheckpointStore
  /**
   * Store checkpoints: how long the lease lasts without a write renewing it (ms; a worker that
   * died frees its share after this), or a function giving the lease's end as epoch ms (the Lambda
   * handler: the invocation's deadline). @default 60000
   */
  readonly checkpointLease?: number | (() => number)
  /** Run one share of a split run: one element of what `hydrate plan --shares N` printed (object or JSON). */
  readonly share?: Share | string
  /** Milliseconds between checkpoint writes. @default 5000 */
  readonly checkpointInterval?: number
  /** Append every failed event to this NDJSON file (a valid source for a redrive). */
  readonly deadLetter?: string
  /** Stop (status failed) after this many failures, or this share of the events read (`'5%'`). @default no limit */
  readonly maxFailures?: number | string
  /** Stop after this many matched events. */
  readonly limit?: number
  /** Events per write request. @default the sink's */
  readonly batchSize?: number
  /** Writes or invocations in flight (events with one `orderKey` stay in order). */
  readonly concurrency?: number
  /** JSON path whose value keeps events in order under `concurrency`; also the key parking follows. */
  readonly orderKey?: string
  /**
   * Once an event of a key fails: `park` keeps the key's later events from the target and puts them
   * in the dead-letter file behind it, in order; `continue` sends them. The key is `orderKey`, else
   * the storage mapping's `key`; events without one are never parked. @default 'park'
   */
  readonly onKeyFailure?: 'park' | 'continue'
  /** Parking: failed keys held at most; past it the run stops (ERR_TOO_MANY_FAILED_KEYS). @default 100000 */
  readonly maxFailedKeys?: number
  /**
   * Pace the sink: `'50/s'`, `'3000/m'`, events per second, or `'auto'`: start modestly, grow while
   * writes succeed, back off multiplicatively when the target throttles (see `rateControl`).
   */
  readonly rate?: string | number
  /** With `rate: 'auto'`: the ceiling, `'500/s'` or events per second. @default no ceiling */
  readonly maxRate?: string | number
  /**
   * Storage sinks: write into a fresh copy of the target (`<table>__rebuild_<run>`) and, when the run
   * ends `ok`, swap it in at once (DynamoDB: write the new table, which it cannot rename). A resume
   * from the same checkpoint goes on into the same copy. Not with `share`. @default false
   */
  readonly rebuild?: boolean
  /** With `rebuild`: keep the previous target as `<table>__old_<yyyymmddhhmmss>` instead of dropping it. @default false */
  readonly keepOld?: boolean
  /** Sort the events by these JSON paths before the filter (`'time'`, `'detail.sequence,id'`): a stable external merge sort. */
  readonly orderBy?: string | readonly string[]
  /** Events without the `orderBy` key: fail (ERR_ORDER_KEY_MISSING), or sort first or last. @default 'fail' */
  readonly orderMissing?: 'fail' | 'first' | 'last'
  /**
   * Memory for sorting before runs are spilled: bytes, or `'64MB'`. A worker thread that parses an
   * NDJSON file for the sort takes three eighths of it (at most 96 MiB) for itself. @default '256MB'
   */
  readonly sortMemory?: number | string
  /** Where sorted runs are spilled (a folder of its own, removed at the end). @default os.tmpdir() */
  readonly tempDir?: string
  /** Plugins adding schemes: modules (paths or package names) or plugin objects. */
  readonly plugins?: readonly (string | Plugin)[]
  /** Stops the run gracefully: reading stops, writes in flight finish, status `aborted`. */
  readonly signal?: AbortSignal
  /** Called about once a second with the counts so far. */
  readonly onProgress?: (progress: Progress) => void
  /** Skip NDJSON lines that provably cannot match without parsing them. @default true */
  readonly prefilter?: boolean
  /** Delivery sinks: the `replay-name` marking hydration events (`false` or `''` for none). @default 'event-hydrator' */
  readonly replayName?: string | false
  /** Delivery sinks: the EventBridge envelope mapping (an object, a file or inline JSON). */
  readonly envelope?: unknown
  /** Delivery sinks: events waiting for their ordered lane at most. */
  readonly maxBuffered?: number
  /** Attempts per write, the first included. @default 8 */
  readonly retryAttempts?: number
  /** Longest backoff delay in ms. @default 20000 */
  readonly retryMaxDelay?: number
  /**
   * The environment plugins read (AWS region and endpoints, DATABASE_URL, ...): hydrate() is the
   * CLI's engine and, like the CLI, reads it. The functions it builds on never do. @default process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Where relative paths start. @default process.cwd() */
  readonly cwd?: string
  /** What `json:-` reads. @default process.stdin */
  readonly stdin?: Readable
  /** What `ndjson:-` writes. @default process.stdout */
  readonly stdout?: Writable
  /** Any other option, for plugins with options of their own (they read `context.flags`). */
  readonly [option: string]: unknown
}
