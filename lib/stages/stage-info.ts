import type { LinePrefilter } from '../pattern/prefilter.js'

/**
 * What `run()` knows about a stage, beyond its shape: how to count it in the report, and for a
 * filter the raw-text prefilter a line source may apply before parsing.
 */
export interface StageInfo {
  /** `filter` and `map` drops count as unmatched; `batch` output is not counted as events. */
  readonly kind: 'filter' | 'map' | 'batch' | 'take' | 'tap' | 'other'
  /** For filters: a raw-line test that is false only when the line provably cannot match. */
  readonly prefilter?: LinePrefilter
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
