import type { StageCapabilities } from '../types.js'

/**
 * Gives a stage function its capabilities as plain properties (`kind`, `prefilter`, `failures`),
 * which `run()` reads through the Stage type; invisible to `pipe()`.
 *
 * @example
 * return withStageInfo(async function* myStage(source) { ... }, { kind: 'tap' })
 */
export function withStageInfo<F extends object>(stage: F, info: StageCapabilities): F & StageCapabilities {
  for (const [key, value] of Object.entries(info)) if (value !== undefined) Object.defineProperty(stage, key, { value, enumerable: false })
  return stage as F & StageCapabilities
}
