// Events that reach a JSON-lines sink unchanged are written as the exact text they were read as:
// numbers past double precision and number spellings survive a pass-through or a pattern filter.
// Anything that could change an event (a map, a tap, a predicate, an envelope) turns it off.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { toJsonLines } from '../../lib/json/write-lines.js'
import { rawTextOf } from '../../lib/raw-text.js'
import { run } from '../../lib/run.js'
import { filter } from '../../lib/stages/filter.js'
import { map } from '../../lib/stages/map.js'
import { take } from '../../lib/stages/take.js'
import { tap } from '../../lib/stages/tap.js'
import { tempDir } from '../helpers.js'

const test = suite('events written as they were read')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-raw-')
})
test.after(async () => {
  await tmp.cleanup()
})

const LINES = [
  '{"id":1,"n":12345678901234567890,"x":1.0,"source":"orders"}',
  '  {"id":2,"n":1.50,"source":"orders"}\t',
  '{"id":3,"source":"payments","big":1e400}',
  '{"id":4,"source":"orders","s":"\\u00e9\\/","neg":-0}',
  '{"$eventHydratorDeadLetter":2,"code":"ERR_X","message":"m","event":{"id":5,"source":"orders","v":2.0}}',
]
const reserialized = (line: string) => {
  const value = JSON.parse(line) as Record<string, unknown>
  return JSON.stringify(value.$eventHydratorDeadLetter ? value.event : value)
}

async function through(stages: Parameters<typeof run>[0]['stages'], name: string) {
  const input = path.join(tmp.dir, `${name}.in.ndjson`)
  const output = path.join(tmp.dir, `${name}.out.ndjson`)
  await writeFile(input, LINES.join('\r\n') + '\n')
  const report = await run({ source: readJsonLines(input), ...(stages ? { stages } : {}), sink: toJsonLines(output) })
  assert.is(report.status, 'ok')
  return (await readFile(output, 'utf8')).split('\n').slice(0, -1)
}

test('a pass-through writes each line as read (blanks around it dropped); a dead letter gives its event', async () => {
  const out = await through(undefined, 'pass')
  assert.equal(out, [LINES[0], LINES[1]!.trim(), LINES[2], LINES[3], reserialized(LINES[4]!)])
})

test('a pattern filter and take keep the text; a map, a tap and a predicate filter write JSON.stringify', async () => {
  assert.equal(await through([filter({ source: ['orders'] }), take(2)], 'filtered'), [LINES[0], LINES[1]!.trim()])
  const again = LINES.filter((l) => /"orders"/.test(l)).map(reserialized)
  assert.equal(await through([filter({ source: ['orders'] }), map((e: Record<string, unknown>) => e)], 'mapped'), again)
  assert.equal(await through([tap(() => {})], 'tapped'), LINES.map(reserialized))
  assert.equal(await through([filter((e: { source?: string }) => e.source === 'orders')], 'predicate'), again)
})

test('the text rides beside the event, not in it, and only when the run asked for it', async () => {
  const input = path.join(tmp.dir, 'beside.ndjson')
  await writeFile(input, LINES[0] + '\n')
  for await (const event of readJsonLines(input)) {
    assert.is(rawTextOf(event), undefined, 'not kept unless asked')
    assert.equal(Object.keys(event), ['id', 'n', 'x', 'source'])
  }
  const source = readJsonLines(input)
  assert.ok(source.useRawText!())
  for await (const event of source) {
    assert.is(rawTextOf(event), LINES[0])
    assert.is(JSON.stringify(event), reserialized(LINES[0]!))
    assert.is(rawTextOf({ ...event }), undefined, 'a copy carries no text')
  }
  assert.not.ok(source.useRawText!(), 'too late once reading started')
})

