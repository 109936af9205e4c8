import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { positionOf } from '../../lib/position.js'
import { compareValues, orderKey } from '../../lib/sort/key.js'
import { PositionCodec } from '../../lib/sort/position-codec.js'
import { HeldRun } from '../../lib/sort/record.js'
import { sortSource } from '../../lib/sort/sorted-source.js'
import { orderBy } from '../../lib/stages/order-by.js'
import { stageContract } from '../contract.js'
import { all, ndjson, tempDir } from '../helpers.js'

const test = suite('orderBy: sorting events by a key')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-order-')
})
test.after(async () => {
  await tmp.cleanup()
})

stageContract(test, 'orderBy', () => orderBy('n', { missing: 'last' }), [{ n: 2 }, { n: 1 }, { n: 3 }])

const sorted = (values: unknown[]) => [...values].sort(compareValues)
const shuffled = (n: number, seed = 7) => {
  const a = Array.from({ length: n }, (_, i) => i)
  let s = seed
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    const j = s % (i + 1)
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}
async function* iterate<T>(values: T[]) {
  yield* values
}

test('numbers compare as numbers, not as text', () => {
  assert.equal(sorted([10, -1, 2, 1.5, -20.5, 0, 1e21, -0]), [-20.5, -1, 0, -0, 1.5, 2, 10, 1e21])
})

test('ISO-8601 timestamps in different offsets compare as instants', () => {
  const a = '2024-01-01T10:00:00+02:00' // 08:00Z
  const b = '2024-01-01T09:00:00Z'
  const c = '2024-01-01T03:30:00-05:00' // 08:30Z
  const d = '2024-01-01T08:00:00.000000001Z' // a nanosecond after a
  assert.equal(sorted([b, c, d, a]), [a, d, c, b])
  assert.is(compareValues('2024-01-01T08:00:00Z', '2024-01-01T10:00:00+02:00'), 0)
  assert.ok(compareValues('2024-01-01', '2024-01-01T00:00:01Z') < 0, 'a date alone is its UTC midnight')
  assert.ok(compareValues('2024-02-30T00:00:00Z', '2024-01-01T00:00:00Z') > 0, 'an impossible date is a plain string, after every timestamp')
})

test('other strings compare by code point', () => {
  // By UTF-16 code units U+FFFD would come after U+1F600 (a surrogate pair starting 0xD83D).
  assert.equal(sorted(['b', '\u{1F600}', 'a', '\uFFFD', 'B', '']), ['', 'B', 'a', 'b', '\uFFFD', '\u{1F600}'])
})

test('across types: null < false < true < numbers < timestamps < strings < arrays and objects', () => {
  const values = [{ a: 1 }, 'x', '2024-01-01T00:00:00Z', 5, true, false, null, [1]]
  assert.equal(sorted(values), [null, false, true, 5, '2024-01-01T00:00:00Z', 'x', [1], { a: 1 }])
})

test('several paths: the first decides, the next break ties, and strings never run into each other', () => {
  const key = orderKey('detail.sequence,id')
  const events = [
    { id: 'b', detail: { sequence: 2 } },
    { id: 'a', detail: { sequence: 10 } },
    { id: 'a', detail: { sequence: 2 } },
  ]
  assert.equal(events.map((e) => key(e)).sort().map((k) => events.find((e) => key(e) === k)!.id + events.find((e) => key(e) === k)!.detail.sequence), ['a2', 'b2', 'a10'])
  const two = orderKey(['a', 'b'])
  assert.ok(two({ a: 'x', b: 'yz' })! < two({ a: 'xy', b: 'z' })!, '"x","yz" before "xy","z"')
  assert.ok(two({ a: 'x\u0000', b: 'a' })! > two({ a: 'x', b: 'zz' })!)
  assert.is(key({ id: 'a' }), undefined, 'a missing path makes the key missing')
  assert.is.not(orderKey('v')({ v: null }), undefined, 'null is a value')
})

test('ties keep their source order (stable), in memory and across spilled runs', async () => {
  const events = shuffled(3000).map((i) => ({ k: i % 7, i }))
  for (const memoryBytes of [64 * 2 ** 20, 4096]) {
    const out = (await all(sortSource(iterate(events), { orderBy: 'k', memoryBytes, tempDir: tmp.dir }))) as typeof events
    const expected = [...events].sort((a, b) => a.k - b.k)
    assert.equal(out, expected, `memory ${memoryBytes}`)
  }
})

test('events without the key: fail (first, then failed by the check), first or last', async () => {
  const events = [{ t: 2 }, { x: 1 }, { t: 1 }, { x: 2 }]
  const last = await all(orderBy('t', { missing: 'last' })(iterate(events)))
  assert.equal(last, [{ t: 1 }, { t: 2 }, { x: 1 }, { x: 2 }])
  const first = await all(orderBy('t', { missing: 'first' })(iterate(events)))
  assert.equal(first, [{ x: 1 }, { x: 2 }, { t: 1 }, { t: 2 }])
  try {
    await all(orderBy('t')(iterate(events)))
    assert.unreachable('a bare pipe cannot report the failure: it throws')
  } catch (error) {
    assert.is((error as { code?: string }).code, 'ERR_ORDER_KEY_MISSING')
  }
})

