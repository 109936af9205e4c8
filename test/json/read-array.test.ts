import { gzipSync } from 'node:zlib'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { HydratorError } from '../../lib/errors.js'
import { positionOf } from '../../lib/position.js'
import { readJsonArray } from '../../lib/json/read-array.js'
import type { ItemFailure } from '../../lib/types.js'
import { all, events, tempDir, at } from '../helpers.js'

const test = suite('readJsonArray')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

test('streams the elements of a top-level array in order with their index', async () => {
  const file = await tmp.file('a.json', JSON.stringify(events(50), null, 2))
  const got = await all(readJsonArray(file))
  assert.is(got.length, 50)
  assert.is(got[49]!.id, 'e49')
  assert.is(at(positionOf(got[3]))?.index, 3)
})

test('reads the array under a property path', async () => {
  const file = await tmp.file('b.json', JSON.stringify({ meta: { n: 2 }, data: { events: events(4) } }))
  const got = await all(readJsonArray(file, { path: 'data.events' }))
  assert.equal(got.map((e) => e.id), ['e0', 'e1', 'e2', 'e3'])
})

test('an element that is not an object is a failure with its index; the rest is read', async () => {
  const file = await tmp.file('c.json', '[{"a":1}, 2, "x", {"a":2}]')
  const failures: ItemFailure[] = []
  const got = await all(readJsonArray(file, { onFailure: (f) => failures.push(f) }))
  assert.equal(got, [{ a: 1 }, { a: 2 }])
  assert.equal(failures.map((f) => at(f.position)?.index), [1, 2])
})

test('a malformed file yields what came before, then ERR_SOURCE_READ', async () => {
  const file = await tmp.file('d.json', '[{"a":1},{"a":2},{"a":')
  const got: unknown[] = []
  try {
    for await (const e of readJsonArray(file)) got.push(e)
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_SOURCE_READ')
    assert.match((error as Error).message, /d\.json/)
  }
  assert.is(got.length, 2)
})

test('an empty array yields nothing; a non-array is an error', async () => {
  assert.equal(await all(readJsonArray(await tmp.file('e.json', '[]'))), [])
  try {
    await all(readJsonArray(await tmp.file('f.json', '{"a":1}')))
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_SOURCE_READ')
  }
})

test('reads gzip and resumes at an element index', async () => {
  const file = await tmp.file('g.json.gz', gzipSync(JSON.stringify(events(10))))
  const got = await all(readJsonArray(file, { startIndex: 7 }))
  assert.equal(got.map((e) => e.id), ['e7', 'e8', 'e9'])
})

test('rejects a bad path option before any I/O', () => {
  assert.throws(() => readJsonArray('x.json', { path: 'a..b' }), /path/)
})

test.run()
