// The NDJSON reader with its lines found on a worker thread must give exactly what it gives on one
// thread: the same events with the same positions, the same failures in the same order, the same
// counts, whatever the bytes and wherever chunks end; and it must stay bounded and stop cleanly.
import { gzipSync } from 'node:zlib'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compilePrefilter } from '../../lib/pattern/prefilter.js'
import { prefilterFromSpec } from '../../lib/pattern/prefilter-spec.js'
import { positionOf } from '../../lib/position.js'
import { readJsonLines, type ReadJsonLinesOptions } from '../../lib/json/read-lines.js'
import { readJsonArray, type ReadJsonArrayOptions } from '../../lib/json/read-array.js'
import { toJsonLines } from '../../lib/json/write-lines.js'
import { filter } from '../../lib/stages/filter.js'
import { run } from '../../lib/run.js'
import type { ItemFailure } from '../../lib/types.js'
import { tempDir } from '../helpers.js'

const test = suite('NDJSON lines on a worker thread')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-line-worker-')
})
test.after(async () => {
  await tmp.cleanup()
})

/** Everything a read gives: events with positions, failures, and the counts. */
async function readAll(file: string, options: ReadJsonLinesOptions, pattern?: object) {
  const source = readJsonLines(file, { cwd: tmp.dir, ...options })
  const failures: ItemFailure[] = []
  source.addFailureListener?.((f) => failures.push(f))
  if (pattern) source.usePrefilter!(compilePrefilter(pattern)!)
  const events: unknown[] = []
  for await (const event of source) events.push([event, positionOf(event)])
  const { read, failed, prefiltered, bytesRead, workerThreads } = source.stats
  return { events, failures, read, failed, prefiltered, bytesRead, workerThreads }
}

const LINES: fc.Arbitrary<Buffer>[] = [
  fc.record({ source: fc.constantFrom('orders', 'payments', 'ord"ers'), n: fc.integer(), s: fc.string({ unit: 'grapheme' }) }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.constantFrom('{"source":"\\u006frders","x":1}', '{"source":"orders"}', '{"a":"\\\\"}', '  {"source":"orders"}  ', '{"source":"orders"', '[1,2]', '42', 'not json', '', '   ', '{"code":"ERR_X","message":"m","event":{"source":"orders","id":"dl"},"position":{"kind":"line"}}').map((t) => Buffer.from(t)),
  fc.constantFrom(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), Buffer.from('{"source":"orders","pad":"' + 'x'.repeat(300) + '"}')),
]
const lineArb = fc.oneof(...LINES)
const fileArb = fc.record({
  lines: fc.array(lineArb, { maxLength: 60 }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  trailingNewline: fc.boolean(),
  readBytes: fc.integer({ min: 1, max: 64 }),
})

const bytesOf = ({ lines, crlf, bom, trailingNewline }: { lines: Buffer[]; crlf: boolean; bom: boolean; trailingNewline: boolean }) => {
  const parts: Buffer[] = bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : []
  lines.forEach((line, i) => {
    parts.push(line)
    if (i < lines.length - 1 || trailingNewline) parts.push(Buffer.from(crlf ? '\r\n' : '\n'))
  })
  return Buffer.concat(parts)
}

test('random bytes: a worker thread gives exactly the events, positions, failures and counts of one thread', async () => {
  let n = 0
  await fc.assert(
    fc.asyncProperty(fileArb, fc.boolean(), fc.boolean(), async (spec, gz, prefilter) => {
      const file = path.join(tmp.dir, `p${n++}.ndjson${gz ? '.gz' : ''}`)
      const bytes = bytesOf(spec)
      await writeFile(file, gz ? gzipSync(bytes) : bytes)
      const pattern = prefilter ? { source: ['orders'] } : undefined
      const options = { maxLineBytes: 200, readBytes: spec.readBytes }
      const here = await readAll(file, { ...options, workers: false }, pattern)
      const there = await readAll(file, { ...options, workers: true }, pattern)
      assert.equal(there.workerThreads, 1)
      assert.equal(here.workerThreads, undefined)
      assert.equal({ ...there, workerThreads: undefined }, { ...here, workerThreads: undefined })
    }),
    { numRuns: 20 },
  )
})

test('a resume inside a plain and a gzip file starts at the same line on a worker thread', async () => {
  const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, source: i % 3 ? 'orders' : 'other' }))
  const text = lines.join('\n') + '\n'
  for (const gz of [false, true]) {
    const file = path.join(tmp.dir, `resume.ndjson${gz ? '.gz' : ''}`)
    await writeFile(file, gz ? gzipSync(text) : text)
    const offset = Buffer.byteLength(lines.slice(0, 20).join('\n') + '\n')
    const startAt = { file: path.basename(file), offset, line: 21 }
    const here = await readAll(file, { startAt, workers: false, readBytes: 7 })
    const there = await readAll(file, { startAt, workers: true, readBytes: 7 })
    assert.equal(there.events, here.events)
    assert.is((here.events[0] as [{ i: number }])[0].i, 20)
    assert.is(there.read, 30)
  }
})

