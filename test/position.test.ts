import { deepStrictEqual } from 'node:assert'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { formatPosition, positionOf, setPosition } from '../lib/position.js'

const test = suite('positions')

test('a position is invisible: JSON, keys, own keys, spread and deepStrictEqual do not see it', () => {
  const event = setPosition({ id: 'a', detail: { n: 1 } }, { source: 's', file: 'e.ndjson', line: 3 })
  assert.equal(positionOf(event), { source: 's', file: 'e.ndjson', line: 3 })
  assert.is(JSON.stringify(event), '{"id":"a","detail":{"n":1}}')
  assert.equal(Object.keys(event), ['id', 'detail'])
  assert.equal(Reflect.ownKeys(event), ['id', 'detail'])
  const copy = { ...event }
  assert.is(positionOf(copy), undefined)
  deepStrictEqual(event, { id: 'a', detail: { n: 1 } })
  deepStrictEqual(structuredClone(event), { id: 'a', detail: { n: 1 } })
})

test('setting again replaces the position; objects without one and non-objects have none', () => {
  const event = setPosition({ id: 'a' }, { source: 's', line: 1 })
  setPosition(event, { source: 's', line: 2 })
  assert.is(positionOf(event)?.line, 2)
  setPosition(event, undefined)
  assert.is(positionOf(event)?.line, 2, 'undefined leaves the position alone')
  assert.is(positionOf({ id: 'b' }), undefined)
  assert.is(positionOf(null), undefined)
  assert.is(positionOf('text'), undefined)
  assert.is(setPosition('text', { source: 's', line: 1 }), 'text')
})

test('frozen, sealed and proxied events and arrays keep positions too', () => {
  const frozen = Object.freeze({ id: 'f' })
  setPosition(frozen, { source: 's', line: 1 })
  setPosition(frozen, { source: 's', line: 2 })
  assert.is(positionOf(frozen)?.line, 2)
  const sealed = setPosition(Object.seal({ id: 's' }), { source: 's', line: 4 })
  assert.is(positionOf(sealed)?.line, 4)
  const proxy = setPosition(new Proxy({ id: 'p' }, {}), { source: 's', line: 5 })
  assert.is(positionOf(proxy)?.line, 5)
  const batch = setPosition([1, 2], { source: 's', index: 0 })
  assert.is(positionOf(batch)?.index, 0)
})

test('a second copy of the module (a plugin bundling its own) sees the same positions', async () => {
  const other = (await import(`../lib/position.ts?copy=${Date.now()}`)) as typeof import('../lib/position.js')
  assert.is.not(other.positionOf, positionOf, 'a separate module instance')
  const event = setPosition({ id: 'a' }, { source: 's', line: 9 })
  assert.is(other.positionOf(event)?.line, 9)
  other.setPosition(event, { source: 's', line: 10 })
  assert.is(positionOf(event)?.line, 10)
})

test('formatPosition names file and line, key, sort values or index', () => {
  assert.is(formatPosition(undefined), '(unknown position)')
  assert.is(formatPosition({ source: 's', file: 'e.ndjson', line: 3 }), 'e.ndjson:3')
  assert.is(formatPosition({ source: 'dynamo:t', key: { pk: 'a' }, part: 1 }), 'dynamo:t {"pk":"a"} #1')
  assert.is(formatPosition({ source: 'os', sort: [1, 'x'] }), 'os [1,"x"]')
  assert.is(formatPosition({ source: 'arr', index: 4 }), 'arr[4]')
})

test.run()
