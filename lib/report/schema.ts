// The run report, defined once: its TypeScript types are derived from the JSON Schema below
// (TypeBox), so the two cannot drift apart. docs/report.schema.json is this schema, written out.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { ErrorCode } from '../errors.js'
import type { Position } from '../position.js'

const Count = Type.Integer({ minimum: 0 })
const ErrorInfo = Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: false })

/** A position as JSON: its `kind` tells the source family; the rest depends on it. */
const PositionSchema = Type.Unsafe<Position>(
  Type.Object(
    {
      kind: Type.String({ description: 'line, element, file, dynamo, opensearch, or a plugin kind' }),
      source: Type.String(),
      file: Type.Optional(Type.String()),
      line: Type.Optional(Type.Integer({ minimum: 0 })),
      offset: Type.Optional(Type.Integer({ minimum: 0 })),
      next: Type.Optional(Type.Integer({ minimum: 0 })),
      index: Type.Optional(Type.Integer({ minimum: 0 })),
      key: Type.Optional(Type.Unknown()),
      sort: Type.Optional(Type.Array(Type.Unknown())),
      part: Type.Optional(Type.Integer({ minimum: 0 })),
      cursor: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: true },
  ),
)

/** An event or data problem that the run went past: one entry in the report's failure samples. */
export const ItemFailureSchema = Type.Object(
  {
    stage: Type.String({ description: 'the stage or component that failed it: source, filter, transform, the sink name' }),
    position: Type.Optional(PositionSchema),
    code: Type.Unsafe<ErrorCode | (string & {})>(Type.String({ description: "an ErrorCode, or the target's own code (a SQLSTATE, an AWS error name)" })),
    message: Type.String({ description: 'what went wrong, naming the place; capped, never the whole payload' }),
    key: Type.Optional(Type.Unknown()),
    attempts: Type.Optional(Type.Integer({ minimum: 1 })),
    orderKey: Type.Optional(Type.String({ description: 'parking: the key (--order-key, else the mapping key) whose later events are parked behind this failure, or that this parked event has' })),
    parkedBehind: Type.Optional(
      Type.Object(
        { id: Type.Optional(Type.Union([Type.String(), Type.Number()])), position: Type.Optional(PositionSchema) },
        { additionalProperties: false, description: 'a parked event (ERR_PARKED): the failed event of its key it waits behind, by id and position' },
      ),
    ),
  },
  { additionalProperties: false },
)

/** A value whose every property, at every depth, is read-only (the report is a finished record). */
type DeepReadonly<T> = T extends string | number | boolean | bigint | symbol | null | undefined ? T : T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends Position ? T : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T

/** An event or data problem that the run went past: one entry in the report's failure samples. */
export type ItemFailure = DeepReadonly<Static<typeof ItemFailureSchema>>

const StatusSchema = Type.Union([Type.Literal('ok'), Type.Literal('partial'), Type.Literal('failed'), Type.Literal('aborted')])

const StageCountSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.String(),
    in: Count,
    out: Count,
    failed: Type.Optional(Count),
  },
  { additionalProperties: false },
)

/** Counts carried from run to run, so a resumed run's totals can be combined with earlier ones. */
export const CheckpointTotalsSchema = Type.Object(
  {
    read: Count,
    matched: Count,
    unmatched: Count,
    written: Count,
    skipped: Count,
    failed: Count,
    sourceFailed: Count,
  },
  { additionalProperties: false },
)

const RunCheckpointSchema = Type.Object(
  {
    file: Type.String(),
    position: Type.Optional(PositionSchema),
    complete: Type.Boolean({ description: 'every event was handled: the same command again does nothing' }),
    held: Type.Integer({ minimum: 0, description: 'failures in no dead-letter file: they hold the checkpoint before them' }),
    totals: CheckpointTotalsSchema,
    startTotals: Type.Optional(
      Type.Object(CheckpointTotalsSchema.properties, {
        additionalProperties: false,
        description: 'a resumed run: the totals the checkpoint held when it started (totals - startTotals is what this run added)',
      }),
    ),
    error: Type.Optional(ErrorInfo),
    alreadyComplete: Type.Optional(Type.Boolean({ description: 'the checkpoint said the job had completed: nothing was read this time' })),
  },
  { additionalProperties: false },
)