test('a run with a filter reads large files on a worker thread by default, and says so; a pass-through does not', async () => {
  const file = path.join(tmp.dir, 'big.ndjson')
  const line = (i: number) => JSON.stringify({ id: i, source: i % 18 ? 'other' : 'orders', pad: 'p'.repeat(200) })
  const count = 40_000 // about 9 MB: over the 8 MiB threshold
  await writeFile(file, Array.from({ length: count }, (_, i) => line(i)).join('\n') + '\n')
  const out = path.join(tmp.dir, 'out.ndjson')
  const filtered = await run({ source: readJsonLines(file), stages: [filter({ source: ['orders'] })], sink: toJsonLines(out) })
  assert.is(filtered.status, 'ok')
  assert.is(filtered.source.workerThreads, 1)
  assert.is(filtered.sink.written, Math.ceil(count / 18))
  assert.is(filtered.source.read, count)
  assert.is(filtered.filter.prefiltered + filtered.filter.matched, count)
  const pass = await run({ source: readJsonLines(file), sink: toJsonLines(out) })
  assert.is(pass.source.workerThreads, undefined)
  assert.is(pass.sink.written, count)
  // A prefilter given as a plain function (not as data) still works: it runs on the main thread.
  const source = readJsonLines(file, { workers: true })
  const pre = compilePrefilter({ source: ['orders'] })!
  source.usePrefilter!((l, nb) => pre(l, nb))
  let got = 0
  for await (const event of source) if ((event as { source: string }).source === 'orders') got++
  assert.is(got, Math.ceil(count / 18))
  assert.is(source.stats.prefiltered + source.stats.read, count)
})

test('the worker stays at most a few batches ahead, and stopping early ends it', async () => {
  const file = path.join(tmp.dir, 'ahead.ndjson')
  await writeFile(file, Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, pad: 'q'.repeat(100) })).join('\n') + '\n')
  const source = readJsonLines(file, { workers: true, readBytes: 16 * 1024 })
  let seen = 0
  for await (const event of source) {
    seen++
    if (seen === 100) {
      // Give the worker time to run ahead if it would.
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.ok(source.stats.bytesRead <= 6 * 16 * 1024, `read ${source.stats.bytesRead} bytes while 100 events were taken`)
    }
    if (seen === 150) break
    void event
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
  const workers = process.getActiveResourcesInfo().filter((r) => /worker/i.test(r))
  assert.equal(workers, [], 'no worker left running')
})

test('a file that cannot be read to its end fails with its name and the last line, as on one thread', async () => {
  const file = path.join(tmp.dir, 'cut.ndjson.gz')
  const whole = gzipSync(Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i })).join('\n') + '\n')
  await writeFile(file, whole.subarray(0, whole.length - 100))
  for (const workers of [false, true]) {
    const source = readJsonLines(file, { workers })
    let count = 0
    const error = await (async () => {
      try {
        for await (const _ of source) count++
      } catch (e) {
        return e as Error & { code?: string }
      }
      return undefined
    })()
    assert.ok(error, `workers: ${workers}`)
    assert.is(error!.code, 'ERR_SOURCE_READ')
    assert.match(error!.message, /cut\.ndjson\.gz: reading stopped after line \d+: .*gzip file truncated/)
    assert.ok(count > 2000)
  }
})

