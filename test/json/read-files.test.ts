import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { positionOf } from '../../lib/position.js'
import { readJsonFiles } from '../../lib/json/read-files.js'
import type { ItemFailure } from '../../lib/types.js'
import { all, tempDir, at } from '../helpers.js'

const test = suite('readJsonFiles')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

test('reads one-event files in natural order', async () => {
  for (const n of [10, 1, 2]) await tmp.file(`ev/event_${n}_abc.event`, JSON.stringify({ n }))
  await tmp.file('ev/another_event_xyz.event', JSON.stringify({ n: 'another' }))
  const got = await all(readJsonFiles(`${tmp.dir}/ev`))
  assert.equal(got.map((e) => e.n), ['another', 1, 2, 10])
  assert.match(at(positionOf(got[1]))?.file ?? '', /event_1_abc\.event$/)
})

test('a file that is not a JSON object is a failure naming the file; the rest is read', async () => {
  await tmp.file('bad/event_1.event', '{"ok":1}')
  await tmp.file('bad/event_2.event', '{broken')
  await tmp.file('bad/event_3.event', '[1]')
  await tmp.file('bad/event_4.event', '{"ok":4}')
  const failures: ItemFailure[] = []
  const got = await all(readJsonFiles(`${tmp.dir}/bad`, { onFailure: (f) => failures.push(f) }))
  assert.equal(got, [{ ok: 1 }, { ok: 4 }])
  assert.equal(failures.map((f) => f.code), ['ERR_INVALID_JSON', 'ERR_NOT_AN_OBJECT'])
  assert.match(failures[0]!.message, /event_2\.event/)
})

test('a glob option picks the files', async () => {
  await tmp.file('mixed/a.event', '{"x":1}')
  await tmp.file('mixed/b.txt', 'nope')
  const got = await all(readJsonFiles(`${tmp.dir}/mixed`, { glob: '*.event' }))
  assert.equal(got, [{ x: 1 }])
})

test.run()
