import { ignoreCaseTester } from './ignore-case.js'
import { inRange, parseIpInto, sameAddress } from './ip.js'
import { parsePattern, type Branch, type Field, type Matcher } from './parse.js'
import { wildcardTester } from './wildcard.js'

type Test = (value: unknown) => boolean

/** One field of a branch, ready to run: where to look and what to accept. */
interface Step {
  /** Number of `.`-separated segments in the flattened name. */
  readonly segments: number
  /** `keys[s][k]`: the event key covering segments s..s+k (an event key may itself contain dots). */
  readonly keys: readonly (readonly string[])[]
  /** Keys also found on Object.prototype: read them only when they are own properties. */
  readonly guarded: readonly (readonly boolean[])[]
  /** The field may be absent (`exists: false`). */
  readonly absent: boolean
  /** Accepts a leaf value; null when the field only matches by being absent. */
  readonly test: Test | null
}

/**
 * The array elements the match so far has committed to. A field inside element i of an array can
 * only combine with fields inside the same element (event-ruler's array consistency).
 */
interface Context {
  root: Record<string, unknown>
  arrays: unknown[][]
  indexes: number[]
  depth: number
}

const hasOwn = Object.prototype.hasOwnProperty
const ipScratch = new Uint8Array(16)

/**
 * Compiles an EventBridge event pattern once into a matcher that answers, for a parsed event,
 * whether EventBridge would deliver it. The pattern is validated first; matching never throws and
 * allocates nothing for events without arrays on the pattern's paths.
 *
 * Semantics are aws/event-ruler's (the engine behind EventBridge): exact values are typed (`"300"`
 * is not `300`, `300` is `300.0`), a field that is an array matches when any element does, fields
 * taken from different elements of one array never combine, `exists` looks at leaves only (an
 * object or an empty array does not exist, `null` does), `anything-but` needs the field to be
 * present, numeric matching takes JSON numbers within ±5e11, and a non-object event never matches.
 *
 * @throws {InvalidPatternError} when AWS would reject the pattern.
 * @example
 * const isLargeOrder = compilePattern({ source: ['orders'], detail: { amount: [{ numeric: ['>=', 100] }] } })
 * isLargeOrder({ source: 'orders', detail: { amount: 250 } }) // true
 * isLargeOrder({ source: 'orders', detail: { amount: '250' } }) // false: a string is not a number
 */
export function compilePattern(pattern: unknown): (event: unknown) => boolean {
  const { branches } = parsePattern(pattern)
  const compiled = branches.map(compileBranch)
  const context: Context = { root: {}, arrays: [], indexes: [], depth: 0 }
  if (compiled.length === 1) {
    const steps = compiled[0]!
    return function matchEvent(event: unknown): boolean {
      if (typeof event !== 'object' || event === null || Array.isArray(event)) return false
      context.root = event as Record<string, unknown>
      context.depth = 0
      return matchFrom(context, steps, 0)
    }
  }
  return function matchEvent(event: unknown): boolean {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return false
    context.root = event as Record<string, unknown>
    for (let b = 0; b < compiled.length; b++) {
      context.depth = 0
      if (matchFrom(context, compiled[b]!, 0)) return true
    }
    return false
  }
}

/**
 * Answers once whether EventBridge would deliver `event` for `pattern`; compile with
 * {@link compilePattern} instead when matching many events.
 *
 * @throws {InvalidPatternError} when AWS would reject the pattern.
 * @example
 * matches({ 'detail-type': [{ prefix: 'Order' }] }, { 'detail-type': 'OrderPlaced' }) // true
 */
export function matches(pattern: unknown, event: unknown): boolean {
  return compilePattern(pattern)(event)
}

