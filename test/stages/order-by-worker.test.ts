// `--order-by` on NDJSON files read on a worker thread: the worker parses the lines and makes the
// records the sort holds (json/sort-lines.ts), and after the merge events that only need their text
// are not parsed again (TextEvent). Both must give exactly what the one-thread path gives: the same
// events in the same order with the same positions and texts, the same failures, the same counts.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { toJsonLines } from '../../lib/json/write-lines.js'
import { run } from '../../lib/run.js'
import { positionOf, setPosition } from '../../lib/position.js'
import { eventOf, rawTextOf, TextEvent } from '../../lib/raw-text.js'
import { sortSource, type OrderMissing } from '../../lib/sort/sorted-source.js'
import type { ItemFailure } from '../../lib/types.js'
import { tempDir } from '../helpers.js'

const test = suite('--order-by with the lines parsed on a worker thread')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-order-worker-')
})
test.after(async () => {
  await tmp.cleanup()
})

const LINE = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom('2024-01-01T00:00:00Z', '2024-01-01T01:00:00+02:00', 'x', null)), id: fc.nat(), pad: fc.string({ maxLength: 30, unit: 'grapheme' }) }).map((o) => JSON.stringify(o)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '{"id":"no key"}',
      '  {"t":3,"id":"blanks around"}  ',
      '{"t":1, "id" : "spaced",  "n":1.0}',
      '{"t":2,"big":123456789012345678901234567890}',
      '{"t":2,"id":"dup","id":"dup2"}',
      'not json',
      '[1,2]',
      '42',
      '',
      '   ',
      '{"t":1',
      '{"code":"ERR_X","message":"m","event":{"t":0,"id":"from a dead letter"},"position":{"kind":"line"}}',
      '{"code":"ERR_X","message":"no event"}',
    ),
  },
)

const fileArb = fc.record({ lines: fc.array(LINE, { maxLength: 80 }), crlf: fc.boolean(), sorted: fc.boolean() })

/** Everything a sorted read gives: events (value, text, position), failures, counts. */
async function sortedRead(file: string, workers: boolean, options: { missing: OrderMissing; memoryBytes: number; keepText: boolean; textOnly: boolean; readBytes: number }) {
  const failures: ItemFailure[] = []
  let opened = 0
  const source = sortSource(
    () => {
      opened++
      return readJsonLines(file, { cwd: tmp.dir, workers, readBytes: options.readBytes })
    },
    { orderBy: 't', missing: options.missing, memoryBytes: options.memoryBytes, tempDir: tmp.dir, plainJson: true, uri: 'events' },
  )
  source.addFailureListener!((f) => failures.push(f))
  if (options.keepText) assert.ok(source.useRawText!())
  if (options.textOnly) assert.ok(source.useTextOnly!())
  const events: unknown[] = []
  for await (const event of source) {
    const text = event instanceof TextEvent
    events.push({ value: text ? JSON.parse(rawTextOf(event)!) : event, text: rawTextOf(event), position: positionOf(event), wasText: text })
  }
  const { read, failed, workerThreads } = source.stats!
  return { events, failures, read, failed, workerThreads, opened }
}

test('random files: the worker path gives exactly the events, texts, positions, failures and counts of one thread', async () => {
  let n = 0
  await fc.assert(
    fc.asyncProperty(
      fileArb,
      fc.record({
        gz: fc.boolean(),
        missing: fc.constantFrom<OrderMissing>('fail', 'first', 'last'),
        memoryBytes: fc.constantFrom(1024, 2048, 1 << 20),
        keepText: fc.boolean(),
        textOnly: fc.boolean(),
        readBytes: fc.integer({ min: 1, max: 300 }),
      }),
      async (spec, o) => {
        const lines = spec.sorted ? [...spec.lines].sort((a, b) => (a < b ? -1 : 1)) : spec.lines
        const file = path.join(tmp.dir, `r${n++}.ndjson${o.gz ? '.gz' : ''}`)
        const bytes = Buffer.from(lines.join(spec.crlf ? '\r\n' : '\n'))
        await writeFile(file, o.gz ? gzipSync(bytes) : bytes)
        const options = { ...o, textOnly: o.keepText && o.textOnly }
        const here = await sortedRead(file, false, options)
        const there = await sortedRead(file, true, options)
        assert.equal(here.workerThreads, undefined)
        assert.equal(there.workerThreads, 1)
        assert.equal({ ...there, workerThreads: undefined }, { ...here, workerThreads: undefined })
        // As text alone only when asked, and never an event without the key that orderKeyCheck must fail.
        for (const e of there.events as { value: Record<string, unknown>; wasText: boolean }[]) {
          if (e.wasText) assert.ok(options.textOnly && (o.missing !== 'fail' || 't' in e.value))
        }
      },
    ),
    { numRuns: 60 },
  )
})

