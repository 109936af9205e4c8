import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvalidPatternError } from '../../lib/errors.js'
import { compileTest } from '../../lib/pattern/compile.js'
import { compilePattern, compilePrefilter, matches, validatePattern } from '../../lib/pattern/index.js'
import { parsePattern } from '../../lib/pattern/parse.js'

const test = suite('event pattern properties')

const RUNS = 300

// A small vocabulary, so that random patterns and random events meet often.
const keys = ['source', 'detail', 'a', 'b', 'x.y', 'state', '', 'constructor']
const strings = [
  'orders',
  'Orders',
  'ORDERS',
  'a',
  '',
  'a/b',
  'é',
  'x"y',
  'back\\slash',
  'tab\tstop',
  '10.0.0.1',
  '010.0.0.1',
  '2001:db8::1',
  '2001:DB8:0::1',
  'ab*c',
  '\u212a',
  'ß',
  'SS',
  '\ud83d\ude80 rocket',
  '\ud800',
]
const numbers = [0, 1, -5, 5, 300, 300.5, 0.000001, 1e10]
const eventNumbers = [...numbers, 6e11, -0.5]

const str = fc.constantFrom(...strings)
const num = fc.constantFrom(...numbers)
const leaf = fc.oneof(str, fc.constantFrom(...eventNumbers), fc.boolean(), fc.constant(null))

const wildcard = fc.constantFrom('*', 'a*', '*b', 'a*b', '*/*', 'ord*', '*ers', 'a\\*b', 'x\\\\*', '', 'or*rs', '*a*a*a*a*a*', 'a**')

const operator: fc.Arbitrary<unknown> = fc.oneof(
  str.map((s) => ({ prefix: s })),
  str.map((s) => ({ suffix: s })),
  str.map((s) => ({ prefix: { 'equals-ignore-case': s } })),
  str.map((s) => ({ suffix: { 'equals-ignore-case': s } })),
  str.map((s) => ({ 'equals-ignore-case': s })),
  str.map((s) => ({ exactly: s })),
  wildcard.map((w) => ({ wildcard: w })),
  fc.tuple(fc.constantFrom('=', '<', '<=', '>', '>='), num).map(([op, n]) => ({ numeric: [op, n] })),
  fc.tuple(num, num).map(([a, b]) => ({ numeric: ['>', Math.min(a, b), '<=', Math.max(a, b)] })),
  fc.boolean().map((b) => ({ exists: b })),
  fc.oneof(str, num, fc.array(str, { minLength: 1, maxLength: 3 }), fc.array(num, { minLength: 1, maxLength: 3 })).map(
    (v) => ({ 'anything-but': v }),
  ),
  fc
    .tuple(fc.constantFrom('prefix', 'suffix', 'equals-ignore-case', 'wildcard'), fc.oneof(str, fc.array(str, { maxLength: 2 })))
    .map(([op, v]) => ({ 'anything-but': { [op]: v } })),
  fc.constantFrom('10.0.0.0/8', '10.0.0.0/24', '2001:db8::/32', '0.0.0.0/0').map((c) => ({ cidr: c })),
)

const valueList = fc.array(fc.oneof({ weight: 2, arbitrary: leaf }, { weight: 3, arbitrary: operator }), {
  minLength: 1,
  maxLength: 3,
})

/** Mostly valid patterns of AWS's shape with this vocabulary (some operands are invalid on purpose). */
function patternOfDepth(depth: number): fc.Arbitrary<Record<string, unknown>> {
  const key = fc.constantFrom(...keys)
  if (depth === 0) return fc.dictionary(key, valueList, { minKeys: 1, maxKeys: 3 })
  const inner = patternOfDepth(depth - 1)
  const fields = fc.dictionary(key, fc.oneof({ weight: 3, arbitrary: valueList }, { weight: 1, arbitrary: inner }), {
    minKeys: 1,
    maxKeys: 3,
  })
  return fc
    .tuple(fields, fc.option(fc.array(inner, { minLength: 2, maxLength: 3 }), { freq: 4 }))
    .map(([f, or]) => (or === null ? f : { ...f, $or: or }))
}
const pattern = patternOfDepth(2)

