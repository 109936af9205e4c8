import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { positionOf, setPosition } from '../../lib/position.js'
import { batch } from '../../lib/stages/batch.js'
import { map } from '../../lib/stages/map.js'
import { take } from '../../lib/stages/take.js'
import { tap } from '../../lib/stages/tap.js'
import { stageContract } from '../contract.js'
import { all, events, tracked, at } from '../helpers.js'

const test = suite('map, batch, take, tap')
const input = events(6)

stageContract(test, 'map', () => map((e: Record<string, unknown>) => ({ ...e, seen: true })), input)
stageContract(test, 'batch', () => batch(2), input)
stageContract(test, 'take', () => take(3), input)
stageContract(test, 'tap', () => tap(() => {}), input)

test('map drops undefined, fans out arrays, awaits promises and keeps order', async () => {
  const out = await all(
    map(async (e: { n: number }) => (e.n === 1 ? undefined : e.n === 2 ? [{ n: 20 }, { n: 21 }] : { n: e.n * 10 }))(tracked([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]).source),
  )
  assert.equal(out, [{ n: 0 }, { n: 20 }, { n: 21 }, { n: 30 }])
})

test('map carries the source position over to the new objects', async () => {
  const a = setPosition({ n: 1 }, { kind: 'line', source: 'x', file: 'x', line: 7, offset: 0 })
  const [out] = await all(map((e: { n: number }) => ({ m: e.n }))(tracked([a]).source))
  assert.is(at(positionOf(out))?.line, 7)
})

test('batch groups in order with a short last batch', async () => {
  assert.equal(await all(batch(2)(tracked([1, 2, 3, 4, 5]).source)), [[1, 2], [3, 4], [5]])
  assert.throws(() => batch(0), /size/)
})

test('take passes n events and stops reading the upstream', async () => {
  const { source, state } = tracked([1, 2, 3, 4, 5])
  assert.equal(await all(take(2)(source)), [1, 2])
  assert.is(state.pulled, 2)
  assert.ok(state.closed)
  assert.equal(await all(take(0)(tracked([1]).source)), [])
})

test('tap sees every event in order and passes it unchanged', async () => {
  const seen: number[] = []
  const out = await all(tap(async (n: number) => void seen.push(n))(tracked([1, 2, 3]).source))
  assert.equal(out, [1, 2, 3])
  assert.equal(seen, [1, 2, 3])
})

test.run()
