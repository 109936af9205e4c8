import { deepStrictEqual } from 'node:assert'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { formatPosition, isResumePoint, positionOf, setPosition, type Position } from '../lib/position.js'
import { at } from './helpers.js'

const line = (n: number): Position => ({ kind: 'line', source: 's', file: 'e.ndjson', line: n, offset: 0, next: 1 })

const test = suite('positions')

test('a position is invisible: JSON, keys, own keys, spread and deepStrictEqual do not see it', () => {
  const event = setPosition({ id: 'a', detail: { n: 1 } }, line(3))
  assert.equal(positionOf(event), line(3))
  assert.is(JSON.stringify(event), '{"id":"a","detail":{"n":1}}')
  assert.equal(Object.keys(event), ['id', 'detail'])
  assert.equal(Reflect.ownKeys(event), ['id', 'detail'])
  const copy = { ...event }
  assert.is(positionOf(copy), undefined)
  deepStrictEqual(event, { id: 'a', detail: { n: 1 } })
  deepStrictEqual(structuredClone(event), { id: 'a', detail: { n: 1 } })
})

test('setting again replaces the position; objects without one and non-objects have none', () => {
  const event = setPosition({ id: 'a' }, line(1))
  setPosition(event, line(2))
  assert.is(at(positionOf(event))?.line, 2)
  setPosition(event, undefined)
  assert.is(at(positionOf(event))?.line, 2, 'undefined leaves the position alone')
  assert.is(positionOf({ id: 'b' }), undefined)
  assert.is(positionOf(null), undefined)
  assert.is(positionOf('text'), undefined)
  assert.is(setPosition('text', line(1)), 'text')
})

test('frozen, sealed and proxied events and arrays keep positions too', () => {
  const frozen = Object.freeze({ id: 'f' })
  setPosition(frozen, line(1))
  setPosition(frozen, line(2))
  assert.is(at(positionOf(frozen))?.line, 2)
  const sealed = setPosition(Object.seal({ id: 's' }), line(4))
  assert.is(at(positionOf(sealed))?.line, 4)
  const proxy = setPosition(new Proxy({ id: 'p' }, {}), line(5))
  assert.is(at(positionOf(proxy))?.line, 5)
  const batch = setPosition([1, 2], { kind: 'element', source: 's', file: 'a.json', index: 0 })
  assert.is(at(positionOf(batch))?.index, 0)
})

test('a second copy of the module (a plugin bundling its own) sees the same positions', async () => {
  const other = (await import(`../lib/position.ts?copy=${Date.now()}`)) as typeof import('../lib/position.js')
  assert.is.not(other.positionOf, positionOf, 'a separate module instance')
  const event = setPosition({ id: 'a' }, line(9))
  assert.is(at(other.positionOf(event))?.line, 9)
  other.setPosition(event, line(10))
  assert.is(at(positionOf(event))?.line, 10)
})

test('formatPosition names file and line, element, file, key and part, or sort values', () => {
  assert.is(formatPosition(undefined), '(unknown position)')
  assert.is(formatPosition({ kind: 'line', source: 's', file: 'e.ndjson', line: 3, offset: 0 }), 'e.ndjson:3')
  assert.is(formatPosition({ kind: 'element', source: 'arr', file: 'export.json', index: 4 }), 'export.json[4]')
  assert.is(formatPosition({ kind: 'file', source: 'dir', file: 'dir/event_1.event', index: 0 }), 'dir/event_1.event')
  assert.is(formatPosition({ kind: 'dynamo', source: 'dynamo:t', key: { pk: 'a' }, part: 1 }), 'dynamo:t {"pk":"a"} #1')
  assert.is(formatPosition({ kind: 'opensearch', source: 'os', key: 'x', sort: [1, 'x'] }), 'os [1,"x"]')
})

test('a resume point is a position its source can go on just after', () => {
  assert.ok(isResumePoint({ kind: 'line', source: 's', file: 'f', line: 1, offset: 0, next: 10 }))
  assert.not.ok(isResumePoint({ kind: 'line', source: 's', file: 'f', line: 1, offset: 0 }), 'a too-long line has no known end')
  assert.ok(isResumePoint({ kind: 'element', source: 's', file: 'f', index: 2 }))
  assert.not.ok(isResumePoint({ kind: 'dynamo', source: 'd', key: { pk: 'a' } }), 'an item that could not be read has no cursor')
  assert.not.ok(isResumePoint(undefined))
})

test.run()