/** The share of a split run that a run read (`hydrate plan --shares N`); hydrate() fills it in. */
const ShareSchema = Type.Object(
  {
    plan: Type.String({ description: 'the plan id: a digest of the source and the share count' }),
    index: Type.Integer({ minimum: 0, description: '0-based, below count' }),
    count: Type.Integer({ minimum: 1, description: 'shares in the plan' }),
  },
  { additionalProperties: false, description: 'the share of a split run this run read' },
)

/** How the shares of a merged report ended (mergeReports, `hydrate report merge`). */
const SharesSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 1, description: 'shares in the plan (from --shares or the reports\' share), else the shares reported' }),
    done: Type.Integer({ minimum: 0, description: 'shares that read their whole part without a failure' }),
    partial: Type.Integer({ minimum: 0, description: 'shares that completed with failures, or stopped without failing and are not complete yet (a resume goes on)' }),
    failed: Type.Integer({ minimum: 0, description: 'shares whose last report has status failed' }),
    notRun: Type.Integer({ minimum: 0, description: 'shares of the plan without a report' }),
    plan: Type.Optional(Type.String({ description: 'the plan id the shares belong to, when the reports name one' })),
  },
  { additionalProperties: false, description: 'a merged report: the state of each share, by its last report; several reports of one share count once' },
)

/** `--rebuild`: the copy the run wrote into, and whether it took the target's place (hydrate() fills it in). */
const RebuildSchema = Type.Object(
  {
    target: Type.String({ description: 'the live target: table, index alias' }),
    table: Type.String({ description: 'the copy the run wrote into: <table>__rebuild_<run>' }),
    state: Type.Union([Type.Literal('swapped'), Type.Literal('pending'), Type.Literal('written'), Type.Literal('planned')], {
      description:
        'swapped: the copy took the target\'s place; pending: the run did not end ok (or the swap failed), the target is untouched and the copy left to inspect; written: DynamoDB, the new table is written and cannot be renamed; planned: a dry run',
    }),
    old: Type.Optional(Type.String({ description: '--keep-old: the dated name the previous target keeps' })),
    steps: Type.Optional(Type.Array(Type.String(), { description: 'the statements or requests of the swap' })),
    message: Type.String(),
  },
  { additionalProperties: false, description: 'a run with --rebuild: where it wrote and what the swap did' },
)

/** `--rate auto`: where the adaptive rate started and settled, and the throttling it met. */
const RateSchema = Type.Object(
  {
    mode: Type.Literal('auto'),
    startPerSecond: Type.Number({ minimum: 0, description: 'the rate it started at (a dry run: would start at)' }),
    maxPerSecond: Type.Optional(Type.Number({ minimum: 0, description: '--max-rate, the ceiling' })),
    minPerSecond: Type.Number({ minimum: 0, description: 'the floor' }),
    settledPerSecond: Type.Number({ minimum: 0, description: 'the rate it settled at: the rate sent (the allowed rate, or less when the source or --concurrency held it back), averaged over about the last 5 seconds of sending' }),
    lastPerSecond: Type.Number({ minimum: 0, description: 'the allowed rate when the run ended' }),
    peakPerSecond: Type.Number({ minimum: 0, description: 'the highest allowed rate (at most twice the rate sent, and --max-rate)' }),
    throttles: Type.Integer({ minimum: 0, description: 'requests the target refused for being over capacity, retried or not' }),
    throttledBy: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'throttles by reason' }),
    decreases: Type.Integer({ minimum: 0, description: 'times the rate was lowered: one per congestion event' }),
    backoffMs: Type.Number({ minimum: 0, description: 'wall-clock time during which at least one write waited to retry after a throttle' }),
  },
  { additionalProperties: false, description: '--rate auto: the rate that adapted to the target' },
)

/** What `--rate auto` did. */
export type ReportRate = DeepReadonly<Static<typeof RateSchema>>

