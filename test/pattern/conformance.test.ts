import { existsSync, readFileSync } from 'node:fs'
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

// The corpus is copied from the shared one beside the repository (../shared/conformance, see its
// README), so the suite runs on a plain clone; where the shared copy is present it must be equal.
const fixture = new URL('../fixtures/conformance/eventbridge-patterns.json', import.meta.url)
const shared = new URL('../../../shared/conformance/eventbridge-patterns.json', import.meta.url)
const text = readFileSync(fixture, 'utf8')
const corpus = JSON.parse(text) as { cases: ConformanceCase[] }

const test = suite('EventBridge conformance: every case gets the answer AWS gave')

test('the corpus holds the 155 cases its README announces', () => {
  assert.is(corpus.cases.length, 155)
})

test('the copy in test/fixtures equals the shared corpus, where that is present', () => {
  if (!existsSync(shared)) {
    console.log('\n  note: ../shared/conformance is not beside this clone; the copy in test/fixtures is used as it is')
    return
  }
  assert.ok(readFileSync(shared, 'utf8') === text, 'test/fixtures/conformance/eventbridge-patterns.json differs from ../shared: copy it again')
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
