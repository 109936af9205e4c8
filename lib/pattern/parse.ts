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
import { checkComplexity } from './complexity.js'
import { parseIp } from './ip.js'
import { parseMatchExpression } from './operators.js'
import { childPath, fail, isNumber, isObject, type Field, type Json, type Matcher, type ParsedPattern } from './syntax.js'

export type { Branch, Field, Matcher, ParsedPattern } from './syntax.js'

/** event-ruler refuses a (sub-)rule of more fields than this. */
const MAX_FIELDS_PER_BRANCH = 256
/** EventBridge's documented limit on the combinations an `$or` pattern expands to. */
const MAX_BRANCHES = 1000

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
      fail(path, `Rule is too complex: $or expands to more than ${MAX_BRANCHES} combinations, the most EventBridge allows`)
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