test('in a run, a missing key is a failure in the report and the dead-letter file, and the counts add up', async () => {
  const input = await tmp.file('missing.ndjson', ndjson([{ time: 3 }, { id: 'no-time' }, { time: 1 }, { time: 2, source: 'skip' }]))
  const out = await tmp.file('missing.out.ndjson')
  const dead = await tmp.file('missing.dead.ndjson')
  const report = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, orderBy: 'time', filter: { time: [{ numeric: ['>', 0] }] }, deadLetter: dead })
  assert.is(report.status, 'partial')
  assert.is(report.source.read, 4)
  assert.is(report.filter.matched + report.filter.unmatched, 4)
  // The failed check counts as matched and failed, like a transform that threw.
  assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed)
  assert.is(report.sink.failed, 1)
  assert.is(report.failures.count, 1)
  assert.is(report.failures.samples[0]!.code, 'ERR_ORDER_KEY_MISSING')
  assert.match(report.failures.samples[0]!.message, /missing\.ndjson:2/)
  assert.equal((await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).time), [1, 2, 3])
  const letter = JSON.parse((await readFile(dead, 'utf8')).trim())
  assert.equal(letter.event, { id: 'no-time' })
})

test('a tiny --sort-memory spills many runs, merges them in several passes, and removes its folder', async () => {
  const dir = await tmp.file('spill-ok/')
  await mkdir(dir, { recursive: true })
  const events = shuffled(20_000).map((i) => ({ time: new Date(1.7e12 + i * 1000).toISOString(), i }))
  const source = sortSource(iterate(events), { orderBy: 'time', memoryBytes: 8192, tempDir: dir, plainJson: true })
  const out = (await all(source)) as typeof events
  assert.equal(
    out.map((e) => e.i),
    Array.from({ length: 20_000 }, (_, i) => i),
  )
  assert.ok(source.stats!.sort!.runs > 128, `many runs (${source.stats!.sort!.runs}), more than one merge's fan-in`)
  assert.is(positionOf(out[5])?.kind, 'sorted')
  assert.equal(await readdir(dir), [], 'the spill folder is gone')
})

test('the spill folder is removed when the source fails and when the run is aborted', async () => {
  const dir = await tmp.file('spill-fail/')
  await mkdir(dir, { recursive: true })
  async function* failing() {
    for (let i = 0; i < 5000; i++) yield { t: 5000 - i }
    throw new Error('the source broke')
  }
  try {
    await all(sortSource(failing(), { orderBy: 't', memoryBytes: 4096, tempDir: dir }))
    assert.unreachable()
  } catch (error) {
    assert.match((error as Error).message, /the source broke/)
  }
  assert.equal(await readdir(dir), [])
  const controller = new AbortController()
  async function* slow() {
    for (let i = 0; ; i++) {
      if (i === 5000) controller.abort()
      yield { t: -i }
      if (i % 500 === 0) await new Promise((r) => setImmediate(r))
    }
  }
  const out = await all(sortSource(slow(), { orderBy: 't', memoryBytes: 4096, tempDir: dir, signal: controller.signal }))
  assert.equal(out, [], 'nothing comes out of a sort stopped while reading')
  assert.equal(await readdir(dir), [])
})

test('a source already in order is never spilled, even when it is bigger than --sort-memory', async () => {
  const dir = await tmp.file('spill-sorted/')
  await mkdir(dir, { recursive: true })
  const events = Array.from({ length: 5000 }, (_, i) => ({ t: Math.floor(i / 3), i }))
  let opened = 0
  const source = sortSource(() => (opened++, iterate(events)), { orderBy: 't', memoryBytes: 4096, tempDir: dir })
  const out = await all(source)
  assert.equal(out, events)
  assert.is(source.stats!.sort!.runs, 0)
  assert.is(opened, 2, 'read once to check the order, once to pass it on')
  // One that fits in memory is read once.
  opened = 0
  const small = sortSource(() => (opened++, iterate(events.slice(0, 20))), { orderBy: 't', tempDir: dir })
  assert.equal(await all(small), events.slice(0, 20))
  assert.is(opened, 1)
  // Out of order after the memory filled: read again and sorted for real.
  opened = 0
  const late = [...events, { t: -1, i: -1 }]
  const again = sortSource(() => (opened++, iterate(late)), { orderBy: 't', memoryBytes: 4096, tempDir: dir })
  assert.equal(((await all(again)) as typeof late)[0], { t: -1, i: -1 })
  assert.is(opened, 2)
  assert.equal(await readdir(dir), [])
})

