import { existsSync, readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { outcome } from './outcome.js'

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

const answer = outcome

for (const c of corpus.cases) {
  test(`${c.name}: ${c.expect}`, () => {
    assert.is(answer(c.pattern, c.event), c.expect)
  })
}

// Beyond the AWS-checked corpus: cases compared with AWS's reference engine (aws/event-ruler) and
// the AWS docs, each with its source, where we once answered otherwise.
const reference = JSON.parse(readFileSync(new URL('../fixtures/conformance/reference-engine.json', import.meta.url), 'utf8')) as {
  cases: (ConformanceCase & { source: string })[]
}
for (const c of reference.cases) {
  test(`${c.name}: ${c.expect} (${c.source})`, () => {
    assert.is(answer(c.pattern, c.event), c.expect)
  })
}

test.run()