const reportProperties = {
  status: StatusSchema,
  dryRun: Type.Boolean(),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.String({ format: 'date-time' }),
  durationMs: Type.Number({ minimum: 0 }),
  source: Type.Object(
    {
      uri: Type.String(),
      read: Count,
      failed: Count,
      startedAt: Type.Optional(PositionSchema),
      /** Worker threads that found the lines of NDJSON files (on a second core); absent when none did. */
      workerThreads: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
  filter: Type.Object({ matched: Count, unmatched: Count, prefiltered: Count }, { additionalProperties: false }),
  sink: Type.Object(
    {
      uri: Type.String(),
      received: Count,
      written: Count,
      skipped: Count,
      failed: Count,
      deleted: Count,
      previews: Type.Array(Type.Unknown(), { description: 'dry runs: the first few writes, or with a plan { op, key, current, next, reason }' }),
      retries: Type.Record(Type.String(), Count),
      parked: Type.Optional(Type.Integer({ minimum: 0, description: 'events parked behind a failure of their key (counted in failed too): not sent, in the dead-letter file behind it' })),
      parkedKeys: Type.Optional(Type.Array(Type.String(), { maxItems: 100, description: 'a sample of the keys whose later events were parked' })),
      skippedBy: Type.Record(Type.String(), Count, {
        description: 'skips by reason: stale (the target holds this version or a newer one), duplicateInBatch (a later event of the key supersedes it), deleteOfMissing (a delete of a row that is not there), or a sink\'s own',
      }),
      rate: Type.Optional(RateSchema),
      plan: Type.Optional(
        Type.Object(
          {
            wouldInsert: Count,
            wouldUpdate: Count,
            wouldDelete: Count,
            wouldSkip: Count,
            exact: Type.Boolean({ description: 'false when the plan forgot keys (a very large run): counts of keys planned again may differ from the real run' }),
          },
          { additionalProperties: false, description: "a dry run's reading of the target: what the real run would do on the same state" },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  failures: Type.Object({ count: Count, samples: Type.Array(ItemFailureSchema, { maxItems: 100 }) }, { additionalProperties: false }),
  stages: Type.Array(StageCountSchema),
  eventsPerSecond: Type.Number({ minimum: 0 }),
  error: Type.Optional(ErrorInfo),
  checkpoint: Type.Optional(RunCheckpointSchema),
  share: Type.Optional(ShareSchema),
  shares: Type.Optional(SharesSchema),
  rebuild: Type.Optional(RebuildSchema),
} satisfies Record<string, TSchema>

/**
 * The JSON Schema (draft 2020-12) of {@link RunReport}, for tools that read `--report json`; the
 * report's TypeScript type is derived from it.
 *
 * @example
 * Value.Check(reportSchema, JSON.parse(stdout)) // with @sinclair/typebox/value, or any JSON Schema validator
 */
export const reportSchema = Type.Object(reportProperties, {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://github.com/event-hydrator/event-hydrator/report.schema.json',
  title: 'event-hydrator run report',
  additionalProperties: false,
})

/**
 * The report of a run, dry or not: a plain JSON-serialisable value. It always adds up:
 * `source.read = filter.matched + filter.unmatched`, and without a fan-out map `filter.matched =
 * sink.written + sink.skipped + sink.failed`.
 */
export type RunReport = DeepReadonly<Static<typeof reportSchema>>
/** How a run ended: `ok` everything handled, `partial` some events failed, `failed` stopped early, `aborted` stopped by a signal. */
export type RunStatus = Static<typeof StatusSchema>
/** One stage's counts: events in and out (batches counted by their events). */
export type StageCount = DeepReadonly<Static<typeof StageCountSchema>>
/** Where a run's checkpoint stands when the run ends. */
export type RunCheckpoint = DeepReadonly<Static<typeof RunCheckpointSchema>>
/** The share of a split run a report's run read. */
export type ReportShare = DeepReadonly<Static<typeof ShareSchema>>
/** What a run with --rebuild wrote into and what its swap did. */
export type ReportRebuild = DeepReadonly<Static<typeof RebuildSchema>>
/** How the shares of a merged report ended. */
export type ReportShares = DeepReadonly<Static<typeof SharesSchema>>
/** Counts carried from run to run (a checkpoint's totals). */
export type CheckpointTotals = Static<typeof CheckpointTotalsSchema>