test('not enough free space in --temp-dir fails before anything is written', async () => {
  const dir = await tmp.file('spill-space/')
  await mkdir(dir, { recursive: true })
  const statfs = async () => ({ bavail: 0, bsize: 4096 })
  const events = shuffled(5000).map((t) => ({ t }))
  try {
    await all(sortSource(iterate(events), { orderBy: 't', memoryBytes: 8192, tempDir: dir, statfs }))
    assert.unreachable()
  } catch (error) {
    assert.is((error as { code?: string }).code, 'ERR_SORT_SPACE')
    assert.match((error as Error).message, /has 0\.0 MB free; sorting this source needs about .* MB/)
  }
  assert.equal(await readdir(dir), [])
})

test('on a real 1 MB tmpfs, a sort that needs more fails early with ERR_SORT_SPACE', async () => {
  if (process.getuid?.() !== 0) {
    console.log('  (skipped: mounting a tmpfs needs root)')
    return
  }
  const dir = await tmp.file('tiny-tmpfs/')
  await mkdir(dir, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir])
  try {
    const input = await tmp.file('space.ndjson', ndjson(shuffled(40_000).map((i) => ({ id: `e${i}`, time: i, pad: 'x'.repeat(40) }))))
    const out = await tmp.file('space.out.ndjson')
    const report = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, orderBy: 'time', sortMemory: '256KB', tempDir: dir })
    assert.is(report.status, 'failed')
    assert.is(report.error?.code, 'ERR_SORT_SPACE')
    assert.equal(await readdir(dir), [])
  } finally {
    execFileSync('umount', [dir])
  }
})

test('a resume skips the events up to the mark in sorted order, and refuses a source that changed', async () => {
  const events = shuffled(50).map((t) => ({ t }))
  const out = await all(sortSource(iterate(events), { orderBy: 't', resume: { kind: 'sorted', source: 'x', index: 9, failures: 0, total: 50 } }))
  assert.equal(out, Array.from({ length: 40 }, (_, i) => ({ t: i + 10 })))
  try {
    await all(sortSource(iterate(events), { orderBy: 't', resume: { kind: 'sorted', source: 'x', index: 9, failures: 0, total: 49 } }))
    assert.unreachable()
  } catch (error) {
    assert.is((error as { code?: string }).code, 'ERR_CHECKPOINT_MISMATCH')
  }
})

test('the issue\'s example: a folder of one-event files comes out in time order', async () => {
  const dir = await tmp.file('example/')
  await mkdir(dir, { recursive: true })
  for (const t of [0, 3, 6, 9]) await tmp.file(`example/event_1_${t}a.event`, JSON.stringify({ id: `e${t}`, time: t }))
  for (const t of [1, 2, 4, 5, 7, 8]) await tmp.file(`example/another_event_${t}b.event`, JSON.stringify({ id: `a${t}`, time: t }))
  const out = await tmp.file('example.out.ndjson')
  const report = await hydrate({ source: `json:${dir}`, sink: `ndjson:${out}`, orderBy: 'time' })
  assert.is(report.status, 'ok')
  assert.equal((await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).time), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
})

test('100,000 shuffled events come out exactly in time order, as GNU sort orders them', async () => {
  const N = 100_000
  const lines = shuffled(N, 11).map((i) => JSON.stringify({ id: `e${i}`, time: new Date(1.7e12 + Math.floor(i / 2) * 1000).toISOString(), n: i }))
  const input = await tmp.file('big.ndjson', lines.join('\n') + '\n')
  const out = await tmp.file('big.out.ndjson')
  const report = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, orderBy: 'time', sortMemory: '2MB', tempDir: tmp.dir })
  assert.is(report.status, 'ok')
  assert.is(report.sink.written, N)
  const keyed = await tmp.file('big.keyed', lines.map((l) => `${JSON.parse(l).time}\t${l}`).join('\n') + '\n')
  const bySort = execFileSync('sh', ['-c', `LC_ALL=C sort -s -t '\t' -k1,1 '${keyed}' | cut -f2-`], { encoding: 'utf8', maxBuffer: 1 << 30 })
  const got = await readFile(out, 'utf8')
  assert.ok(got === bySort, 'the same bytes as sort -s')
})

test('a held run sorts by its keys as strings compare, stably, whatever the keys share or how long they are', () => {
  const prefix = fc.constantFrom('', 'e00000', 'f' + 'x'.repeat(40))
  const unit = fc.oneof(fc.constantFrom('0', '9', 'a', 'f', '\u0000', '\uffff', '\ud83d', '\ude00'), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }))
  const key = fc.tuple(prefix, fc.array(unit, { maxLength: 12 })).map(([p, units]) => p + units.join(''))
  fc.assert(
    fc.property(fc.array(key, { maxLength: 300 }), (keys) => {
      const held = new HeldRun(new PositionCodec(JSON.stringify, JSON.parse), 1 << 20)
      keys.forEach((k, i) => held.add(k, 1, String(i)))
      const order = Array.from(held.order(false))
      const expected = keys.map((k, i) => [k, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1])).map(([, i]) => i)
      assert.equal(order, expected)
    }),
    { numRuns: 300 },
  )
})

test.run()
