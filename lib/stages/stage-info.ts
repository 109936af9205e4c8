import type { LinePrefilter } from '../pattern/prefilter.js'
import type { ItemFailure } from '../types.js'

/**
 * How a stage reports an event it failed (a transform that threw) instead of stopping the run:
 * `run()` installs a listener before the first event; without one, the stage throws as before, so
 * nothing is dropped silently in a bare `pipe()`.
 */
export interface StageFailures {
  listen(listener: (failure: ItemFailure, event: unknown) => void): void
}

/**
 * What `run()` knows about a stage, beyond its shape: how to count it in the report, and for a
 * filter the raw-text prefilter a line source may apply before parsing.
 */
export interface StageInfo {
  /** `filter` and `map` drops count as unmatched; `batch` output is not counted as events. */
  readonly kind: 'filter' | 'map' | 'batch' | 'take' | 'tap' | 'other'
  /** For filters: a raw-line test that is false only when the line provably cannot match. */
  readonly prefilter?: LinePrefilter
  /** For stages that can fail single events (`map(fn, { onError: 'fail' })`). */
  readonly failures?: StageFailures
}

const INFO = Symbol.for('event-hydrator.stage-info')

/** Tags a stage function with its info (kept on the function, invisible to pipe()). */
export function withStageInfo<F extends object>(stage: F, info: StageInfo): F {
  Object.defineProperty(stage, INFO, { value: info })
  return stage
}

/** The info of a stage; stages from elsewhere are `other`. */
export function stageInfo(stage: unknown): StageInfo {
  return ((stage as Record<symbol, StageInfo> | null)?.[INFO]) ?? { kind: 'other' }
}
