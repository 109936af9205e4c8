import { readFile } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CheckpointTracker, readCheckpoint, writeCheckpoint, type Checkpoint } from '../../lib/checkpoint/index.js'
import { resumeOptions } from '../../lib/json/plugin.js'
import { openDeadLetters } from '../../lib/dead-letter.js'
import type { HydratorError } from '../../lib/errors.js'
import { formatPosition, setPosition } from '../../lib/position.js'
import { run } from '../../lib/run.js'
import { collect } from '../../lib/collect.js'
import { defineSink } from '../../lib/define-sink.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { filter } from '../../lib/stages/filter.js'
import { parseTagged, stringifyTagged } from '../../lib/util/tagged-json.js'
import { all, events, ndjson, tempDir, at } from '../helpers.js'

const test = suite('checkpoints and dead letters')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

const ev = (line: number) => setPosition({ line }, { kind: 'line', source: 's', file: 'f', line, offset: line * 10, next: line * 10 + 10 })
const identity = { source: 'json:x', filter: '[]', sink: 'collect:' }

test('the low-water mark never passes an event still in flight', () => {
  const t = new CheckpointTracker(true)
  const [a, b, c, d] = [ev(1), ev(2), ev(3), ev(4)]
  t.read(a)
  t.received(a)
  t.read(b)
  t.received(b)
  t.read(c) // c was dropped by a filter
  t.read(d)
  t.received(d)
  assert.is(t.position, undefined)
  t.settled([b]) // b settles before a: the mark must not move
  assert.is(t.position, undefined)
  t.settled([a])
  assert.is(at(t.position)?.line, 2)
  t.passed()
  t.settled([d])
  assert.is(at(t.position)?.line, 4)
  assert.equal(t.totals, { read: 4, matched: 3, unmatched: 1, written: 3, skipped: 0, failed: 0, sourceFailed: 0 })
})

test('drops count as handled once nothing is in flight', () => {
  const t = new CheckpointTracker(true)
  const a = ev(1)
  t.read(a)
  t.received(a)
  t.read(ev(2))
  t.settled([a])
  t.read(ev(3))
  t.passed()
  assert.is(at(t.position)?.line, 3)
})

test('a failure without a dead-letter file holds the mark before it for good', () => {
  const t = new CheckpointTracker(true, false)
  const [a, b, c] = [ev(1), ev(2), ev(3)]
  t.read(a)
  t.received(a)
  t.read(b)
  t.received(b)
  t.read(c)
  t.received(c)
  t.passed()
  t.failed(b, undefined)
  t.settled([a, b, c], [{ status: 'written' }, { status: 'failed' }, { status: 'written' }])
  assert.is(at(t.position)?.line, 1, 'a is handled; b is not, so neither is anything after it')
  assert.is(t.heldForGood, 1)
  assert.is(t.idle, false)
  t.read(ev(4))
  t.passed()
  assert.is(at(t.position)?.line, 1, 'later drops do not move it either')
})

test('a failure moves the mark only once it is stored in the dead-letter file', async () => {
  const t = new CheckpointTracker(true, true)
  const [a, b] = [ev(1), ev(2)]
  let store!: () => void
  const stored = new Promise<void>((resolve) => (store = resolve))
  t.read(a)
  t.received(a)
  t.read(b)
  t.received(b)
  t.passed()
  t.failed(a, stored)
  t.settled([a, b], [{ status: 'failed' }, { status: 'skipped' }])
  assert.is(t.position, undefined)
  store()
  await stored
  await Promise.resolve()
  assert.is(at(t.position)?.line, 2)
  assert.equal(t.totals, { read: 2, matched: 2, unmatched: 0, written: 0, skipped: 1, failed: 1, sourceFailed: 0 })
  assert.is(t.idle, true)
})

test('a dead-letter write that fails holds the mark', async () => {
  const t = new CheckpointTracker(true, true)
  const a = ev(1)
  const stored = Promise.reject(new Error('ENOSPC'))
  stored.catch(() => {})
  t.read(a)
  t.received(a)
  t.failed(a, stored)
  t.settled([a], [{ status: 'failed' }])
  await stored.catch(() => {})
  await Promise.resolve()
  assert.is(t.position, undefined)
  assert.is(t.heldForGood, 1)
})

