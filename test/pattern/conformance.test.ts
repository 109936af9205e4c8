import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvalidPatternError } from '../../lib/errors.js'
import { compilePattern } from '../../lib/pattern/index.js'

interface ConformanceCase {
  readonly name: string
  readonly pattern: unknown
  readonly event: unknown
  readonly expect: 'match' | 'no-match' | 'invalid'
}

// The corpus lives beside the repository: /work/shared/conformance (see its README).
const corpus = JSON.parse(
  readFileSync(new URL('../../../shared/conformance/eventbridge-patterns.json', import.meta.url), 'utf8'),
) as { cases: ConformanceCase[] }

const test = suite('EventBridge conformance: every case gets the answer AWS gave')

test('the corpus holds the 155 cases its README announces', () => {
  assert.is(corpus.cases.length, 155)
})

function answer(pattern: unknown, event: unknown): ConformanceCase['expect'] {
  let matcher: (event: unknown) => boolean
  try {
    matcher = compilePattern(pattern)
  } catch (error) {
    if (error instanceof InvalidPatternError) return 'invalid'
    throw error
  }
  return matcher(event) ? 'match' : 'no-match'
}

for (const c of corpus.cases) {
  test(`${c.name}: ${c.expect}`, () => {
    assert.is(answer(c.pattern, c.event), c.expect)
  })
}

test.run()