/** How cheap and selective a step is; steps of a branch without `exists: false` run cheapest first. */
function rank(field: Field): number {
  let worst = 0
  for (const matcher of field.matchers) {
    const cost =
      matcher.kind === 'exact'
        ? 0
        : matcher.kind === 'prefix' || matcher.kind === 'suffix' || matcher.kind === 'equals-ignore-case'
          ? 1
          : matcher.kind === 'numeric' || matcher.kind === 'ip' || matcher.kind === 'wildcard'
            ? 2
            : matcher.kind === 'exists'
              ? 4
              : 3
    if (cost > worst) worst = cost
  }
  return worst * 64 + Math.min(field.name.split('.').length, 63)
}

function compileBranch(branch: Branch): Step[] {
  const hasAbsence = branch.some((field) => field.matchers.some((m) => m.kind === 'absent'))
  // Without `exists: false` the outcome does not depend on the order fields are tried in; with it,
  // event-ruler's order (sorted by name) decides which array elements an absence is checked in.
  const ordered = hasAbsence ? branch : [...branch].sort((a, b) => rank(a) - rank(b))
  return ordered.map(compileStep)
}

function compileStep(field: Field): Step {
  const parts = field.name.split('.')
  const keys: string[][] = []
  const guarded: boolean[][] = []
  for (let s = 0; s < parts.length; s++) {
    const row: string[] = []
    const guards: boolean[] = []
    for (let e = s; e < parts.length; e++) {
      const key = parts.slice(s, e + 1).join('.')
      row.push(key)
      guards.push(key in Object.prototype)
    }
    keys.push(row)
    guarded.push(guards)
  }
  const absent = field.matchers.some((m) => m.kind === 'absent')
  const valued = field.matchers.filter((m) => m.kind !== 'absent')
  return { segments: parts.length, keys, guarded, absent, test: valued.length > 0 ? compileTest(valued) : null }
}

/**
 * Combines a field's matchers into one test: a set lookup for exact values, then the operators.
 * Internal: exported for the differential property test, not from the package.
 *
 * @example
 * compileTest([{ kind: 'exact', value: 'a' }, { kind: 'prefix', value: 'b', ignoreCase: false }])('bc') // true
 */
export function compileTest(matchers: readonly Matcher[]): Test {
  if (matchers.some((m) => m.kind === 'exists')) return () => true
  const exact = new Set<unknown>()
  const tests: Test[] = []
  for (const matcher of matchers) {
    if (matcher.kind === 'exact') exact.add(matcher.value)
    else tests.push(compileMatcher(matcher))
  }
  if (tests.length === 0) {
    if (exact.size === 1) {
      const only = exact.values().next().value
      return (value) => value === only
    }
    return (value) => exact.has(value)
  }
  if (exact.size === 0 && tests.length === 1) return tests[0]!
  return function testValue(value: unknown): boolean {
    if (exact.has(value)) return true
    for (let i = 0; i < tests.length; i++) if (tests[i]!(value)) return true
    return false
  }
}

function anyOf(testers: readonly ((value: string) => boolean)[]): (value: string) => boolean {
  if (testers.length === 1) return testers[0]!
  return (value) => {
    for (let i = 0; i < testers.length; i++) if (testers[i]!(value)) return true
    return false
  }
}

