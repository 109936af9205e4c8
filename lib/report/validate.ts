import { FormatRegistry } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { capText } from '../util/text.js'
import { reportSchema, type RunReport } from './schema.js'

const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

/** RFC 3339 date-times, as `new Date().toISOString()` writes them, that also name a real instant. */
function isDateTime(value: string): boolean {
  return DATE_TIME.test(value) && !Number.isNaN(Date.parse(value))
}

/**
 * What is wrong with a value as a {@link RunReport} (its JSON Schema, checked by TypeBox), at most
 * `max` problems as `/json/pointer: message`; empty when it is one. TypeBox checks `format` only
 * through its global registry, so `date-time` is registered there unless the caller already did.
 *
 * @example
 * const problems = reportProblems(JSON.parse(text))
 * if (problems.length > 0) throw new Error(problems[0])
 */
export function reportProblems(value: unknown, max = 3): string[] {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isDateTime)
  const problems: string[] = []
  if (Value.Check(reportSchema, value)) return problems
  for (const error of Value.Errors(reportSchema, value)) {
    problems.push(capText(`${error.path || '/'}: ${error.message}`, 200))
    if (problems.length >= max) break
  }
  return problems
}

/** True when `value` is a {@link RunReport}: it validates against the report's JSON Schema. */
export function isRunReport(value: unknown): value is RunReport {
  return reportProblems(value, 1).length === 0
}