test('a big shuffled file: sorted across spilled runs, each event once, written as read', async () => {
  const n = 20000
  const order = Array.from({ length: n }, (_, i) => i)
  let s = 11
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    const j = s % (i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  // Ties (t = i >> 1) keep file order; number spellings survive.
  const lines = order.map((i) => `{"t":${i >> 1},"i":${i},"x":1.0}`)
  const input = await tmp.file('big.ndjson', lines.join('\n') + '\n')
  const outputs: string[] = []
  for (const workers of [false, true]) {
    const out = path.join(tmp.dir, `big-${workers}.ndjson`)
    const source = sortSource(() => readJsonLines(input, { workers }), { orderBy: 't', memoryBytes: 64 * 1024, tempDir: tmp.dir, plainJson: true })
    const report = await run({ source, sink: toJsonLines(out) })
    assert.is(report.status, 'ok')
    assert.is(report.sink.written, n)
    assert.ok(source.stats!.sort!.runs > 10, `spilled in many runs (${source.stats!.sort!.runs})`)
    assert.is(report.source.workerThreads, workers ? 1 : undefined)
    outputs.push(await readFile(out, 'utf8'))
  }
  assert.is(outputs[1], outputs[0])
  // The file's lines by t, ties in file order.
  const expected = lines.map((line, at) => ({ line, at, t: order[at]! >> 1 })).sort((a, b) => a.t - b.t || a.at - b.at).map((e) => e.line)
  assert.is(outputs[1], expected.join('\n') + '\n')
})

test('hydrate: events without the key are failed with their fields in the dead-letter file, the others written as read', async () => {
  const input = await tmp.file('keyless.ndjson', ['{"t":2,"id":"b"}', '{"id":"nokey"}', '{"t":1,"id":"a", "n":1.0}', 'oops'].join('\n') + '\n')
  const out = path.join(tmp.dir, 'keyless-out.ndjson')
  const dl = path.join(tmp.dir, 'keyless-dl.ndjson')
  const report = await hydrate({ source: `json:${input}?workers=true`, sink: `ndjson:${out}`, orderBy: 't', deadLetter: dl, tempDir: tmp.dir })
  assert.is(report.status, 'partial')
  assert.is(report.sink.written, 2)
  assert.is(report.source.workerThreads, 1)
  assert.is(await readFile(out, 'utf8'), '{"t":1,"id":"a", "n":1.0}\n{"t":2,"id":"b"}\n')
  const letters = (await readFile(dl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  const codes = letters.map((l) => l.code).sort()
  assert.equal(codes, ['ERR_INVALID_JSON', 'ERR_ORDER_KEY_MISSING'])
  const missing = letters.find((l) => l.code === 'ERR_ORDER_KEY_MISSING')
  assert.equal(missing.event, { id: 'nokey' })
  assert.match(missing.message, /keyless\.ndjson:2/)
})

test('run() asks for text alone only when no stage and no sink looks inside events', async () => {
  const input = await tmp.file('asks.ndjson', '{"t":2,"source":"a"}\n{"t":1,"source":"b"}\n')
  const out = path.join(tmp.dir, 'asks-out.ndjson')
  // A filter looks inside: events are parsed after the merge, and the filter sees their fields.
  const filtered = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, orderBy: 't', filter: { source: ['b'] }, tempDir: tmp.dir })
  assert.is(filtered.sink.written, 1)
  assert.is(await readFile(out, 'utf8'), '{"t":1,"source":"b"}\n')
  // Parking by an event's field (--order-key) looks inside too.
  const parked = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, orderBy: 't', orderKey: 'source', tempDir: tmp.dir })
  assert.is(parked.sink.written, 2)
  assert.is(await readFile(out, 'utf8'), '{"t":1,"source":"b"}\n{"t":2,"source":"a"}\n')
})