/** Events of the same vocabulary: nested objects, arrays of leaves and of objects, dotted keys. */
function eventOfDepth(depth: number): fc.Arbitrary<Record<string, unknown>> {
  const key = fc.constantFrom(...keys, 'x', 'y', 'detail.a')
  if (depth === 0) return fc.dictionary(key, fc.oneof(leaf, fc.array(leaf, { maxLength: 3 })), { maxKeys: 4 })
  const inner = eventOfDepth(depth - 1)
  const value = fc.oneof(
    { weight: 4, arbitrary: leaf },
    { weight: 1, arbitrary: inner },
    { weight: 1, arbitrary: fc.array(fc.oneof(leaf, inner), { maxLength: 3 }) },
  )
  return fc.dictionary(key, value, { maxKeys: 4 })
}
const event = eventOfDepth(3)

/** Events rich in arrays of objects that share keys, where array consistency decides. */
const arrayEvent: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    eventOfDepth(1),
    fc.array(
      fc.record(
        {
          a: leaf,
          b: leaf,
          sub: fc.array(fc.record({ c: leaf, d: leaf }, { requiredKeys: [] }), { maxLength: 3 }),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 4 },
    ),
  )
  .map(([base, items]) => ({ ...base, items }))

/** Leaves of an event as flattened name/value pairs (arrays crushed out), in document order. */
function leavesOf(e: unknown): { name: string; value: unknown }[] {
  const out: { name: string; value: unknown }[] = []
  const walk = (value: unknown, name: string | null): void => {
    if (Array.isArray(value)) value.forEach((item) => walk(item, name))
    else if (typeof value === 'object' && value !== null) {
      for (const k of Object.keys(value)) walk((value as Record<string, unknown>)[k], name === null ? k : `${name}.${k}`)
    } else if (name !== null) out.push({ name, value })
  }
  walk(e, null)
  return out
}

/**
 * A pattern made from the event's own leaves, keyed by flattened name: exact values (possibly taken
 * from another array element with the same name), exists true or false, anything-but, prefix and
 * numeric bounds. Such patterns match often and probe array consistency and absence.
 */
function patternFromEvent(e: unknown, picks: readonly (readonly [number, number, number])[]): Record<string, unknown> {
  const leaves = leavesOf(e)
  if (leaves.length === 0) return { missing: [{ exists: false }] }
  const result: Record<string, unknown[]> = {}
  for (const [which, kind, other] of picks) {
    const { name, value } = leaves[which % leaves.length]!
    const sameName = leaves.filter((l) => l.name === name)
    const sibling = sameName[other % sameName.length]!.value
    const comparable = typeof value === 'number' && Math.abs(value) <= 5e11
    let values: unknown[]
    switch (kind % 8) {
      case 0: values = [value]; break
      case 1: values = [sibling]; break
      case 2: values = [{ exists: true }]; break
      case 3: values = [{ exists: false }]; break
      case 4: values = typeof value === 'string' || comparable ? [{ 'anything-but': value }] : [{ exists: false }]; break
      case 5: values = typeof value === 'string' && value.length > 0 ? [{ prefix: value.slice(0, 2) }] : [sibling]; break
      case 6: values = comparable ? [{ numeric: ['>=', value] }] : [value]; break
      default: values = [sibling, { exists: false }]
    }
    result[name] = values
  }
  return result
}

const eventAndDerivedPattern = fc
  .tuple(fc.oneof(event, arrayEvent), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }))
  .map(([e, picks]) => ({ e, p: patternFromEvent(e, picks) }))

function validOrUndefined(p: unknown): ((event: unknown) => boolean) | undefined {
  try {
    return compilePattern(p)
  } catch (error) {
    if (error instanceof InvalidPatternError) return undefined
    throw error
  }
}

/** A JSON writer that escapes string characters at random: `\uXXXX` for any, `\/` for `/`. */
function serializeWithEscapes(value: unknown, seed: number): string {
  let state = seed >>> 0
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const writeString = (text: string): string => {
    let out = '"'
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!
      const code = text.charCodeAt(i)
      const roll = random()
      if (c === '/' && roll < 0.5) out += '\\/'
      else if (roll < 0.3 || code < 0x20 || c === '"' || c === '\\' || (code >= 0xd800 && code <= 0xdfff)) {
        out += `\\u${code.toString(16).padStart(4, '0')}`
      } else out += c
    }
    return `${out}"`
  }
  const write = (v: unknown): string => {
    if (typeof v === 'string') return writeString(v)
    if (Array.isArray(v)) return `[${v.map((item) => (item === undefined ? 'null' : write(item))).join(',')}]`
    if (typeof v === 'object' && v !== null) {
      return `{${Object.keys(v)
        .map((k) => `${writeString(k)}:${write((v as Record<string, unknown>)[k])}`)
        .join(',')}}`
    }
    return JSON.stringify(v)
  }
  return write(value)
}

