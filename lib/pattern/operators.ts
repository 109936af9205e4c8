// The operators of a match expression (`{ "prefix": ... }`, `{ "numeric": [...] }`, anything-but, ...),
// each checked with AWS's own wording for what it rejects.
import { parseCidr } from './ip.js'
import { parseWildcard } from './wildcard.js'
import { fail, isNumber, isObject, tokenText, type Json, type Matcher } from './syntax.js'

/** Magnitude limit of numeric operands: event-ruler's `ComparableNumber` range. */
const NUMERIC_LIMIT = 5e11
/** Digits allowed right of the decimal point in numeric operands. */
const NUMERIC_DECIMALS = 6

function onlyOneKey(extra: boolean, path: string): void {
  if (extra) fail(path, 'Only one key allowed in match expression')
}

function tooManyElements(extra: boolean, path: string): void {
  if (extra) fail(path, 'Too many elements in numeric expression')
}

export function parseMatchExpression(expression: Json, path: string): Matcher {
  const names = Object.keys(expression)
  if (names.length === 0) fail(path, 'Match expression name not found')
  const operator = names[0]!
  const operand = expression[operator]
  const extra = names.length > 1
  switch (operator) {
    case 'exactly': {
      if (typeof operand !== 'string') fail(path, 'exact match pattern must be a string')
      onlyOneKey(extra, path)
      return { kind: 'exact', value: operand }
    }
    case 'prefix':
    case 'suffix': {
      if (isObject(operand)) {
        const value = parseAffixIgnoreCase(operand, operator, path)
        onlyOneKey(extra, path)
        return { kind: operator, value, ignoreCase: true }
      }
      if (typeof operand !== 'string') fail(path, `${operator} match pattern must be a string`)
      onlyOneKey(extra, path)
      return { kind: operator, value: operand, ignoreCase: false }
    }
    case 'equals-ignore-case': {
      if (typeof operand !== 'string') fail(path, 'equals-ignore-case match pattern must be a string')
      onlyOneKey(extra, path)
      return { kind: 'equals-ignore-case', value: operand }
    }
    case 'wildcard': {
      if (typeof operand !== 'string') fail(path, 'wildcard match pattern must be a string')
      const segments = parseWildcard(operand)
      if (typeof segments === 'string') fail(path, segments)
      onlyOneKey(extra, path)
      return { kind: 'wildcard', value: operand, segments }
    }
    case 'numeric': {
      if (!Array.isArray(operand)) fail(path, 'Value of numeric must be an array.')
      const matcher = parseNumeric(operand, path)
      tooManyElements(extra, path)
      return matcher
    }
    case 'exists': {
      if (typeof operand !== 'boolean') fail(path, 'exists match pattern must be either true or false.')
      onlyOneKey(extra, path)
      return { kind: operand ? 'exists' : 'absent' }
    }
    case 'cidr': {
      // AWS really does say "prefix" here
      if (typeof operand !== 'string') fail(path, 'prefix match pattern must be a string')
      const range = parseCidr(operand)
      if (typeof range === 'string') fail(path, range)
      onlyOneKey(extra, path)
      return { kind: 'cidr', range }
    }
    case 'anything-but': {
      const matcher = parseAnythingBut(operand, path)
      tooManyElements(extra, path)
      return matcher
    }
    default:
      return fail(path, `Unrecognized match type ${operator}`)
  }
}

function parseAffixIgnoreCase(operand: Json, operator: 'prefix' | 'suffix', path: string): string {
  const names = Object.keys(operand)
  const label = operator === 'prefix' ? 'Prefix' : 'Suffix'
  if (names.length === 0) fail(path, `${label} expression name not found`)
  if (names[0] !== 'equals-ignore-case') fail(path, `Unsupported ${operator} pattern: ${names[0]}`)
  const value = operand['equals-ignore-case']
  if (typeof value !== 'string') fail(path, 'equals-ignore-case match pattern must be a string')
  onlyOneKey(names.length > 1, path)
  return value
}

/** Counts the digits right of the decimal point in the shortest form of `value`. */
function decimalsOf(value: number): number {
  const text = String(Math.abs(value))
  const e = text.indexOf('e')
  const mantissa = e < 0 ? text : text.slice(0, e)
  const exponent = e < 0 ? 0 : Number(text.slice(e + 1))
  const dot = mantissa.indexOf('.')
  const fraction = dot < 0 ? 0 : mantissa.length - dot - 1
  return Math.max(0, fraction - exponent)
}

/** `ComparableNumber.generate`: six decimals at most, within ±5e11. */
function checkComparable(value: number, path: string): void {
  if (decimalsOf(value) > NUMERIC_DECIMALS) fail(path, 'Only values upto 6 decimals are supported')
  if (value < -NUMERIC_LIMIT || value > NUMERIC_LIMIT) {
    fail(path, 'Value must be between -5.0E11 and 5.0E11, inclusive')
  }
}

