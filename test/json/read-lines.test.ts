import { gzipSync } from 'node:zlib'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { positionOf, type LinePosition } from '../../lib/position.js'
import fc from 'fast-check'
import { compilePrefilter } from '../../lib/pattern/prefilter.js'
import { run } from '../../lib/run.js'
import { collect } from '../../lib/collect.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { filter } from '../../lib/stages/filter.js'
import { tap } from '../../lib/stages/tap.js'
import type { ItemFailure } from '../../lib/types.js'
import { all, events, ndjson, readableOf, tempDir, at } from '../helpers.js'

const test = suite('readJsonLines')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

test('reads every event of a file in order, with file and line positions', async () => {
  const file = await tmp.file('a.ndjson', ndjson(events(5)))
  const source = readJsonLines(file, { cwd: tmp.dir })
  const got = await all(source)
  assert.equal(got.map((e) => e.id), ['e0', 'e1', 'e2', 'e3', 'e4'])
  assert.equal(at(positionOf(got[2]))?.line, 3)
  assert.equal(at(positionOf(got[2]))?.file, 'a.ndjson')
  assert.is(source.stats.read, 5)
  assert.not.ok('line' in got[0]!, 'positions are not inside events')
})

test('handles CRLF, blank lines, a BOM and a last line without a newline', async () => {
  const file = await tmp.file('crlf.ndjson', '\uFEFF{"a":1}\r\n\r\n  \r\n{"a":2}\r\n{"a":3}')
  const got = await all(readJsonLines(file))
  assert.equal(got, [{ a: 1 }, { a: 2 }, { a: 3 }])
  assert.is(at(positionOf(got[2]))?.line, 5)
})

test('reads gzip files', async () => {
  const file = await tmp.file('z.ndjson.gz', gzipSync(ndjson(events(100))))
  const got = await all(readJsonLines(file))
  assert.is(got.length, 100)
  assert.is(got[99]!.id, 'e99')
})

test('reads a glob and a directory in natural order (events-2 before events-10)', async () => {
  for (const n of [10, 2, 1]) await tmp.file(`g/events-${n}.ndjson`, ndjson([{ n }]))
  await tmp.file('g/ignored.txt', 'not events')
  const viaDir = await all(readJsonLines(`${tmp.dir}/g`))
  assert.equal(viaDir.map((e) => e.n), [1, 2, 10])
  const viaGlob = await all(readJsonLines(`${tmp.dir}/g/events-*.ndjson`))
  assert.equal(viaGlob.map((e) => e.n), [1, 2, 10])
})

test('reads stdin for -', async () => {
  const got = await all(readJsonLines('-', { stdin: readableOf(ndjson(events(3))) }))
  assert.equal(got.map((e) => e.id), ['e0', 'e1', 'e2'])
})

test('a line that is not JSON or not an object is a failure with file and line, and reading goes on', async () => {
  const file = await tmp.file('bad.ndjson', '{"a":1}\n{not json\n[1,2]\n"text"\n{"a":2}\n')
  const failures: ItemFailure[] = []
  const source = readJsonLines(file, { cwd: tmp.dir, onFailure: (f) => failures.push(f) })
  const got = await all(source)
  assert.equal(got, [{ a: 1 }, { a: 2 }])
  assert.equal(failures.map((f) => [f.code, at(f.position)?.line]), [
    ['ERR_INVALID_JSON', 2],
    ['ERR_NOT_AN_OBJECT', 3],
    ['ERR_NOT_AN_OBJECT', 4],
  ])
  assert.match(failures[0]!.message, /^bad\.ndjson:2: not JSON/)
  assert.is(source.stats.failed, 3)
})

test('stops with ERR_TOO_MANY_FAILURES past maxFailures', async () => {
  const file = await tmp.file('many-bad.ndjson', 'x\ny\nz\n{"a":1}\n')
  try {
    await all(readJsonLines(file, { maxFailures: 2 }))
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_TOO_MANY_FAILURES')
  }
})

test('a missing file is ERR_FILE_NOT_FOUND naming it', async () => {
  try {
    await all(readJsonLines(`${tmp.dir}/nope.ndjson`))
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_FILE_NOT_FOUND')
    assert.match((error as Error).message, /nope\.ndjson/)
  }
})

test('a truncated gzip yields every readable line, then ERR_SOURCE_READ naming the file', async () => {
  const full = gzipSync(ndjson(events(2000)))
  const file = await tmp.file('trunc.ndjson.gz', full.subarray(0, Math.floor(full.length * 0.6)))
  const got: unknown[] = []
  try {
    for await (const e of readJsonLines(file)) got.push(e)
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_SOURCE_READ')
    assert.match((error as Error).message, /trunc\.ndjson\.gz/)
  }
  assert.ok(got.length > 100, `read ${got.length} events before the cut`)
})