test('stage and source failures hold the mark like sink failures', async () => {
  const t = new CheckpointTracker(true, true)
  const [a, b, c] = [ev(1), ev(2), ev(4)]
  t.read(a)
  t.received(a)
  t.settled([a])
  t.read(b)
  let store!: () => void
  const stored = new Promise<void>((resolve) => (store = resolve))
  t.stageFailed(stored) // b: the transform threw
  t.sourceFailed({ kind: 'line', source: 's', file: 'f', line: 3, offset: 30, next: 40 }, 0, Promise.resolve())
  t.read(c)
  t.passed()
  await Promise.resolve()
  assert.is(at(t.position)?.line, 1, 'b is not stored yet')
  store()
  await stored
  await Promise.resolve()
  assert.is(at(t.position)?.line, 4)
  assert.equal(t.totals, { read: 3, matched: 2, unmatched: 1, written: 1, skipped: 0, failed: 1, sourceFailed: 1 })
})

test('the sink state at the mark is the state of the last event it covers', () => {
  const t = new CheckpointTracker(true)
  const [a, b, c] = [ev(1), ev(2), ev(3)]
  for (const e of [a, b, c]) {
    t.read(e)
    t.received(e)
  }
  t.passed()
  t.failed(c, undefined)
  t.settled([a, b, c], [{ status: 'written', state: { bytes: 10 } }, { status: 'written', state: { bytes: 20 } }, { status: 'failed' }])
  assert.is(at(t.position)?.line, 2)
  assert.equal(t.sinkState, { bytes: 20 })
})

test('resumeOptions starts NDJSON after the line, arrays and folders after the index', () => {
  assert.equal(resumeOptions({ kind: 'line', source: 's', file: 'a.ndjson', line: 4, offset: 30, next: 42 }), { startAt: { file: 'a.ndjson', offset: 42, line: 5 } })
  assert.equal(resumeOptions({ kind: 'element', source: 's', file: 'a.json', index: 9 }), { startIndex: 10 })
  assert.equal(resumeOptions({ kind: 'file', source: 's', file: 'dir/e.event', index: 2 }), { startIndex: 3 })
  assert.equal(resumeOptions(undefined), {})
  assert.throws(() => resumeOptions({ kind: 'dynamo', source: 'dynamo:t', key: { pk: 'a' }, cursor: {} }), /kind `dynamo`/)
})

test('a run writes a checkpoint, and a run resumed from it reads only the rest', async () => {
  const file = await tmp.file('ck.ndjson', ndjson(events(50)))
  const ckFile = `${tmp.dir}/run.ckpt`
  // A sink that stops the run after 20 events by aborting.
  const controller = new AbortController()
  let seen = 0
  const stopping = defineSink(
    {
      uri: 'stop:',
      async write(batch) {
        seen += batch.length
        if (seen >= 20) controller.abort()
        return batch.map(() => ({ status: 'written' as const }))
      },
    },
    { batchSize: 5 },
  )
  const first = await run({ source: readJsonLines(file, { cwd: tmp.dir }), sink: stopping, signal: controller.signal, checkpoint: { file: ckFile, identity } })
  assert.is(first.status, 'aborted')
  const ck = (await readCheckpoint(ckFile, identity)) as Checkpoint
  assert.is(ck.complete, false)
  assert.is(at(ck.position)?.line, first.sink.written)
  const second = await run({
    source: readJsonLines(file, { cwd: tmp.dir, ...resumeOptions(ck.position) }),
    sink: collect(),
    checkpoint: { file: ckFile, identity, previous: ck },
  })
  assert.is(at(second.source.startedAt)?.line, first.sink.written + 1)
  assert.is(second.sink.written + first.sink.written, 50)
  const done = (await readCheckpoint(ckFile, identity))!
  assert.is(done.complete, true)
  assert.is(done.totals.written, 50)
  assert.is(done.totals.read, 50)
})