test('random patterns and events never crash: compile throws InvalidPatternError or the matcher returns a boolean', () => {
  fc.assert(
    fc.property(fc.oneof(pattern, fc.jsonValue(), fc.anything()), fc.oneof(event, fc.anything()), (p, e) => {
      const matcher = validOrUndefined(p)
      if (matcher !== undefined) assert.type(matcher(e), 'boolean')
    }),
    { numRuns: RUNS },
  )
})

interface FlatField {
  readonly name: string
  readonly value: unknown
  readonly membership: readonly (readonly [unknown[], number])[]
}

/**
 * A deliberately naive reference of event-ruler's matching (its Event flattening and ACFinder):
 * every leaf becomes a name/value pair with the array elements it sits in, and a branch matches
 * when its fields, visited sorted by name, find array-consistent pairs (or, for `exists: false`,
 * no consistent pair at all).
 */
function referenceMatches(p: unknown, e: unknown): boolean {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return false
  const flat: FlatField[] = []
  const walk = (value: unknown, name: string | null, membership: FlatField['membership']): void => {
    // A scalar element of an array belongs to no element of it: the one-element rule binds object
    // (and nested array) elements only, as event-ruler does.
    if (Array.isArray(value)) value.forEach((item, index) => walk(item, name, item === null || typeof item !== 'object' ? membership : [...membership, [value, index]]))
    else if (typeof value === 'object' && value !== null) {
      for (const k of Object.keys(value)) walk((value as Record<string, unknown>)[k], name === null ? k : `${name}.${k}`, membership)
    } else if (name !== null && (value === null || ['string', 'number', 'boolean'].includes(typeof value))) {
      flat.push({ name, value, membership })
    }
  }
  walk(e, null, [])
  const consistent = (so: FlatField['membership'], next: FlatField['membership']): boolean =>
    next.every(([array, index]) => so.every(([a, i]) => a !== array || i === index))
  return parsePattern(p).branches.some((branch) => {
    const tests = branch.map((field) => {
      const valued = field.matchers.filter((m) => m.kind !== 'absent')
      return valued.length > 0 ? compileTest(valued) : null
    })
    const search = (i: number, membership: FlatField['membership']): boolean => {
      if (i === branch.length) return true
      const field = branch[i]!
      const candidates = flat.filter((f) => f.name === field.name && consistent(membership, f.membership))
      if (field.matchers.some((m) => m.kind === 'absent') && candidates.length === 0 && search(i + 1, membership)) return true
      const test = tests[i]
      return test !== null && candidates.some((f) => test!(f.value) && search(i + 1, [...membership, ...f.membership]))
    }
    return search(0, [])
  })
}

test('the compiled matcher agrees with a naive reference of event-ruler on every random pattern and event', () => {
  let agreedOnMatch = 0
  let agreedOnMiss = 0
  fc.assert(
    fc.property(eventAndDerivedPattern, fc.oneof(event, arrayEvent), ({ e, p }, other) => {
      const matcher = validOrUndefined(p)
      fc.pre(matcher !== undefined)
      for (const candidate of [e, other]) {
        const expected = referenceMatches(p, candidate)
        if (expected) agreedOnMatch++
        else agreedOnMiss++
        assert.is(matcher!(candidate), expected, `pattern ${JSON.stringify(p)} event ${JSON.stringify(candidate)}`)
      }
    }),
    { numRuns: RUNS * 2 },
  )
  assert.ok(agreedOnMiss > 0, 'derived patterns always matched')
  fc.assert(
    fc.property(pattern, fc.array(event, { minLength: 1, maxLength: 5 }), (p, events) => {
      const matcher = validOrUndefined(p)
      fc.pre(matcher !== undefined)
      for (const e of events) {
        const expected = referenceMatches(p, e)
        if (expected) agreedOnMatch++
        assert.is(matcher!(e), expected, `pattern ${JSON.stringify(p)} event ${JSON.stringify(e)}`)
      }
    }),
    { numRuns: RUNS * 2 },
  )
  assert.ok(agreedOnMatch > 0, 'no random event ever matched')
})

