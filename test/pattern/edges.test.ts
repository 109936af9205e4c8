// Property tests near the four edges where we once disagreed with AWS's reference engine
// (aws/event-ruler): numeric bounds at the ±5e11 limit, empty lists inside anything-but, $or
// expansions around 1,000 combinations, and arrays that mix objects and scalars.
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { outcome } from './outcome.js'

const test = suite('event pattern edges: properties')
const LIMIT = 5e11
const runs = { numRuns: 400, seed: Number(process.env.PATTERN_SEED ?? 20261206) }


test('one-sided numeric ranges near the limit: > and < exclusive, >= and <= inclusive, numbers beyond ±5e11 never match', () => {
  const bound = fc.oneof(fc.constantFrom(LIMIT, -LIMIT, 0, LIMIT - 1, -LIMIT + 1), fc.integer({ min: -1e6, max: 1e6 }))
  const near = (b: number) => fc.constantFrom(b, b + 1, b - 1, b + 0.000001, b - 0.000001, LIMIT, -LIMIT, LIMIT * 2)
  fc.assert(
    fc.property(
      fc.constantFrom('<', '<=', '>', '>='),
      bound.chain((b) => fc.tuple(fc.constant(b), near(b))),
      (op, [b, v]) => {
        const expected = Math.abs(v) <= LIMIT && (op === '<' ? v < b : op === '<=' ? v <= b : op === '>' ? v > b : v >= b)
        assert.is(outcome({ a: [{ numeric: [op, b] }] }, { a: v }), expected ? 'match' : 'no-match', `${op} ${b} with ${v}`)
      },
    ),
    runs,
  )
})

test('anything-but lists: an empty one is invalid, any other excludes exactly its values', () => {
  const word = fc.stringMatching(/^[a-c]{1,3}$/)
  fc.assert(
    fc.property(fc.constantFrom('prefix', 'suffix', 'equals-ignore-case'), fc.array(word, { maxLength: 3 }), fc.option(word, { nil: null }), (op, list, value) => {
      const got = outcome({ a: [{ 'anything-but': { [op]: list } }] }, { a: value })
      if (list.length === 0) return assert.is(got, 'invalid')
      if (value === null) return assert.is(got, 'match', 'null is something else (operators.test.ts)')
      const hit = list.some((x) => (op === 'prefix' ? value.startsWith(x) : op === 'suffix' ? value.endsWith(x) : value.toLowerCase() === x.toLowerCase()))
      assert.is(got, hit ? 'no-match' : 'match', `${op} ${JSON.stringify(list)} with ${value}`)
    }),
    runs,
  )
})

test('$or expansions: valid up to 1,000 combinations, invalid past it', () => {
  const ors = (field: string, n: number) => (n === 1 ? { [field]: ['0'] } : { $or: Array.from({ length: n }, (_, i) => ({ [field]: [String(i)] })) })
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }), (a, b, c) => {
      const pattern = { ...ors('a', a), x: ors('c', b), y: ors('d', c) }
      const got = outcome(pattern, { a: '0', x: { c: '0' }, y: { d: '0' } })
      assert.is(got, a * b * c > 1000 ? 'invalid' : 'match', `${a} x ${b} x ${c}`)
    }),
    { ...runs, numRuns: 150 },
  )
})

test('arrays mixing objects and scalars: a scalar element matches on its own, object elements bind their fields', () => {
  const v = fc.constantFrom<string>('x', 'y', 'z')
  const element = fc.oneof(v, fc.record({ c: v, d: v }, { requiredKeys: [] }))
  fc.assert(
    fc.property(fc.array(element, { maxLength: 4 }), v, v, v, (b, wantC, wantScalar, wantD) => {
      const objects = b.filter((e): e is { c?: string; d?: string } => typeof e === 'object')
      const scalars = b.filter((e) => typeof e === 'string')
      const mixed = objects.some((o) => o.c === wantC) && scalars.includes(wantScalar)
      assert.is(outcome({ 'b.c': [wantC], b: [wantScalar] }, { b }), mixed ? 'match' : 'no-match', JSON.stringify({ b, wantC, wantScalar }))
      // Two fields of object elements must come from one element.
      const together = objects.some((o) => o.c === wantC && o.d === wantD)
      assert.is(outcome({ b: { c: [wantC], d: [wantD] } }, { b }), together ? 'match' : 'no-match', JSON.stringify({ b, wantC, wantD }))
    }),
    runs,
  )
})

test.run()
