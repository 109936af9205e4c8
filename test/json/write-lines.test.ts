import { readFile } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { pipe } from 'it-pipe'
import { collect } from '../../lib/collect.js'
import { toJsonLines } from '../../lib/json/write-lines.js'
import { sinkContract } from '../contract.js'
import { captured, events, tempDir, tracked } from '../helpers.js'

const test = suite('toJsonLines and collect')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

sinkContract(test, 'collect', () => collect(), events(5))
sinkContract(test, 'toJsonLines', () => toJsonLines('-', { stdout: captured() }), events(5))

test('toJsonLines writes every event as one line, in order', async () => {
  const file = `${tmp.dir}/out/a.ndjson`
  const result = await pipe(tracked(events(2500)).source, toJsonLines(file))
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n')
  assert.is(lines.length, 2500)
  assert.is(JSON.parse(lines[2499]!).id, 'e2499')
  assert.is(result.written, 2500)
  assert.is(result.uri, `ndjson:${file}`)
})

test('toJsonLines writes to stdout for -', async () => {
  const out = captured()
  await pipe(tracked(events(2)).source, toJsonLines('-', { stdout: out }))
  assert.is(out.text().split('\n').filter(Boolean).length, 2)
})

test('a dry run writes nothing and previews the first events', async () => {
  const file = `${tmp.dir}/dry.ndjson`
  const result = await toJsonLines(file)(tracked(events(10)).source, { dryRun: true, previewLimit: 3 })
  assert.is(result.dryRun, true)
  assert.is(result.written, 10)
  assert.is(result.previews.length, 3)
  let exists = true
  await readFile(file).catch(() => (exists = false))
  assert.not.ok(exists, 'no file was created')
})

test('collect keeps the events in order; a dry run keeps none', async () => {
  const { events: got, written } = await pipe(tracked(events(3)).source, collect())
  assert.equal(got.map((e) => e.id), ['e0', 'e1', 'e2'])
  assert.is(written, 3)
  const dry = await collect()(tracked(events(3)).source, { dryRun: true })
  assert.equal(dry.events, [])
  assert.is(dry.previews.length, 3)
})

test.run()