test('hostile JSON: events nested too deep to stringify fail alone (ERR_UNSERIALIZABLE), on both paths, sorted or not', async () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
  for (const sorted of [false, true]) {
    // Too deep for JSON.stringify (the held text without useRawText), and a key that is itself too deep.
    const ts = sorted ? [0, 1, 2, 3, 4, 5, 6, 7] : [5, 2, 7, 0, 3, 6, 1, 4]
    const lines = ts.map((t) => `{"t":${t},"pad":"${'x'.repeat(200)}"}`)
    lines.splice(2, 0, `{"t":1.5,"d":${deep(200000)}}`)
    lines.splice(5, 0, `{"t":${deep(200000)}}`)
    const file = await tmp.file(`deep-${sorted}.ndjson`, lines.join('\n') + '\n')
    const results = []
    for (const workers of [false, true]) {
      const failures: ItemFailure[] = []
      const source = sortSource(() => readJsonLines(file, { cwd: tmp.dir, workers }), { orderBy: 't', memoryBytes: 1024, tempDir: tmp.dir, plainJson: true })
      source.addFailureListener!((f) => failures.push(f))
      const events: unknown[] = []
      for await (const event of source) events.push(event)
      results.push({ events, failures: failures.map((f) => [f.code, f.stage, f.message.replace(/:.*/, ''), (f.position as { origin?: { line?: number } })?.origin?.line]) })
    }
    assert.equal(results[1], results[0])
    assert.equal((results[0]!.events as { t: number }[]).map((e) => e.t), [0, 1, 2, 3, 4, 5, 6, 7])
    assert.equal(results[0]!.failures.map((f) => [f[0], f[1], f[3]]), [['ERR_UNSERIALIZABLE', 'sort', 3], ['ERR_UNSERIALIZABLE', 'sort', 6]])
  }
})

test('a line bigger than the worker\'s record buffer (multi-byte text) is held whole, as on one thread', async () => {
  const big = `{"t":1,"s":"${'é'.repeat(1_500_000)}\u{1F600}"}`
  const lines = [`{"t":3}`, big, `{"t":0}`, `{"t":2,"s":"${'ü'.repeat(700_000)}"}`, `{"t":1.5}`]
  const file = await tmp.file('huge.ndjson', lines.join('\n') + '\n')
  const results = []
  for (const workers of [false, true]) {
    const source = sortSource(() => readJsonLines(file, { cwd: tmp.dir, workers }), { orderBy: 't', memoryBytes: 1 << 20, tempDir: tmp.dir, plainJson: true })
    assert.ok(source.useRawText!())
    const texts: string[] = []
    for await (const event of source) texts.push(rawTextOf(event)!)
    assert.is(source.stats!.workerThreads, workers ? 1 : undefined)
    results.push(texts)
  }
  assert.equal(results[1], results[0])
  assert.equal(results[0], [lines[2], lines[1], lines[4], lines[3], lines[0]])
})

test('eventOf: a TextEvent becomes its parsed event, with its text and position; anything else stays as it is', () => {
  const bytes = Buffer.from('xx{"a":1.0,"b":[2]}  ')
  const text = setPosition(new TextEvent(bytes, 2, bytes.length - 2), { kind: 'line', source: 's', file: 'f', line: 3, offset: 0 })
  assert.is(rawTextOf(text), '{"a":1.0,"b":[2]}')
  const event = eventOf(text) as Record<string, unknown>
  assert.equal(event, { a: 1, b: [2] })
  assert.is(rawTextOf(event), '{"a":1.0,"b":[2]}')
  assert.equal(positionOf(event), { kind: 'line', source: 's', file: 'f', line: 3, offset: 0 })
  const plain = { a: 1 }
  assert.is(eventOf(plain), plain)
})

test.run()
