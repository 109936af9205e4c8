// `--order-by` under SIGKILL: killed while reading and sorting, and while writing, then resumed from
// its checkpoint, the NDJSON output is byte-identical to a clean run's, and no spill folder is left.
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { events, ndjson, tempDir } from '../helpers.js'
import { crashAndResume, hydrateChild, killLeftovers } from './cli-child.js'

const COUNT = process.env.FULL ? 400_000 : 150_000
const test = suite('crash and resume: --order-by')
let tmp: Awaited<ReturnType<typeof tempDir>>
let input: string
let expected: string
let spill: string
const rule = '{"detail":{"version":[{"numeric":[">=",0]}]}}'
const args = (out: string, dead?: string) => (ck: string) => [
  '--source', `json:${input}`, '--filter', rule, '--order-by', 'detail.seq,id', '--sort-memory', '4MB', '--temp-dir', spill,
  '--sink', `ndjson:${out}`, '--checkpoint', ck, '--checkpoint-interval', '50', '--batch-size', '500',
  ...(dead ? ['--dead-letter', dead] : []),
]

test.before(async () => {
  tmp = await tempDir('eh-order-crash-')
  spill = `${tmp.dir}/spill`
  await mkdir(spill)
  // Shuffled, with ties (seq repeats) broken by id, and a few versions the filter drops.
  const all = events(COUNT, (i) => ({ detail: { seq: (i * 7919) % (COUNT / 2), version: i % 50 === 0 ? -1 : 1 }, pad: 'x'.repeat(i % 30) }))
  input = await tmp.file('in.ndjson', ndjson(all))
  const clean = `${tmp.dir}/clean.ndjson`
  assert.is(await hydrateChild(args(clean)(`${tmp.dir}/clean.ckpt`)), 0)
  expected = await readFile(clean, 'utf8')
  assert.ok(expected.length > 0)
})
test.after(async () => {
  await killLeftovers()
  await tmp.cleanup()
})

const size = (file: string) => stat(file).then((s) => s.size, () => 0)
const runsSpilled = async () => {
  for (const dir of await readdir(spill)) if ((await readdir(`${spill}/${dir}`).catch(() => [])).length > 1) return true
  return false
}

test('killed while reading and sorting, the resumed run writes exactly the clean output', async () => {
  const out = `${tmp.dir}/sorting.ndjson`
  const ck = `${tmp.dir}/sorting.ckpt`
  const saved = await crashAndResume(args(out), ck, runsSpilled, 0, 'sorting')
  assert.ok(!saved?.position || (saved.position as { index: number }).index < 0, 'nothing was written before the kill')
  assert.ok((await readFile(out, 'utf8')) === expected, 'byte-identical to the clean run')
  assert.equal(await readdir(spill), [], 'the killed run\'s spill folder was swept, the resumed one removed')
})

for (const fraction of [0.1, 0.6]) {
  test(`killed while writing (${fraction * 100}% of the output), the resume skips what was written and ends byte-identical`, async () => {
    const out = `${tmp.dir}/writing-${fraction}.ndjson`
    const ck = `${tmp.dir}/writing-${fraction}.ckpt`
    const saved = await crashAndResume(args(out), ck, async () => (await size(out)) > expected.length * fraction, 0, `writing ${fraction}`)
    assert.is((saved?.position as { kind?: string } | undefined)?.kind, 'sorted', 'the mark is an ordinal in sorted order')
    assert.ok((saved!.position as { index: number }).index > 0)
    const got = await readFile(out, 'utf8')
    assert.is(got.length, expected.length)
    assert.ok(got === expected, 'byte-identical to the clean run')
    const checkpoint = JSON.parse(await readFile(ck, 'utf8'))
    assert.is(checkpoint.complete, true)
    const t = checkpoint.totals
    assert.is(t.read, COUNT, 'the totals over both runs count each event once')
    assert.is(t.read, t.matched + t.unmatched)
    assert.is(t.matched, t.written + t.skipped + t.failed)
    assert.equal(await readdir(spill), [])
  })
}

test('without a filter (events written as their bytes, parsed on the worker thread), killed while writing, the resume ends byte-identical', async () => {
  // Nothing looks inside the events after the merge: they go to the file as the bytes they were read as.
  // (4MB of sort memory is below what the worker is used for by default: ?workers=true asks for it.)
  const plain = (out: string) => (ck: string) =>
    args(out)(ck)
      .filter((a, i, all) => a !== '--filter' && all[i - 1] !== '--filter')
      .map((a) => (a === `json:${input}` ? `json:${input}?workers=true` : a))
  const clean = `${tmp.dir}/plain-clean.ndjson`
  assert.is(await hydrateChild(plain(clean)(`${tmp.dir}/plain-clean.ckpt`)), 0)
  const want = await readFile(clean, 'utf8')
  assert.is(want.split('\n').length - 1, COUNT)
  const out = `${tmp.dir}/plain.ndjson`
  const ck = `${tmp.dir}/plain.ckpt`
  const saved = await crashAndResume(plain(out), ck, async () => (await size(out)) > want.length * 0.4, 0, 'writing, no filter')
  assert.is((saved?.position as { kind?: string } | undefined)?.kind, 'sorted')
  assert.ok((await readFile(out, 'utf8')) === want, 'byte-identical to the clean run')
  assert.equal(await readdir(spill), [])
})

test.run()