function compileMatcher(matcher: Matcher): Test {
  switch (matcher.kind) {
    case 'exact': {
      const expected = matcher.value
      return (value) => value === expected
    }
    case 'ip': {
      const { text, bytes } = matcher
      return (value) => {
        if (typeof value !== 'string') return false
        if (value === text) return true
        const length = parseIpInto(value, ipScratch)
        return length > 0 && sameAddress(ipScratch, length, bytes)
      }
    }
    case 'prefix': {
      const { value: prefix } = matcher
      if (matcher.ignoreCase) {
        const test = ignoreCaseTester(prefix, 'prefix')
        return (value) => typeof value === 'string' && test(value)
      }
      return (value) => typeof value === 'string' && value.startsWith(prefix)
    }
    case 'suffix': {
      const { value: suffix } = matcher
      if (matcher.ignoreCase) {
        const test = ignoreCaseTester(suffix, 'suffix')
        return (value) => typeof value === 'string' && test(value)
      }
      return (value) => typeof value === 'string' && value.endsWith(suffix)
    }
    case 'equals-ignore-case': {
      const test = ignoreCaseTester(matcher.value, 'equals')
      return (value) => typeof value === 'string' && test(value)
    }
    case 'wildcard': {
      const test = wildcardTester(matcher.segments)
      return (value) => typeof value === 'string' && test(value)
    }
    case 'numeric': {
      const { low, lowOpen, high, highOpen } = matcher
      // `> 5e11` (the limit) is an empty range: `>` and `<` are exclusive everywhere.
      if (low === high) return lowOpen || highOpen ? () => false : (value) => value === low
      if (lowOpen && highOpen) return (value) => typeof value === 'number' && value > low && value < high
      if (lowOpen) return (value) => typeof value === 'number' && value > low && value <= high
      if (highOpen) return (value) => typeof value === 'number' && value >= low && value < high
      return (value) => typeof value === 'number' && value >= low && value <= high
    }
    case 'cidr': {
      const { range } = matcher
      return (value) => {
        if (typeof value !== 'string') return false
        const length = parseIpInto(value, ipScratch)
        return length > 0 && inRange(ipScratch, length, range)
      }
    }
    case 'exists':
      return () => true
    case 'absent':
      return () => false
    case 'anything-but': {
      const { values } = matcher
      return (value) => !values.has(value as string | number)
    }
    case 'anything-but-prefix': {
      const test = anyOf(matcher.values.map((prefix) => (value: string) => value.startsWith(prefix)))
      return (value) => typeof value !== 'string' || !test(value)
    }
    case 'anything-but-suffix': {
      const test = anyOf(matcher.values.map((suffix) => (value: string) => value.endsWith(suffix)))
      return (value) => typeof value !== 'string' || !test(value)
    }
    case 'anything-but-ignore-case': {
      if (matcher.values.length === 0) return () => true
      const test = anyOf(matcher.values.map((text) => ignoreCaseTester(text, 'equals')))
      return (value) => typeof value !== 'string' || !test(value)
    }
    case 'anything-but-wildcard': {
      if (matcher.values.length === 0) return () => true
      const test = anyOf(matcher.values.map(wildcardTester))
      return (value) => typeof value !== 'string' || !test(value)
    }
  }
}

/** Tries step i and the ones after it; true as soon as one consistent assignment of values matches. */
function matchFrom(context: Context, steps: readonly Step[], i: number): boolean {
  if (i === steps.length) return true
  const step = steps[i]!
  if (step.absent) {
    if (!existsIn(context, step, context.root, 0) && matchFrom(context, steps, i + 1)) return true
    if (step.test === null) return false
  }
  return seekInObject(context, steps, i, step, context.root, 0)
}

function read(object: Record<string, unknown>, key: string, guarded: boolean): unknown {
  if (guarded && !hasOwn.call(object, key)) return undefined
  return object[key]
}

/** Position of `array` among the committed arrays' elements, or -1 when the match is free in it. */
function committedIndex(context: Context, array: unknown[]): number {
  for (let d = 0; d < context.depth; d++) if (context.arrays[d] === array) return context.indexes[d]!
  return -1
}

function commit(context: Context, array: unknown[], index: number): void {
  const depth = context.depth++
  context.arrays[depth] = array
  context.indexes[depth] = index
}

function seekInObject(
  context: Context,
  steps: readonly Step[],
  i: number,
  step: Step,
  object: Record<string, unknown>,
  segment: number,
): boolean {
  const keys = step.keys[segment]!
  const guarded = step.guarded[segment]!
  for (let k = 0; k < keys.length; k++) {
    const value = read(object, keys[k]!, guarded[k]!)
    if (value === undefined) continue
    const next = segment + k + 1
    if (next === step.segments) {
      if (seekLeaf(context, steps, i, step, value)) return true
    } else if (typeof value === 'object' && value !== null) {
      if (seekInValue(context, steps, i, step, value, next)) return true
    }
  }
  return false
}

