// LineScanner's positions: `next` (where a resumed read starts) is just past each line's newline,
// for a too-long line cut across chunks too (its bytes are dropped, not its length).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { entriesOf, LineScanner, TOO_LONG } from '../../lib/util/line-scan.js'

const test = suite('LineScanner positions')

function scan(text: string, chunk: number, maxLineBytes: number) {
  const scanner = new LineScanner({ maxLineBytes })
  const bytes = Buffer.from(text)
  const entries = []
  for (let at = 0; at < bytes.length; at += chunk) {
    scanner.push(bytes.subarray(at, at + chunk))
    entries.push(...entriesOf(scanner.take()))
  }
  scanner.end()
  entries.push(...entriesOf(scanner.take()))
  return entries.map(({ kind, line, offset, next }) => ({ kind, line, offset, next }))
}

test('a too-long line across chunks: next is past its newline, whatever the chunk size', () => {
  const long = `{"a":"${'x'.repeat(30)}"}` // 38 bytes
  const text = `{"b":1}\n${long}\n{"c":2}\n${long}`
  for (const chunk of [1, 3, 8, 64]) {
    const entries = scan(text, chunk, 10)
    assert.equal(
      entries,
      [
        { kind: 0, line: 1, offset: 0, next: 8 },
        { kind: TOO_LONG, line: 2, offset: 8, next: 47 },
        { kind: 0, line: 3, offset: 47, next: 55 },
        { kind: TOO_LONG, line: 4, offset: 55, next: 94 },
      ],
      `chunks of ${chunk}`,
    )
  }
})

test.run()
