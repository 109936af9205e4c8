/**
 * Reads an EventBridge event pattern into the form the matcher and the prefilter compile: a list of
 * alternative branches (the `$or` expansion), each a list of flattened fields sorted by name. Every
 * rejection AWS makes is reported here, with AWS's own wording, as an {@link InvalidPatternError}.
 * Private to lib/pattern; the public entry point is `validatePattern`.
 *
 * The reading follows aws/event-ruler's `JsonRuleCompiler`, the rule compiler behind EventBridge:
 * nested keys are joined with `.` into one field name, `$or` forks every branch built so far, and a
 * field named again later in the same branch replaces the earlier one.
 */
import { InvalidPatternError } from '../errors.js'
import { parseCidr, parseIp, type IpRange } from './ip.js'
import { parseWildcard, wildcardTooComplex, type WildcardGroup, type WildcardSegments } from './wildcard.js'

/** One way a field value can match. */
export type Matcher =
  | { readonly kind: 'exact'; readonly value: string | number | boolean | null }
  | { readonly kind: 'ip'; readonly text: string; readonly bytes: Uint8Array }
  | { readonly kind: 'prefix' | 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'equals-ignore-case'; readonly value: string }
  | { readonly kind: 'wildcard'; readonly value: string; readonly segments: WildcardSegments }
  | {
      readonly kind: 'numeric'
      readonly low: number
      readonly lowOpen: boolean
      readonly high: number
      readonly highOpen: boolean
    }
  | { readonly kind: 'cidr'; readonly range: IpRange }
  | { readonly kind: 'exists' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'anything-but'; readonly values: ReadonlySet<string | number> }
  | {
      readonly kind: 'anything-but-prefix' | 'anything-but-suffix' | 'anything-but-ignore-case'
      readonly values: readonly string[]
    }
  | { readonly kind: 'anything-but-wildcard'; readonly values: readonly WildcardSegments[] }

/** One flattened field of a branch: `detail.amount` and the values it may take. */
export interface Field {
  /** The flattened name, keys joined with `.`. */
  readonly name: string
  /** Where the field is written in the pattern, for messages (`detail.$or[1].amount`). */
  readonly path: string
  readonly matchers: readonly Matcher[]
  /** A canonical text per matcher, used to tell equal matchers apart in the complexity check. */
  readonly identities: readonly string[]
}

/** A conjunction of fields, sorted by name (the order event-ruler visits them in). */
export type Branch = readonly Field[]

/** A parsed pattern: it matches an event when any branch does. */
export interface ParsedPattern {
  readonly branches: readonly Branch[]
}

/** Magnitude limit of numeric operands: event-ruler's `ComparableNumber` range. */
const NUMERIC_LIMIT = 5e11
/** Digits allowed right of the decimal point in numeric operands. */
const NUMERIC_DECIMALS = 6
/** event-ruler refuses a (sub-)rule of more fields than this. */
const MAX_FIELDS_PER_BRANCH = 256
/** `$or` forks multiply; past this many branches the pattern is refused rather than expanded. */
const MAX_BRANCHES = 4096

/** Field names event-ruler reserves inside `$or` alternatives. */
const RESERVED_IN_OR = new Set([
  'exactly',
  'equals-ignore-case',
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'wildcard',
  'numeric',
  'cidr',
  '=',
  '<',
  '<=',
  '>',
  '>=',
  'regex',
  'not-wildcard',
  'not-equals-ignore-case',
  'date-after',
  'date-on-or-after',
  'date-before',
  'date-on-or-before',
  'in-date-range',
  'ip-address-in-range',
  'ip-address-not-in-range',
])

type Rule = Map<string, Field>
type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function fail(path: string, reason: string): never {
  throw new InvalidPatternError(path, reason)
}

function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

/** Jackson's `getText()` of the token at an array position, as AWS quotes it in messages. */
function tokenText(items: readonly unknown[], index: number): string {
  if (index >= items.length) return ']'
  const value = items[index]
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return '['
  if (isObject(value)) return '{'
  return String(value)
}

/**
 * Parses and validates a pattern.
 *
 * @throws InvalidPatternError when AWS would reject the pattern.
 * @example
 * parsePattern({ b: ['1'], $or: [{ a: ['x'] }, { c: [{ exists: true }] }] }).branches.map((b) => b.map((f) => f.name))
 * // [['a', 'b'], ['b', 'c']]
 */
