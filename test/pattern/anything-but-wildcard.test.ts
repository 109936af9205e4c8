import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvalidPatternError } from '../../lib/errors.js'
import { compilePattern, matches, validatePattern } from '../../lib/pattern/index.js'

// A wildcard inside anything-but is checked exactly like a plain one: the same syntax check value
// by value, and the same complexity limit, weighed together with the plain wildcards of its field
// (event-ruler's MachineComplexityEvaluator counts WILDCARD and ANYTHING_BUT_WILDCARD patterns).
const test = suite('anything-but wildcards: the checks of plain wildcards')

const TOO_COMPLEX =
  'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character'

/** The message validation throws for `pattern`, checking that compilation refuses it too. */
function refusal(pattern: unknown): string {
  try {
    validatePattern(pattern)
  } catch (error) {
    assert.instance(error, InvalidPatternError)
    assert.throws(() => compilePattern(pattern), (thrown: unknown) => thrown instanceof InvalidPatternError)
    return (error as Error).message
  }
  assert.unreachable(`expected ${JSON.stringify(pattern)} to be rejected`)
  return ''
}

const TWENTY_STARS = '*a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*'

test('a single anything-but wildcard with too many stars is too complex, as the plain wildcard is', () => {
  for (const text of [TWENTY_STARS, '*:*:*:*:*:event-bus/*']) {
    assert.is(refusal({ detail: { s: [{ wildcard: text }] } }), `detail.s: ${TOO_COMPLEX}`)
    assert.is(refusal({ detail: { s: [{ 'anything-but': { wildcard: text } }] } }), `detail.s: ${TOO_COMPLEX}`, text)
    assert.is(refusal({ detail: { s: [{ 'anything-but': { wildcard: ['*.png', text] } }] } }), `detail.s: ${TOO_COMPLEX}`, `${text} in a list`)
  }
})

test('an anything-but wildcard list is weighed as a whole: values fine alone can be too complex together', () => {
  validatePattern({ s: [{ 'anything-but': { wildcard: '*:*:a' } }] })
  validatePattern({ s: [{ 'anything-but': { wildcard: ['*:*:a', '*:*:b'] } }] })
  assert.is(refusal({ s: [{ 'anything-but': { wildcard: ['*:*:a', '*:*:b', '*:*:c'] } }] }), `s: ${TOO_COMPLEX}`)
})

test('plain and anything-but wildcards of one field are weighed together, also across $or', () => {
  validatePattern({ s: [{ wildcard: '*a*a*' }] })
  validatePattern({ s: [{ 'anything-but': { wildcard: '*a*a*' } }] })
  assert.is(refusal({ s: [{ wildcard: '*a*a*' }, { 'anything-but': { wildcard: '*a*a*' } }] }), `s: ${TOO_COMPLEX}`)
  assert.is(refusal({ $or: [{ s: [{ wildcard: '*a*a*' }] }, { s: [{ 'anything-but': { wildcard: '*a*a*' } }] }] }), `$or[0].s: ${TOO_COMPLEX}`)
  // Other fields have machines of their own.
  validatePattern({ s: [{ wildcard: '*a*a*' }], t: [{ 'anything-but': { wildcard: '*a*a*' } }] })
})

test('the values of one anything-but list are one pattern: where they share a state it counts once', () => {
  const extensions = ['*.bif', '*.tiff', '*.tif', '*.svs']
  // Four plain wildcards are four patterns sharing their first star: too complex.
  assert.is(refusal({ key: extensions.map((wildcard) => ({ wildcard })) }), `key: ${TOO_COMPLEX}`)
  // One anything-but list of them is a single values set in event-ruler.
  validatePattern({ key: [{ 'anything-but': { wildcard: extensions } }] })
  assert.not.ok(matches({ key: [{ 'anything-but': { wildcard: extensions } }] }, { key: 'slide.tif' }))
  assert.ok(matches({ key: [{ 'anything-but': { wildcard: extensions } }] }, { key: 'slide.png' }))
})

test('each anything-but wildcard value gets the syntax check of a plain wildcard, with the same message', () => {
  for (const bad of ['a**', '**', 'a\\b', 'trailing\\', 'x*\\y']) {
    const plain = refusal({ s: [{ wildcard: bad }] })
    assert.is(refusal({ s: [{ 'anything-but': { wildcard: bad } }] }), plain, bad)
    assert.is(refusal({ s: [{ 'anything-but': { wildcard: ['fine*', bad] } }] }), plain, `${bad} in a list`)
  }
  assert.is(refusal({ s: [{ 'anything-but': { wildcard: ['fine*', 7] } }] }), refusal({ s: [{ wildcard: 7 }] }))
})

test('anything-but prefix, suffix and equals-ignore-case lists check every value, with AWS messages', () => {
  assert.is(refusal({ s: [{ 'anything-but': { prefix: ['ok', 1] } }] }), 's: prefix/suffix match pattern must be a string')
  assert.is(refusal({ s: [{ 'anything-but': { suffix: ['ok', ''] } }] }), 's: Null prefix/suffix not allowed')
  assert.is(refusal({ s: [{ 'anything-but': { prefix: ['ok', null] } }] }), 's: prefix/suffix match pattern must be a string')
  assert.is(
    refusal({ s: [{ 'anything-but': { 'equals-ignore-case': ['ok', true] } }] }),
    's: Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.',
  )
  // Accepted ones match as their plain counterparts do, negated.
  for (const [operator, value, event] of [
    ['prefix', 'init', 'initial'],
    ['suffix', '.txt', 'a.txt'],
    ['equals-ignore-case', 'Stopped', 'sTOPPED'],
    ['wildcard', '*/lib/*', 'a/lib/b'],
  ] as const) {
    const plain = matches({ s: [{ [operator]: value }] }, { s: event })
    assert.ok(plain, operator)
    assert.is(matches({ s: [{ 'anything-but': { [operator]: ['zzz', value] } }] }, { s: event }), !plain, operator)
  }
})

test.run()