/** Everything an array read gives: events with positions, failures, counts, or the error that stopped it. */
async function readArrayAll(file: string, options: ReadJsonArrayOptions) {
  const source = readJsonArray(file, { cwd: tmp.dir, ...options })
  const failures: ItemFailure[] = []
  source.addFailureListener?.((f) => failures.push(f))
  const events: unknown[] = []
  let error: string | undefined
  try {
    for await (const event of source) events.push([event, positionOf(event)])
  } catch (e) {
    error = `${(e as { code?: string }).code}: ${(e as Error).message}`
  }
  const { read, failed, bytesRead } = source.stats
  return { events, failures, read, failed, bytesRead, error, workerThreads: source.stats.workerThreads }
}

const elementArb = fc.oneof(
  fc.record({ id: fc.integer(), s: fc.string({ unit: 'grapheme' }), nested: fc.array(fc.oneof(fc.constant('[{"x":"]}"}]'), fc.string()), { maxLength: 3 }) }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.constantFrom('{"a":"\\\""}', '{"b":[1,{"c":"}"}]}', '42', '"text"', '[1,2]', 'null', '{"pad":"' + 'x'.repeat(300) + '"}', '{\n  "pretty": true\n}').map((t) => Buffer.from(t)),
  fc.constant(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])),
)

test('random arrays: elements split on a worker thread give exactly what one thread gives, errors included', async () => {
  let n = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(elementArb, { maxLength: 40 }),
      fc.constantFrom(',', ', ', ',\n  ', ' ,\r\n'),
      fc.constantFrom('', ']', ' ]\n', '] x', ',]'),
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      fc.nat({ max: 5 }),
      async (elements, comma, tail, readBytes, gz, startIndex) => {
        const bytes = Buffer.concat([Buffer.from('[\n'), ...elements.flatMap((e, i) => (i === 0 ? [e] : [Buffer.from(comma), e])), Buffer.from(tail === ',]' && elements.length === 0 ? ']' : tail)])
        const file = path.join(tmp.dir, `a${n++}.json${gz ? '.gz' : ''}`)
        await writeFile(file, gz ? gzipSync(bytes) : bytes)
        const options = { maxElementBytes: 200, readBytes, startIndex }
        const here = await readArrayAll(file, { ...options, workers: false })
        const there = await readArrayAll(file, { ...options, workers: true })
        assert.is(there.workerThreads, 1)
        // Progress bytes of a read that broke off depend on how far gunzip had got: not compared then.
        const progress = (r: typeof here) => (r.error ? undefined : r.bytesRead)
        assert.equal({ ...there, workerThreads: undefined, bytesRead: progress(there) }, { ...here, workerThreads: undefined, bytesRead: progress(here) })
      },
    ),
    { numRuns: 20 },
  )
})

test('prefilterFromSpec() is the test compilePrefilter() made, as data', () => {
  for (const pattern of [{ source: ['orders'] }, { source: ['orders', 'payments'], 'detail-type': [{ prefix: 'Order' }] }, { $or: [{ a: ['x'] }, { b: ['y'] }] }]) {
    const made = compilePrefilter(pattern)!
    const again = prefilterFromSpec(JSON.parse(JSON.stringify(made.spec)))
    for (const line of ['{"source":"orders"}', '{"source":"payments","detail-type":"OrderPlaced"}', '{"a":"x"}', '{"b":"y"}', '{"c":"\\u0078"}', '{"source":"other"}']) {
      assert.is(again(line), made(line), `${JSON.stringify(pattern)} on ${line}`)
      assert.is(again(line, true), made(line, true))
    }
    assert.equal(again.anchor, made.anchor)
  }
})

test.run()
