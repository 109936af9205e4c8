// CRLF line ends, as Windows editors, PowerShell and `git config core.autocrlf true` write them:
// NDJSON sources (and their resume offsets), dead-letter files read back for a redrive, --filter
// pattern files, JSON arrays and one-event files.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import { openDeadLetters } from '../../lib/dead-letter.js'
import { resumeOptions } from '../../lib/json/plugin.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { positionOf } from '../../lib/position.js'
import { all, captured, events, readableOf, tempDir } from '../helpers.js'

const test = suite('windows: CRLF line ends')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-crlf-')
})
test.after(async () => {
  await tmp.cleanup()
})

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n')

async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: {}, cwd: tmp.dir }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

const ids = (text: string) => text.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id)

test('CRLF NDJSON reads every event, and a resume from any line starts exactly at the next one', async () => {
  const evs = events(40, (i) => ({ detail: { n: i, text: 'a\r\nb' } }))
  // The last line has no line end, as an editor may leave it.
  const file = await tmp.file('crlf.ndjson', crlf(evs.map((e) => JSON.stringify(e)).join('\n')))
  const read = await all(readJsonLines(file))
  assert.equal(read, evs)
  for (const k of [0, 1, 17, 38]) {
    const rest = await all(readJsonLines(file, resumeOptions(positionOf(read[k]))))
    assert.equal(rest, evs.slice(k + 1), `resumed after event ${k}`)
  }
  assert.equal(await all(readJsonLines(file, resumeOptions(positionOf(read[39])))), [])
})

test('a dead-letter file with CRLF line ends (checked out by git on Windows) redrives every original event', async () => {
  const dl = path.join(tmp.dir, 'dl.ndjson')
  const writer = await openDeadLetters(dl)
  const failed = events(5, (i) => ({ detail: { n: i, bytes: 'x'.repeat(i) } }))
  for (const [i, event] of failed.entries()) {
    await writer.write({ position: { kind: 'line', source: 'in.ndjson', file: 'in.ndjson', line: i + 1, offset: i * 10 }, stage: 'sink', code: 'ERR_SINK_WRITE', message: 'refused' }, event)
  }
  await writer.close()
  await writeFile(dl, crlf(await readFile(dl, 'utf8')))
  assert.match(await readFile(dl, 'utf8'), /\}\r\n\{/)
  const r = await hydrate(['--source', `json:${dl}`, '--sink', 'ndjson:-', '--quiet'])
  assert.is(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown), failed)
})

test('a pretty-printed --filter pattern file with CRLF line ends filters as with LF', async () => {
  const rule = await tmp.file('rule.json', crlf(JSON.stringify({ detail: { n: [{ numeric: ['>=', 3] }] } }, null, 2) + '\n'))
  assert.match(await readFile(rule, 'utf8'), /\{\r\n {2}"detail"/)
  const input = await tmp.file('filter-in.ndjson', crlf(events(6, (i) => ({ detail: { n: i } })).map((e) => JSON.stringify(e)).join('\n') + '\n'))
  const r = await hydrate(['--source', `json:${input}`, '--filter', rule, '--sink', 'ndjson:-', '--quiet'])
  assert.is(r.code, 0, r.stderr)
  assert.equal(ids(r.stdout), ['e3', 'e4', 'e5'])
  const check = await hydrate(['pattern', 'check', rule])
  assert.is(check.code, 0, check.stderr)
})

test('a JSON array and a folder of one-event files with CRLF line ends read as with LF', async () => {
  const evs = events(3, (i) => ({ detail: { n: i } }))
  const array = await tmp.file('array.json', crlf(JSON.stringify(evs, null, 2) + '\n'))
  const a = await hydrate(['--source', `json:${array}`, '--sink', 'ndjson:-', '--quiet'])
  assert.is(a.code, 0, a.stderr)
  assert.equal(ids(a.stdout), ['e0', 'e1', 'e2'])
  for (const e of evs) await tmp.file(path.join('one-event', `${String(e.id)}.json`), crlf(JSON.stringify(e, null, 2) + '\n'))
  const f = await hydrate(['--source', `json:${path.join(tmp.dir, 'one-event')}`, '--sink', 'ndjson:-', '--quiet'])
  assert.is(f.code, 0, f.stderr)
  assert.equal(ids(f.stdout), ['e0', 'e1', 'e2'])
})

test.run()