test('binary key values (DynamoDB B) survive a checkpoint file as Uint8Arrays', async () => {
  const bytes = new Uint8Array([0, 1, 254, 255])
  const buffer = Buffer.from([9, 8, 7])
  const pooled = Buffer.from([1, 2, 3, 4, 5])
  const sliced = new Uint8Array(pooled.buffer, pooled.byteOffset + 1, 2)
  const position = { kind: 'dynamo' as const, source: 'dynamo:t', key: { pk: 'a', sk: bytes }, cursor: { 0: { pk: 'a', sk: buffer }, 1: null, 2: { pk: 'b', sk: sliced } } }
  const file = `${tmp.dir}/binary.ckpt`
  const totals = { read: 1, matched: 1, unmatched: 0, written: 1, skipped: 0, failed: 0, sourceFailed: 0 }
  await writeCheckpoint(file, { version: 1, identity, position, complete: false, totals, updatedAt: new Date().toISOString() })
  const text = await readFile(file, 'utf8')
  assert.ok(text.includes('"$binary": "AAH+/w=="'), text)
  const back = (await readCheckpoint(file, identity))!.position as unknown as typeof position
  for (const v of [back.key.sk, back.cursor[0]!.sk, back.cursor[2]!.sk]) assert.instance(v, Uint8Array)
  assert.equal([...back.key.sk], [0, 1, 254, 255])
  assert.equal([...back.cursor[0]!.sk], [9, 8, 7])
  assert.equal([...back.cursor[2]!.sk], [2, 3], 'only the viewed bytes of a sliced array')
  assert.is(back.cursor[1], null)
  // Everything else reads back as written; `$binary` next to other keys is an ordinary object.
  assert.equal(parseTagged(stringifyTagged({ a: [1, 'x', null], b: { $binary: 'AQ==', c: 1 } })), { a: [1, 'x', null], b: { $binary: 'AQ==', c: 1 } })
  assert.is(formatPosition(position), 'dynamo:t {"pk":"a","sk":{"$binary":"AAH+/w=="}}')
})

test('a dead-lettered event with binary values (DynamoDB B) reads back with the same bytes', async () => {
  const dlFile = `${tmp.dir}/binary-letters.ndjson`
  const dl = await openDeadLetters(dlFile)
  const event = { id: 'e1', detail: { blob: new Uint8Array([0, 255, 10]), list: [Buffer.from('hi'), 'text'], plain: { $binary: 'x', other: 1 } } }
  const position = { kind: 'dynamo' as const, source: 'dynamo:t', key: { pk: new Uint8Array([1]) } }
  dl.write({ stage: 'sink', code: 'ERR_WRITE_REJECTED', message: 'no', position, key: { pk: new Uint8Array([1]) } }, event)
  await dl.close()
  const letter = JSON.parse(await readFile(dlFile, 'utf8'))
  assert.is(letter.event.detail.blob, 'AP8K', 'binary values are base64 strings, listed by path')
  assert.equal(letter.binary, [['detail', 'blob'], ['detail', 'list', 0]])
  assert.equal(letter.key, { pk: { $binary: 'AQ==' } })
  const [back] = (await all(readJsonLines(dlFile))) as (typeof event)[]
  assert.instance(back!.detail.blob, Uint8Array)
  assert.equal([...back!.detail.blob], [0, 255, 10])
  assert.equal([...(back!.detail.list[0] as Uint8Array)], [...Buffer.from('hi')])
  assert.is(back!.detail.list[1], 'text')
  assert.equal(back!.detail.plain, { $binary: 'x', other: 1 }, 'an object with more keys than $binary is left alone')
})

test("an event's own {\"$binary\": ...} objects come back from a dead-letter file unchanged", async () => {
  const dlFile = `${tmp.dir}/own-binary.ndjson`
  const dl = await openDeadLetters(dlFile)
  const event = { id: 'e1', detail: { a: { $binary: 'aGVsbG8=' }, b: { $binary: 'not base64!!' }, c: [{ $binary: '' }], bytes: new Uint8Array([104, 105]) } }
  await dl.write({ stage: 'sink', code: 'ERR_WRITE_REJECTED', message: 'no' }, event)
  await dl.close()
  const [back] = (await all(readJsonLines(dlFile))) as any[]
  assert.equal(back.detail.a, { $binary: 'aGVsbG8=' })
  assert.equal(back.detail.b, { $binary: 'not base64!!' })
  assert.equal(back.detail.c, [{ $binary: '' }])
  assert.instance(back.detail.bytes, Uint8Array)
  assert.equal([...back.detail.bytes], [104, 105])
})