function parseNumeric(items: readonly unknown[], path: string): Matcher {
  const operator = items[0]
  if (typeof operator !== 'string') fail(path, `Invalid member in numeric match: ${tokenText(items, 0)}`)
  const value = items[1]
  switch (operator) {
    case '=': {
      if (!isNumber(value)) fail(path, 'Value of equals must be numeric')
      tooManyElements(items.length > 2, path)
      checkComparable(value, path)
      return { kind: 'numeric', low: value, lowOpen: false, high: value, highOpen: false }
    }
    case '<':
    case '<=': {
      if (!isNumber(value)) fail(path, `Value of ${operator} must be numeric`)
      tooManyElements(items.length > 2, path)
      checkComparable(value, path)
      return { kind: 'numeric', low: -NUMERIC_LIMIT, lowOpen: false, high: value, highOpen: operator === '<' }
    }
    case '>':
    case '>=': {
      if (!isNumber(value)) fail(path, `Value of ${operator} must be numeric`)
      const lowOpen = operator === '>'
      if (items.length === 2) {
        checkComparable(value, path)
        return { kind: 'numeric', low: value, lowOpen, high: NUMERIC_LIMIT, highOpen: false }
      }
      const topOperator = items[2]
      if (typeof topOperator !== 'string') fail(path, `Bad value in numeric range: ${tokenText(items, 2)}`)
      if (topOperator !== '<' && topOperator !== '<=') fail(path, `Bad numeric range operator: ${topOperator}`)
      const top = items[3]
      if (!isNumber(top)) fail(path, `Value of ${topOperator} must be numeric`)
      if (items.length > 4) fail(path, 'Too many terms in numeric range expression')
      checkComparable(value, path)
      checkComparable(top, path)
      if (!(value < top)) fail(path, 'Bottom must be less than top')
      return { kind: 'numeric', low: value, lowOpen, high: top, highOpen: topOperator === '<' }
    }
    default:
      return fail(path, `Unrecognized numeric range operator: ${operator}`)
  }
}

const ANYTHING_BUT_VALUE = 'Value of anything-but must be an array or single string/number value.'

function parseAnythingBut(operand: unknown, path: string): Matcher {
  if (isObject(operand)) {
    const names = Object.keys(operand)
    if (names.length === 0) fail(path, 'Anything-But expression name not found')
    const operator = names[0]!
    if (
      operator !== 'prefix' &&
      operator !== 'suffix' &&
      operator !== 'equals-ignore-case' &&
      operator !== 'wildcard'
    ) {
      fail(path, `Unsupported anything-but pattern: ${operator}`)
    }
    const inner = operand[operator]
    if (!Array.isArray(inner) && typeof inner !== 'string' && !isNumber(inner)) fail(path, ANYTHING_BUT_VALUE)
    const items: readonly unknown[] = Array.isArray(inner) ? inner : [inner]
    // An empty list would exclude nothing and match everything, null included: refused, as an
    // empty list is anywhere else in a pattern.
    if (items.length === 0) fail(path, `Empty arrays are not allowed: anything-but ${operator} needs at least one value`)
    const values: string[] = []
    for (const item of items) {
      if (typeof item !== 'string') {
        if (operator === 'equals-ignore-case') {
          fail(path, 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.')
        }
        if (operator === 'wildcard') fail(path, 'wildcard match pattern must be a string')
        fail(path, 'prefix/suffix match pattern must be a string')
      }
      if ((operator === 'prefix' || operator === 'suffix') && item === '') {
        fail(path, 'Null prefix/suffix not allowed')
      }
      values.push(item)
    }
    tooManyElements(names.length > 1, path)
    if (operator === 'wildcard') {
      const patterns = values.map((text) => {
        const segments = parseWildcard(text)
        if (typeof segments === 'string') fail(path, segments)
        return segments
      })
      return { kind: 'anything-but-wildcard', values: patterns }
    }
    const kind =
      operator === 'prefix'
        ? 'anything-but-prefix'
        : operator === 'suffix'
          ? 'anything-but-suffix'
          : 'anything-but-ignore-case'
    return { kind, values }
  }
  if (typeof operand === 'string') return { kind: 'anything-but', values: new Set([operand]) }
  if (isNumber(operand)) {
    checkComparable(operand, path)
    return { kind: 'anything-but', values: new Set([operand]) }
  }
  if (!Array.isArray(operand)) fail(path, ANYTHING_BUT_VALUE)
  let strings = 0
  let numbers = 0
  for (const item of operand) {
    if (typeof item === 'string') strings++
    else if (isNumber(item)) {
      checkComparable(item, path)
      numbers++
    } else fail(path, 'Inside anything but list, start|null|boolean is not supported.')
  }
  if ((strings > 0) === (numbers > 0)) {
    fail(path, 'Inside anything but list, either all values are number or string, mixed type is not supported')
  }
  return { kind: 'anything-but', values: new Set(operand as (string | number)[]) }
}
