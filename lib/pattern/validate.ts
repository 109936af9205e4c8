import type { EventPattern } from './types.js'
import { parsePattern } from './parse.js'

/**
 * Checks an EventBridge event pattern and throws when Amazon EventBridge would reject it, with AWS's
 * reason and the JSON path of the problem (`$or` alternatives appear as `$or[1]`). Validation is
 * complete: any pattern this accepts compiles.
 *
 * @throws {InvalidPatternError} for anything AWS answers with InvalidEventPatternException: not an
 * object, empty arrays or objects, leaf values that are not arrays, unknown operators, operands of
 * the wrong type, bad CIDRs or wildcards, mixed anything-but lists, bad numeric ranges, `$or` with
 * fewer than two alternatives, wildcards too complex to run.
 * @example
 * validatePattern({ detail: { amount: [{ numeric: ['>', 0, '<=', 100] }] } }) // passes
 * validatePattern({ detail: { amount: 42 } })
 * // InvalidPatternError: detail.amount: "amount" must be an object or an array
 */
export function validatePattern(pattern: unknown): asserts pattern is EventPattern {
  parsePattern(pattern)
}