test('a torn last line is a failure naming its line; the rest is read', async () => {
  const file = await tmp.file('torn.ndjson', '{"a":1}\n{"a":2}\n{"a":')
  const failures: ItemFailure[] = []
  const got = await all(readJsonLines(file, { onFailure: (f) => failures.push(f) }))
  assert.is(got.length, 2)
  assert.is(at(failures[0]!.position)?.line, 3)
})

test('invalid UTF-8 is ERR_INVALID_UTF8 with its line', async () => {
  const file = await tmp.file('utf.ndjson', Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('\n{"a":3}\n')]))
  const failures: ItemFailure[] = []
  const got = await all(readJsonLines(file, { onFailure: (f) => failures.push(f) }))
  assert.is(got.length, 2)
  assert.is(failures[0]!.code, 'ERR_INVALID_UTF8')
  assert.is(at(failures[0]!.position)?.line, 2)
})

test('a line over maxLineBytes is ERR_LINE_TOO_LONG and the next line is still read', async () => {
  const long = JSON.stringify({ big: 'x'.repeat(5000) })
  const file = await tmp.file('long.ndjson', `{"a":1}\n${long}\n{"a":3}\n`)
  const failures: ItemFailure[] = []
  const got = await all(readJsonLines(file, { maxLineBytes: 1000, onFailure: (f) => failures.push(f) }))
  assert.equal(got, [{ a: 1 }, { a: 3 }])
  assert.is(failures[0]!.code, 'ERR_LINE_TOO_LONG')
  assert.is(at(failures[0]!.position)?.line, 2)
})

test('lines longer than a read chunk are joined correctly', async () => {
  const big = { big: 'y'.repeat(3 * 1024 * 1024) }
  const file = await tmp.file('chunky.ndjson', `${JSON.stringify(big)}\n{"a":2}\n`)
  const got = await all(readJsonLines(file))
  assert.is((got[0]!.big as string).length, 3 * 1024 * 1024)
  assert.equal(got[1], { a: 2 })
})

test('resumes at a byte offset without reading earlier lines', async () => {
  const file = await tmp.file('resume.ndjson', ndjson(events(10)))
  const first = await all(readJsonLines(file, { cwd: tmp.dir }))
  const p = positionOf(first[6])! as LinePosition
  const rest = await all(readJsonLines(file, { cwd: tmp.dir, startAt: { file: p.file, offset: p.offset, line: p.line } }))
  assert.equal(rest.map((e) => e.id), ['e6', 'e7', 'e8', 'e9'])
  assert.is(at(positionOf(rest[0]))?.line, 7)
})

test('an early break closes the file (the source finally runs)', async () => {
  const file = await tmp.file('early.ndjson', ndjson(events(50)))
  const source = readJsonLines(file)
  for await (const _ of source) break
  const next = await source.next()
  assert.ok(next.done)
})

test('a prefilter skips lines unparsed and counts them', async () => {
  const file = await tmp.file('pre.ndjson', ndjson(events(9)))
  const source = readJsonLines(file)
  assert.ok(source.usePrefilter!((line) => line.includes('"orders"')))
  const got = await all(source)
  assert.is(got.length, 3)
  assert.is(source.stats.prefiltered, 6)
})

test('a torn line is reported even when the prefilter rules it out', async () => {
  const file = await tmp.file('pre-torn.ndjson', ndjson(events(3)) + '{"id":"torn","source":"us\n' + ndjson(events(3)))
  const failures: ItemFailure[] = []
  const source = readJsonLines(file, { onFailure: (f) => failures.push(f) })
  source.usePrefilter!((line) => line.includes('"orders"'))
  const got = await all(source)
  assert.is(got.length, 2)
  assert.equal(failures.map((f) => [f.code, at(f.position)?.line]), [['ERR_INVALID_JSON', 4]])
})

test('the prefilter is told which lines cannot hold a backslash, and only those: escaped matches are kept', async () => {
  const { compilePrefilter } = await import('../../lib/pattern/prefilter.js')
  // About 400 KB, read in 256 KB chunks: the first chunk has no backslash, the second has the escaped line.
  const escaped = '{"id":"esc","source":"\\u006frders","detail-type":"OrderPlaced"}\n'
  const file = await tmp.file('pre-escapes.ndjson', ndjson(events(4000)) + escaped + ndjson(events(6)))
  const seen: [string, boolean | undefined][] = []
  const mayMatch = compilePrefilter({ source: ['orders'] })!
  const source = readJsonLines(file)
  source.usePrefilter!((line, noBackslash) => {
    seen.push([line, noBackslash])
    return mayMatch(line, noBackslash)
  })
  const got = (await all(source)) as { id: string }[]
  assert.ok(got.some((e) => e.id === 'esc'), 'the escaped line was parsed and kept')
  assert.is(got.length, 1334 + 1 + 2)
  for (const [line, noBackslash] of seen) if (noBackslash) assert.not.ok(line.includes('\\'), `told no backslash for ${line}`)
  assert.ok(seen.some(([, nb]) => nb === true), 'backslash-free chunks spare the scan')
  assert.ok(seen.some(([, nb]) => !nb), 'lines of the chunk with a backslash are scanned')
})