test('hydrate(): the CLI path keeps the text, a transform does not; the resume state is the length of what was written', async () => {
  const input = path.join(tmp.dir, 'h.ndjson')
  await writeFile(input, LINES.slice(0, 4).join('\n') + '\n')
  const out = path.join(tmp.dir, 'h.out.ndjson')
  const plain = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}` })
  assert.is(plain.status, 'ok')
  assert.equal((await readFile(out, 'utf8')).split('\n').slice(0, -1), [LINES[0], LINES[1]!.trim(), LINES[2], LINES[3]])
  await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, transform: (e: unknown) => e })
  assert.equal((await readFile(out, 'utf8')).split('\n').slice(0, -1), LINES.slice(0, 4).map(reserialized))
  // A resume starts from the byte length the sink recorded after each event: that of the text written.
  const source = readJsonLines(input)
  source.useRawText!()
  const states: number[] = []
  const sunk = path.join(tmp.dir, 'h.states.ndjson')
  await toJsonLines(sunk)(source, { onSettled: (_events, outcomes) => void states.push(...outcomes!.map((o) => (o!.state as { bytes: number }).bytes)) })
  const text = await readFile(sunk, 'utf8')
  const lines = text.split('\n').slice(0, -1)
  assert.equal(states, lines.map((_, i) => Buffer.byteLength(lines.slice(0, i + 1).join('\n') + '\n')))
  assert.is(states.at(-1), Buffer.byteLength(text))
})

test('--order-by: the text is what is held, spilled and written (in memory, spilled, in order); a transform after the sort sees and writes its change', async () => {
  const rows = Array.from({ length: 3000 }, (_, i) => `{"seq":${(i * 7919) % 3000},"n":1234567890123456789${i % 10},"x":${i}.0,"pad":"${'p'.repeat(i % 50)}"}`)
  const input = path.join(tmp.dir, 'sort.ndjson')
  await writeFile(input, rows.join('\n') + '\n')
  const sorted = [...rows].sort((a, b) => Number(/"seq":(\d+)/.exec(a)![1]) - Number(/"seq":(\d+)/.exec(b)![1]))
  const out = path.join(tmp.dir, 'sort.out.ndjson')
  for (const sortMemory of ['64MB', '64KB']) {
    const report = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}`, orderBy: 'seq', sortMemory, tempDir: tmp.dir })
    assert.is(report.status, 'ok')
    assert.equal((await readFile(out, 'utf8')).split('\n').slice(0, -1), sorted, `sortMemory ${sortMemory}`)
  }
  const inOrder = path.join(tmp.dir, 'sorted.ndjson')
  await writeFile(inOrder, sorted.join('\n') + '\n')
  await hydrate({ source: `json:${inOrder}`, sink: `ndjson:${out}`, orderBy: 'seq', sortMemory: '64KB', tempDir: tmp.dir })
  assert.equal((await readFile(out, 'utf8')).split('\n').slice(0, -1), sorted, 'a source already in order, read twice')
  await hydrate({
    source: `json:${input}`,
    sink: `ndjson:${out}`,
    orderBy: 'seq',
    sortMemory: '64KB',
    tempDir: tmp.dir,
    transform: (e: Record<string, unknown>) => {
      e.changed = true
      return e
    },
  })
  const changed = (await readFile(out, 'utf8')).split('\n').slice(0, -1)
  assert.equal(changed, sorted.map((l) => JSON.stringify({ ...(JSON.parse(l) as object), changed: true })))
})

test('one JSON array: a one-line element is written as read; a pretty-printed one with JSON.stringify', async () => {
  const compact = `[${LINES[0]}, ${LINES[2]} ,{"id":9,"n":1.50}]`
  const pretty = `[\n  {\n    "id": 1,\n    "n": 12345678901234567890\n  },\n  ${LINES[3]}\n]`
  const out = path.join(tmp.dir, 'array.out.ndjson')
  for (const [name, text, want] of [
    ['compact.json', compact, [LINES[0], LINES[2], '{"id":9,"n":1.50}']],
    ['pretty.json', pretty, ['{"id":1,"n":12345678901234567000}', LINES[3]]],
  ] as const) {
    const input = path.join(tmp.dir, name)
    await writeFile(input, text)
    const report = await hydrate({ source: `json:${input}`, sink: `ndjson:${out}` })
    assert.is(report.status, 'ok')
    assert.equal((await readFile(out, 'utf8')).split('\n').slice(0, -1), [...want], name)
  }
})

test.run()