export function parsePattern(pattern: unknown): ParsedPattern {
  if (!isObject(pattern)) fail('', 'Filter is not an object')
  const rules: Rule[] = []
  parseObject(pattern, [], '', rules, false)
  const branches = rules.map((rule) => {
    const fields = [...rule.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    if (fields.length > MAX_FIELDS_PER_BRANCH) {
      fail('', `Size of rule exceeds max value of ${MAX_FIELDS_PER_BRANCH}`)
    }
    return fields
  })
  checkComplexity(branches)
  return { branches }
}

function parseObject(object: Json, keys: readonly string[], path: string, rules: Rule[], insideOr: boolean): void {
  const names = Object.keys(object)
  if (names.length === 0) fail(path, 'Empty objects are not allowed')
  for (const name of names) {
    const value = object[name]
    if (name === '$or') {
      parseOr(value, keys, childPath(path, '$or'), rules)
      continue
    }
    const fieldPath = childPath(path, name)
    if (insideOr && RESERVED_IN_OR.has(name)) {
      fail(fieldPath, `${name} is Ruler reserved fieldName which cannot be used inside $or.`)
    }
    if (isObject(value)) {
      parseObject(value, [...keys, name], fieldPath, rules, insideOr)
    } else if (Array.isArray(value)) {
      const fieldName = [...keys, name].join('.')
      const { matchers, identities } = parseValues(value, fieldPath)
      const field: Field = { name: fieldName, path: fieldPath, matchers, identities }
      if (rules.length === 0) rules.push(new Map())
      for (const rule of rules) rule.set(fieldName, field)
    } else {
      fail(fieldPath, `"${name}" must be an object or an array`)
    }
  }
}

function parseOr(value: unknown, keys: readonly string[], path: string, rules: Rule[]): void {
  const current = rules.map((rule) => new Map(rule))
  rules.length = 0
  if (!Array.isArray(value)) fail(path, 'It must be an Array followed with $or.')
  value.forEach((alternative, index) => {
    const alternativePath = `${path}[${index}]`
    if (!isObject(alternative)) {
      fail(alternativePath, 'Only JSON object is allowed in array of $or relationship.')
    }
    const forked = current.map((rule) => new Map(rule))
    if (forked.length === 0) forked.push(new Map())
    parseObject(alternative, keys, alternativePath, forked, true)
    rules.push(...forked)
    if (rules.length > MAX_BRANCHES) {
      fail(path, `Rule is too complex - $or expands to more than ${MAX_BRANCHES} alternatives`)
    }
  })
  if (value.length < 2) fail(path, 'There must have at least 2 Objects in $or relationship.')
}

function parseValues(values: readonly unknown[], path: string): { matchers: Matcher[]; identities: string[] } {
  const matchers: Matcher[] = []
  const identities: string[] = []
  for (const value of values) {
    if (typeof value === 'string') {
      const bytes = parseIp(value)
      matchers.push(bytes === null ? { kind: 'exact', value } : { kind: 'ip', text: value, bytes })
    } else if (isNumber(value) || typeof value === 'boolean' || value === null) {
      matchers.push({ kind: 'exact', value })
    } else if (isObject(value)) {
      matchers.push(parseMatchExpression(value, path))
    } else {
      fail(path, 'Match value must be String, number, true, false, or null')
    }
    identities.push(JSON.stringify(value) ?? '')
  }
  if (matchers.length === 0) fail(path, 'Empty arrays are not allowed')
  return { matchers, identities }
}

function onlyOneKey(extra: boolean, path: string): void {
  if (extra) fail(path, 'Only one key allowed in match expression')
}

function tooManyElements(extra: boolean, path: string): void {
  if (extra) fail(path, 'Too many elements in numeric expression')
}

function parseMatchExpression(expression: Json, path: string): Matcher {
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

interface ComplexityState {
  readonly fields: Map<string, ComplexityMachine>
}

interface ComplexityMachine {
  readonly path: string
  readonly matchers: Matcher[]
  readonly next: Map<string, ComplexityState>
  readonly valued: Set<ComplexityState>
}

/**
 * The wildcard pattern a matcher adds to its field's byte machine, under the key event-ruler tells
 * equal patterns apart by: a wildcard is one pattern, an anything-but wildcard list another (its
 * values a set). Other matchers add none.
 */
function wildcardGroupOf(matcher: Matcher): { key: string; group: WildcardGroup } | undefined {
  if (matcher.kind === 'wildcard') return { key: `wildcard ${matcher.value}`, group: [matcher.segments] }
  if (matcher.kind === 'anything-but-wildcard') {
    const unique = new Map(matcher.values.map((segments) => [JSON.stringify(segments), segments]))
    return { key: `anything-but ${JSON.stringify([...unique.keys()].sort())}`, group: [...unique.values()] }
  }
  return undefined
}

/**
 * AWS refuses rules whose wildcards are too expensive to run, plain and anything-but wildcards
 * alike. The wildcards that share one event-ruler byte machine (same field, reached through the
 * same earlier values) are weighed together; see `wildcardComplexity`.
 */
function checkComplexity(branches: readonly Branch[]): void {
  const anyWildcard = branches.some((branch) => branch.some((field) => field.matchers.some((matcher) => wildcardGroupOf(matcher))))
  if (!anyWildcard) return
  const root: ComplexityState = { fields: new Map() }
  for (const branch of branches) {
    let states = new Set([root])
    for (const field of branch) {
      const next = new Set<ComplexityState>()
      for (const state of states) {
        let machine = state.fields.get(field.name)
        if (machine === undefined) {
          machine = { path: field.path, matchers: [], next: new Map(), valued: new Set() }
          state.fields.set(field.name, machine)
        }
        let last: ComplexityState | undefined
        field.matchers.forEach((matcher, index) => {
          machine.matchers.push(matcher)
          const identity = field.identities[index]!
          let target = machine.next.get(identity)
          if (target === undefined) {
            target = last ?? { fields: new Map() }
            machine.next.set(identity, target)
          }
          last = target
          next.add(target)
          if (matcher.kind !== 'absent') machine.valued.add(target)
        })
      }
      states = next
    }
  }
  const seen = new Set<ComplexityState>()
  const pending = [root]
  while (pending.length > 0) {
    const state = pending.pop()!
    if (seen.has(state)) continue
    seen.add(state)
    for (const machine of state.fields.values()) {
      const groups = new Map<string, WildcardGroup>()
      for (const matcher of machine.matchers) {
        const wildcard = wildcardGroupOf(matcher)
        if (wildcard) groups.set(wildcard.key, wildcard.group)
      }
      if (wildcardTooComplex([...groups.values()])) {
        fail(
          machine.path,
          'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character',
        )
      }
      for (const target of machine.valued) pending.push(target)
    }
  }
}
