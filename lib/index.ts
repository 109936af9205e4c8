// The public API, in the order a reader learns it. Heavy integrations (PostgreSQL, SQL Server,
// DynamoDB, OpenSearch, Lambda, EventBridge) live behind subpath exports such as
// `event-hydrator/postgres`, so importing the core loads none of their clients.

// The front door: a hydration from URIs and options, as the CLI runs it
export { hydrate, type HydrateOptions, type HydrateFilter } from './hydrate.js'

// Composing and running
export { pipe } from 'it-pipe'
export { chain } from './chain.js'
export { run, type RunOptions, type Progress, type FailureStore } from './run.js'

// The three shapes
export type {
  Source,
  Stage,
  Sink,
  SinkResult,
  SinkContext,
  SinkTally,
  SourceOptions,
  SourceStats,
  ItemFailure,
  Outcome,
  AbortOptions,
  SourceCapabilities,
  StageCapabilities,
  StageKind,
  StageFailures,
  SinkCapabilities,
  SkipReason,
  SinkPlan,
  ThrottleFeedback,
  SinkRebuild,
  RebuildSwap,
} from './types.js'

// Sources
export { readJsonLines, type ReadJsonLinesOptions, type LineStart } from './json/read-lines.js'
export { readJsonArray, type ReadJsonArrayOptions } from './json/read-array.js'
export { readJsonFiles, type ReadJsonFilesOptions } from './json/read-files.js'
export { resumeOptions } from './json/plugin.js'

// Stages
export { filter, type FilterRule } from './stages/filter.js'
export { map } from './stages/map.js'
export { batch } from './stages/batch.js'
export { take } from './stages/take.js'
export { tap } from './stages/tap.js'
export { orderedLanes, createLanes, type OrderedLanesOptions, type Settled, type Lanes } from './stages/ordered-lanes.js'
export { rate, parseRate, paceFor, adaptiveRate, type RateOptions } from './stages/rate.js'
export { rateControl, type RateControl, type RateControlOptions, type RateSummary } from './rate-control.js'
export type { ParkingOptions, OnKeyFailure } from './park.js'
export type { BatchParking } from './stages/park-sink.js'
export type { RebuildOptions } from './rebuild.js'
export { rawTextOf, setRawText } from './raw-text.js'
export { withStageInfo } from './stages/stage-info.js'
export { orderBy, orderKeyCheck, type OrderByOptions, type OrderMissing } from './stages/order-by.js'
export { sortSource, type SortSourceOptions } from './sort/sorted-source.js'
export { compareValues, orderKey } from './sort/key.js'
export type { SortedPosition } from './sort/position.js'

// Sinks
export { toJsonLines, type ToJsonLinesOptions } from './json/write-lines.js'
export { collect, type CollectResult } from './collect.js'

// EventBridge patterns
export { compilePattern, matches, validatePattern, compilePrefilter, type EventPattern } from './pattern/index.js'

// Checkpoints and dead letters
export { readCheckpoint, writeCheckpoint, CheckpointTracker, type Checkpoint, type CheckpointIdentity, type CheckpointTotals } from './checkpoint/index.js'
export { openStoreSession, fileSession, type CheckpointSession, type CheckpointStore, type CheckpointStoreFactory, type StoredText, type Lease, type StoreSessionOptions } from './checkpoint/index.js'
export { planShares, MAX_SHARES, type PlanSharesOptions } from './plan-shares.js'
export { parseShare, shareName, type Share } from './share.js'
export { openDeadLetters, unwrapDeadLetter, DEAD_LETTER_MARK, type DeadLetter } from './dead-letter.js'

// The report
export type { RunReport, RunStatus, StageCount } from './report/report.js'
export { formatReport } from './report/format.js'
export { reportSchema } from './report/schema.js'
export { mergeReports, type MergeReportsOptions } from './report/merge.js'

// Storage mapping (shared by every storage sink)
export { compileMapping, collapseByKey, type Mapping, type RowWrite, type CompiledMapping } from './mapping.js'

// Building your own sources, sinks and plugins
export {
  positionOf,
  setPosition,
  formatPosition,
  isResumePoint,
  type Position,
  type PositionKinds,
  type LinePosition,
  type ElementPosition,
  type FilePosition,
  type DynamoPosition,
  type OpenSearchPosition,
} from './position.js'
export { defineSource, type StatefulSource, type SourceControl } from './define-source.js'
export { defineSink, newTally, sinkInfo, withSinkInfo, PlanOverlay, type SinkDriver, type SinkInfo, type SinkOptions, type WriteOutcome, type DriverContext, type PlannedWrite } from './define-sink.js'
export { Registry, parseUri, type Plugin, type ParsedUri, type FactoryContext, type SourceFactory, type SinkFactory } from './registry.js'
export { defaultRegistry, builtinPlugins } from './builtins.js'
export { withRetry, DEFAULT_RETRY, type RetryPolicy } from './retry.js'

// Errors
export { HydratorError, InvalidPatternError, CONFIG_ERROR_CODES, isConfigError, type ErrorCode } from './errors.js'
