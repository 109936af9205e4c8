import { HydratorError } from '../errors.js'
import { compilePattern, compilePrefilter, type EventPattern } from '../pattern/index.js'
import { prefilterFromSpec, type LinePrefilter } from '../pattern/prefilter-spec.js'
import type { Stage } from '../types.js'
import { withStageInfo } from './stage-info.js'

/** An EventBridge pattern, a predicate, or several of either (any of them keeps the event). */
export type FilterRule<T> = EventPattern | ((event: T) => boolean) | readonly (EventPattern | ((event: T) => boolean))[]

/**
 * Keeps the events an EventBridge event pattern selects (exactly as EventBridge would), or that a
 * predicate accepts. Several rules mean any of them, like several rules on one bus. Order is kept.
 * An invalid pattern throws InvalidPatternError when `filter()` is called, before any event is read.
 *
 * @example
 * pipe(readJsonLines('events.ndjson'), filter({ source: ['orders'], 'detail-type': ['OrderPlaced'] }), toJsonLines('-'))
 */
export function filter<T = Record<string, unknown>>(rule: FilterRule<T>): Stage<T, T> {
  const rules = Array.isArray(rule) ? rule : [rule]
  if (rules.length === 0) throw new HydratorError('ERR_INVALID_OPTION', 'filter() needs at least one pattern or predicate')
  const tests = rules.map((r) => (typeof r === 'function' ? (r as (event: T) => boolean) : (compilePattern(r as EventPattern) as (event: T) => boolean)))
  const test = tests.length === 1 ? tests[0]! : (event: T) => tests.some((t) => t(event))

  // A line may be skipped unparsed only if no rule could match it.
  let prefilter: LinePrefilter | undefined
  if (rules.every((r) => typeof r !== 'function')) {
    const pre = rules.map((r) => compilePrefilter(r as EventPattern))
    if (pre.every((p) => p !== undefined)) {
      const fns = pre as LinePrefilter[]
      prefilter = fns.length === 1 ? fns[0] : prefilterFromSpec({ anyOf: fns.flatMap((p) => p.spec!.anyOf) })
    }
  }

  return withStageInfo(
    async function* filterStage(source: AsyncIterable<T>) {
      for await (const event of source) if (test(event)) yield event
    },
    // Patterns only: a predicate is user code, which could change the event it is given.
    { kind: 'filter', prefilter, keepsEvents: rules.every((r) => typeof r !== 'function') },
  )
}
