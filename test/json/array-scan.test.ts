import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ArrayScanError, ArrayScanner } from '../../lib/json/array-scan.js'
import { readJsonArray } from '../../lib/json/read-array.js'
import { positionOf } from '../../lib/position.js'
import type { ItemFailure } from '../../lib/types.js'
import { all, tempDir } from '../helpers.js'

const test = suite('JSON arrays split at the byte level')
const runs = { numRuns: 300, seed: Number(process.env.ARRAY_SEED ?? 61206) }

// Strings rich in what a byte scanner can get wrong: quotes, backslashes (runs of them), brackets,
// commas, braces, multi-byte characters and escapes of them.
const tricky = fc.stringMatching(/^(?:[a-z"\\[\]{},: ]|é|😀|\\u00e9)*$/)
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tricky,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(tricky, tie('node'), { maxKeys: 3 }),
  ),
})).node
const event = fc.dictionary(tricky, value, { maxKeys: 4 })
const array = fc.array(fc.oneof({ weight: 6, arbitrary: event }, { weight: 1, arbitrary: value }), { maxLength: 8 })
const spacing = fc.constantFrom('', ' ', '\n', '\r\n  ', '\t')

/** The array as text with whitespace between tokens of the top level. */
function render(values: readonly unknown[], space: string): string {
  return `${space}[${space}${values.map((v) => JSON.stringify(v) + space).join(`,${space}`)}]${space}`
}

/** Splits bytes at the given cut points (each one a fraction of the length). */
function chunks(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let last = 0
  for (const c of at) {
    out.push(bytes.subarray(last, c))
    last = c
  }
  out.push(bytes.subarray(last))
  return out
}

test('however the bytes are cut into chunks, the elements are the ones JSON.parse finds', () => {
  fc.assert(
    fc.property(array, spacing, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }), (values, space, cuts) => {
      const bytes = Buffer.from(render(values, space))
      const scanner = new ArrayScanner()
      const found: unknown[] = []
      for (const chunk of chunks(bytes, cuts)) {
        for (const e of scanner.push(chunk)) {
          // Whole in the chunk: its place there; else its pieces.
          const text = e.inChunk ? chunk.toString('utf8', e.start, e.end) : Buffer.concat(e.pieces as Buffer[]).toString('utf8')
          assert.is(Buffer.byteLength(text), e.bytes)
          found.push(JSON.parse(text))
        }
      }
      scanner.end()
      assert.equal(found, JSON.parse(bytes.toString('utf8')))
    }),
    runs,
  )
})

test('the new reader and the streaming parser read the same events and failures from the same files', async () => {
  const tmp = await tempDir('eh-array-scan-')
  try {
    let n = 0
    await fc.assert(
      fc.asyncProperty(array, spacing, async (values, space) => {
        const flat = path.join(tmp.dir, `a${n}.json`)
        const wrapped = path.join(tmp.dir, `w${n++}.json`)
        await writeFile(flat, render(values, space))
        await writeFile(wrapped, `{"events":${render(values, space)}}`)
        const read = async (file: string, options: { path?: string }) => {
          const failures: ItemFailure[] = []
          const events = await all(readJsonArray(file, { ...options, onFailure: (f) => failures.push(f) }))
          return { events, indexes: events.map((e) => (positionOf(e) as { index: number }).index), failures: failures.map((f) => [f.code, (f.position as { index: number }).index]) }
        }
        assert.equal(await read(flat, {}), await read(wrapped, { path: 'events' }))
      }),
      { ...runs, numRuns: 120 },
    )
  } finally {
    await tmp.cleanup()
  }
})

test('malformed arrays fail with the element index and byte offset, after the elements before', async () => {
  const tmp = await tempDir('eh-array-bad-')
  try {
    const cases: [string, RegExp][] = [
      ['[{"a":1},{"a":2},{"a":', /at byte 22, after element 1: the input ends before the closing `\]`/],
      ['[{"a":1},,{"a":2}]', /at byte 9, after element 0: an empty element/],
      ['[{"a":1},]', /at byte 9, after element 0: a comma before the closing `\]`/],
      ['[{"a":1},{"a" 2}]', /element 1 \(at byte 9\) is not valid JSON/],
      ['[{"a":1}] x', /at byte 10, after element 0: content after the closing `\]`/],
      ['{"a":1}', /at byte 0, after element -1: expected `\[`/],
      ['[{"a":"1}]', /ends inside a string/],
      ['', /the input is empty/],
    ]
    for (const [i, [text, message]] of cases.entries()) {
      const file = await tmp.file(`bad${i}.json`, text)
      const got: unknown[] = []
      const error = await (async () => {
        for await (const e of readJsonArray(file)) got.push(e)
      })().then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      )
      assert.is(error?.code, 'ERR_SOURCE_READ', text)
      assert.match(error!.message, message, `${text}: ${error?.message}`)
      assert.is(got.length, text.startsWith('[{"a":1}') ? (text.startsWith('[{"a":1},{"a":2}') ? 2 : 1) : 0, text)
    }
    // Element-level problems are failures, and reading goes on.
    const bad = Buffer.concat([Buffer.from('[{"a":1},{"b":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"},2,{"a":3}]')])
    const file = await tmp.file('utf8.json', bad)
    const failures: ItemFailure[] = []
    const events = await all(readJsonArray(file, { onFailure: (f) => failures.push(f) }))
    assert.equal(events, [{ a: 1 }, { a: 3 }])
    assert.equal(failures.map((f) => [f.code, (f.position as { index: number }).index]), [['ERR_INVALID_UTF8', 1], ['ERR_NOT_AN_OBJECT', 2]])
    const long = await tmp.file('long.json', `[{"a":"${'x'.repeat(2000)}"},{"a":2}]`)
    const longFailures: ItemFailure[] = []
    assert.equal(await all(readJsonArray(long, { maxElementBytes: 1000, onFailure: (f) => longFailures.push(f) })), [{ a: 2 }])
    assert.is(longFailures[0]?.code, 'ERR_LINE_TOO_LONG')
  } finally {
    await tmp.cleanup()
  }
})

test('memory holds one element: a scanner fed a huge array keeps only the element in progress', () => {
  const scanner = new ArrayScanner()
  let count = 0
  scanner.push(Buffer.from('['))
  const element = Buffer.from(JSON.stringify({ id: 'x', detail: { s: 'y'.repeat(500) } }) + ',')
  for (let i = 0; i < 20_000; i++) count += scanner.push(element).length
  assert.is(count, 20_000, 'each element completes at its comma')
  assert.throws(() => scanner.end(), (e: unknown) => e instanceof ArrayScanError)
})

test.run()