test('a dead letter keeps a capped message, the whole event, and says so when the event cannot be written', async () => {
  const dlFile = `${tmp.dir}/capped.ndjson`
  const dl = await openDeadLetters(dlFile)
  const big = 'x'.repeat(100_000)
  await dl.write({ stage: 'sink', code: 'ERR_MAPPING', message: `bad value ${big}` }, { id: 'big', detail: { big } })
  let deep: unknown = 1
  for (let i = 0; i < 100_000; i++) deep = { d: deep }
  await dl.write({ stage: 'ndjson', code: 'ERR_UNSERIALIZABLE', message: 'too deep' }, deep)
  await dl.close()
  const [first, second] = (await readFile(dlFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.ok(first.message.length < 2100, 'the message is capped')
  assert.is(first.event.detail.big.length, 100_000, 'the event stays whole')
  assert.is(second.event, undefined)
  assert.match(second.eventError, /cannot be written as JSON/)
})

test('a checkpoint of another run is refused with ERR_CHECKPOINT_MISMATCH', async () => {
  const ckFile = `${tmp.dir}/other.ckpt`
  await run({ source: readJsonLines(await tmp.file('o.ndjson', ndjson(events(3)))), sink: collect(), checkpoint: { file: ckFile, identity } })
  try {
    await readCheckpoint(ckFile, { ...identity, sink: 'ndjson:elsewhere' })
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_CHECKPOINT_MISMATCH')
    assert.match((error as Error).message, /sink/)
  }
})

test('with a filter, the checkpoint moves past unmatched events', async () => {
  const file = await tmp.file('f.ndjson', ndjson(events(30)))
  const ckFile = `${tmp.dir}/f.ckpt`
  await run({ source: readJsonLines(file), stages: [filter((e: any) => e.detail.version < 3)], sink: collect(), checkpoint: { file: ckFile, identity } })
  const ck = (await readCheckpoint(ckFile, identity))!
  assert.is(ck.complete, true)
  assert.is(ck.totals.unmatched, 27)
})

test('dead letters hold every failed event and read back as the original events', async () => {
  const dlFile = `${tmp.dir}/failed.ndjson`
  const dl = await openDeadLetters(dlFile)
  const file = await tmp.file('dl.ndjson', ndjson(events(300)) + '{broken\n')
  const rejectOdd = defineSink<any>(
    {
      uri: 'odd:',
      async write(batch) {
        return batch.map((e) => (e.detail.version % 2 ? { status: 'failed' as const, code: 'ERR_WRITE_REJECTED', message: 'odd', key: e.id, attempts: 3 } : { status: 'written' as const }))
      },
    },
    { batchSize: 7 },
  )
  const report = await run({ source: readJsonLines(file), sink: rejectOdd, onFailure: dl.write, backpressure: dl.drained })
  await dl.close()
  assert.is(report.failures.count, 151)
  assert.is(report.failures.samples.length, 100)
  const lines = (await readFile(dlFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.is(lines.length, 151, 'every failure, not just the samples')
  const sinkLetter = lines.find((l) => l.stage === 'odd')!
  assert.is(sinkLetter.code, 'ERR_WRITE_REJECTED')
  assert.is(sinkLetter.attempts, 3)
  assert.ok(sinkLetter.position.line >= 1)
  assert.ok(sinkLetter.time)
  // Redrive: the dead-letter file is a source of the original events.
  const redriven = await all(readJsonLines(dlFile))
  assert.is(redriven.length, 150)
  assert.ok(redriven.every((e) => (e.detail as any).version % 2 === 1 && !('code' in e)))
})

test.run()