function seekInValue(context: Context, steps: readonly Step[], i: number, step: Step, value: object, segment: number): boolean {
  if (!Array.isArray(value)) return seekInObject(context, steps, i, step, value as Record<string, unknown>, segment)
  const fixed = committedIndex(context, value)
  if (fixed >= 0) {
    const element: unknown = value[fixed]
    return typeof element === 'object' && element !== null && seekInValue(context, steps, i, step, element, segment)
  }
  for (let j = 0; j < value.length; j++) {
    const element: unknown = value[j]
    if (typeof element !== 'object' || element === null) continue
    commit(context, value, j)
    const found = seekInValue(context, steps, i, step, element, segment)
    context.depth--
    if (found) return true
  }
  return false
}

function seekLeaf(context: Context, steps: readonly Step[], i: number, step: Step, value: unknown): boolean {
  if (typeof value === 'object' && value !== null) {
    if (!Array.isArray(value)) return false // an object is not a leaf
    // The one-element rule binds the object elements of an array: a scalar element is matched on
    // its own, whichever element other fields were taken from (as event-ruler does).
    const fixed = committedIndex(context, value)
    for (let j = 0; j < value.length; j++) {
      const element: unknown = value[j]
      if (typeof element !== 'object' || element === null) {
        if (seekLeaf(context, steps, i, step, element)) return true
        continue
      }
      if (!Array.isArray(element) || (fixed >= 0 && fixed !== j)) continue
      commit(context, value, j)
      const found = seekLeaf(context, steps, i, step, element)
      context.depth--
      if (found) return true
    }
    return false
  }
  const type = typeof value
  if (type !== 'string' && type !== 'number' && type !== 'boolean' && value !== null) return false
  if (step.test === null || !step.test(value)) return false
  return matchFrom(context, steps, i + 1)
}

/** Whether the field has any leaf consistent with the array elements committed so far. */
function existsIn(context: Context, step: Step, object: Record<string, unknown>, segment: number): boolean {
  const keys = step.keys[segment]!
  const guarded = step.guarded[segment]!
  for (let k = 0; k < keys.length; k++) {
    const value = read(object, keys[k]!, guarded[k]!)
    if (value === undefined) continue
    const next = segment + k + 1
    if (next === step.segments) {
      if (hasLeaf(context, value)) return true
    } else if (typeof value === 'object' && value !== null && existsBelow(context, step, value, next)) {
      return true
    }
  }
  return false
}

function existsBelow(context: Context, step: Step, value: object, segment: number): boolean {
  if (!Array.isArray(value)) return existsIn(context, step, value as Record<string, unknown>, segment)
  const fixed = committedIndex(context, value)
  for (let j = fixed >= 0 ? fixed : 0; j < (fixed >= 0 ? Math.min(fixed + 1, value.length) : value.length); j++) {
    const element: unknown = value[j]
    if (typeof element === 'object' && element !== null && existsBelow(context, step, element, segment)) return true
  }
  return false
}

function hasLeaf(context: Context, value: unknown): boolean {
  if (value === null) return true
  const type = typeof value
  if (type === 'string' || type === 'number' || type === 'boolean') return true
  if (!Array.isArray(value)) return false
  // As in seekLeaf: a scalar element exists on its own; a nested array keeps to the element taken.
  const fixed = committedIndex(context, value)
  for (let j = 0; j < value.length; j++) {
    const element: unknown = value[j]
    if (element === null || typeof element !== 'object') return true
    if (Array.isArray(element) && (fixed < 0 || fixed === j) && hasLeaf(context, element)) return true
  }
  return false
}