test('an anchored prefilter (a search per chunk) keeps exactly what parsing every line keeps, and reports the same failures', async () => {
  const pattern = { source: ['orders'], 'detail-type': ['OrderPlaced'] }
  assert.ok(compilePrefilter(pattern)?.anchor, 'the pattern has an anchor to search chunks for')
  // Lines of every kind: matches, near misses holding the anchor elsewhere, escapes, torn and
  // non-object lines with and without the anchor, blanks, CRLF, invalid UTF-8, and long padding
  // so that lines cross the 256 KB chunks.
  const kinds: ((i: number) => string | Buffer)[] = [
    (i) => JSON.stringify({ id: `m${i}`, source: 'orders', 'detail-type': 'OrderPlaced', detail: { i } }),
    (i) => JSON.stringify({ id: `n${i}`, source: 'users', 'detail-type': 'UserCreated', detail: { i } }),
    (i) => JSON.stringify({ id: `a${i}`, source: 'users', 'detail-type': 'UserCreated', detail: { note: 'OrderPlaced', from: 'orders' } }),
    (i) => JSON.stringify({ id: `o${i}`, source: 'orders', 'detail-type': 'OrderShipped' }),
    (i) => `{"id":"e${i}","source":"\\u006frders","detail-type":"Order\\u0050laced"}`,
    (i) => `{"id":"t${i}","source":"orders","detail-type":"OrderPl`,
    (i) => `{"id":"u${i}","source":"us`,
    () => '["OrderPlaced"]',
    () => '"orders"',
    () => '',
    (i) => `${JSON.stringify({ id: `c${i}`, source: 'orders', 'detail-type': 'OrderPlaced' })}\r`,
    (i) => Buffer.concat([Buffer.from(`{"id":"x${i}","source":"orders","detail-type":"OrderPlaced","b":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    (i) => JSON.stringify({ id: `p${i}`, source: 'users', pad: 'x'.repeat(90_000 + (i % 7) * 10_000) }),
  ]
  const collectAll = async (file: string, prefilter: boolean) => {
    const failures: [string, number | undefined][] = []
    const ids: unknown[] = []
    const source = readJsonLines(file, { onFailure: (f) => failures.push([f.code, at(f.position)?.line]) })
    const report = await run({ source, stages: [filter(pattern), tap((e: { id: unknown }) => void ids.push(e.id))], sink: collect(), prefilter })
    return { ids, report, failures }
  }
  let rounds = 0
  let prefiltered = 0
  await fc.assert(
    // Half the files leave out the escaped and the invalid UTF-8 lines, so that whole chunks take the search.
    fc.asyncProperty(fc.array(fc.nat({ max: kinds.length - 1 }), { minLength: 5, maxLength: 60, size: 'max' }), fc.boolean(), async (picks, clean) => {
      const lines = picks.filter((k) => !clean || (k !== 4 && k !== 11)).map((k, i) => kinds[k]!(i))
      const body = Buffer.concat(lines.flatMap((l) => [typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')]))
      const file = await tmp.file(`anchored-${rounds++}.ndjson`, body)
      const parsed = await collectAll(file, false)
      const skipped = await collectAll(file, true)
      assert.equal(skipped.ids, parsed.ids, 'the same events kept, in order')
      assert.equal(skipped.failures, parsed.failures, 'the same failures, at the same lines')
      prefiltered += skipped.report.filter.prefiltered
      assert.is(skipped.report.sink.written, parsed.report.sink.written)
      assert.is(skipped.report.source.read + skipped.report.source.failed, parsed.report.source.read + parsed.report.source.failed)
      assert.is(skipped.report.filter.matched, parsed.report.filter.matched)
    }),
    { numRuns: 40, seed: 42 },
  )
  assert.ok(prefiltered > 100, `lines were skipped unparsed: ${prefiltered}`)
})

test('rejects bad options before any I/O', () => {
  assert.throws(() => readJsonLines(''), /expected a path/)
  assert.throws(() => readJsonLines('x', { maxLineBytes: 0 }), /maxLineBytes/)
})

test.run()