test('whatever validatePattern accepts compiles, to a matcher and a prefilter', () => {
  fc.assert(
    fc.property(fc.oneof(pattern, fc.jsonValue()), (p) => {
      let valid = true
      try {
        validatePattern(p)
      } catch (error) {
        assert.instance(error, InvalidPatternError)
        valid = false
      }
      if (!valid) {
        assert.throws(() => compilePattern(p), (error: unknown) => error instanceof InvalidPatternError)
        return
      }
      assert.type(compilePattern(p), 'function')
      compilePrefilter(p)
    }),
    { numRuns: RUNS },
  )
})

test('matching is deterministic: the same answer twice, from a fresh compile, and from matches()', () => {
  fc.assert(
    fc.property(pattern, fc.array(event, { minLength: 1, maxLength: 4 }), (p, events) => {
      const matcher = validOrUndefined(p)
      fc.pre(matcher !== undefined)
      const again = compilePattern(p)
      for (const e of events) {
        const first = matcher!(e)
        assert.is(matcher!(e), first)
        assert.is(again(e), first)
        assert.is(matches(p, e), first)
      }
    }),
    { numRuns: RUNS },
  )
})

test('collapsing a nested object into dotted keys never changes the answer', () => {
  fc.assert(
    fc.property(pattern, event, fc.constantFrom(...keys), eventOfDepth(1), (p, e, key, inner) => {
      const matcher = validOrUndefined(p)
      fc.pre(matcher !== undefined)
      const nested: Record<string, unknown> = {}
      const collapsed: Record<string, unknown> = {}
      for (const k of Object.keys(e)) {
        if (k === key || k.startsWith(`${key}.`)) continue
        nested[k] = e[k]
        collapsed[k] = e[k]
      }
      nested[key] = inner
      for (const k of Object.keys(inner)) collapsed[`${key}.${k}`] = inner[k]
      assert.is(matcher!(collapsed), matcher!(nested))
    }),
    { numRuns: RUNS },
  )
})

test('THE PREFILTER PROPERTY: a line the prefilter rejects never holds a matching event', () => {
  let rejected = 0
  let matched = 0
  fc.assert(
    fc.property(fc.oneof(pattern.map((p) => ({ p, e: undefined as Record<string, unknown> | undefined })), eventAndDerivedPattern), fc.oneof(event, arrayEvent), fc.integer(), ({ p, e: own }, other, seed) => {
      const e = own ?? other
      const matcher = validOrUndefined(p)
      fc.pre(matcher !== undefined)
      const mayMatch = compilePrefilter(p)
      const lines = [JSON.stringify(e), JSON.stringify(e, null, 2), serializeWithEscapes(e, seed)]
      for (const line of lines) {
        const parsed: unknown = JSON.parse(line)
        const isMatch = matcher!(parsed)
        if (isMatch) matched++
        if (mayMatch !== undefined && !mayMatch(line)) {
          rejected++
          assert.not.ok(isMatch, `prefilter rejected a matching line: ${line} for ${JSON.stringify(p)}`)
        }
      }
    }),
    { numRuns: RUNS * 2 },
  )
  // the property must not hold vacuously
  assert.ok(rejected > 0, 'the prefilter never rejected a line')
  assert.ok(matched > 0, 'no generated event ever matched')
})

test('the prefilter property holds on events built to match: a value from the pattern placed in the event', () => {
  fc.assert(
    fc.property(fc.constantFrom(...keys.filter(Boolean)), fc.array(str, { minLength: 1, maxLength: 3 }), fc.nat(), fc.integer(), (k, values, pick, seed) => {
      const p = { [k]: values }
      const e = { [k]: values[pick % values.length], other: 'noise' }
      const mayMatch = compilePrefilter(p)
      assert.ok(compilePattern(p)(e))
      for (const line of [JSON.stringify(e), serializeWithEscapes(e, seed)]) assert.ok(mayMatch === undefined || mayMatch(line))
    }),
    { numRuns: RUNS },
  )
})

test.run()
