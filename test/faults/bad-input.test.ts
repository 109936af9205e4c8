// Bad input: each case gives a clear error naming the place, the right exit code, and loses
// nothing that was readable.
import { readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { RunReport } from '../../lib/report/report.js'
import { captured, events, ndjson, readableOf, tempDir, at } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('faults: bad input')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const reportFile = `${tmp.dir}/report-${Math.random().toString(36).slice(2)}.json`
  const code = await cli([...args, '--report', 'json', '--report-file', reportFile], { stdout, stderr, stdin: readableOf(''), env: process.env, cwd: tmp.dir })
  const report = await readFile(reportFile, 'utf8').then((t) => JSON.parse(t) as RunReport, () => undefined)
  return { code, stderr: stderr.text(), report }
}

async function lines(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l))
}

test('a truncated gzip: every readable event is written, exit 1, ERR_SOURCE_READ names the file', async () => {
  const full = gzipSync(ndjson(events(5000)))
  await tmp.file('cut.ndjson.gz', full.subarray(0, Math.floor(full.length / 2)))
  const r = await hydrate(['--source', 'json:cut.ndjson.gz', '--sink', 'ndjson:out-gz.ndjson'])
  assert.is(r.code, 1)
  assert.is(r.report!.status, 'failed')
  assert.is(r.report!.error!.code, 'ERR_SOURCE_READ')
  assert.match(r.report!.error!.message, /cut\.ndjson\.gz/)
  const written = await lines(`${tmp.dir}/out-gz.ndjson`)
  assert.ok(written.length > 1000)
  assert.is(written.length, r.report!.sink.written)
  assert.equal(written.map((e) => e.id), events(written.length).map((e) => e.id), 'in order, nothing skipped')
})

test('a torn last line, invalid UTF-8, an array and a string: failures with file:line, the rest written', async () => {
  const content = Buffer.concat([
    Buffer.from(ndjson(events(3))),
    Buffer.from('[1,2,3]\n"just a string"\n{"bad":"'),
    Buffer.from([0xc3, 0x28]),
    Buffer.from('"}\n'),
    Buffer.from(ndjson(events(2, (i) => ({ id: `late${i}` })))),
    Buffer.from('{"torn":'),
  ])
  await tmp.file('mixed.ndjson', content)
  const r = await hydrate(['--source', 'json:mixed.ndjson', '--sink', 'ndjson:out-mixed.ndjson'])
  assert.is(r.code, 1)
  assert.is(r.report!.status, 'partial')
  assert.equal(r.report!.failures.samples.map((f) => [f.code, at(f.position)?.line]), [
    ['ERR_NOT_AN_OBJECT', 4],
    ['ERR_NOT_AN_OBJECT', 5],
    ['ERR_INVALID_UTF8', 6],
    ['ERR_INVALID_JSON', 9],
  ])
  assert.match(r.stderr, /mixed\.ndjson:9/)
  assert.is((await lines(`${tmp.dir}/out-mixed.ndjson`)).length, 5)
  assert.is(r.report!.source.read, 5)
})

test('a 50 MB single line is read (under maxLineBytes) and the lines around it too', async () => {
  const big = JSON.stringify({ id: 'big', source: 'orders', detail: { blob: 'z'.repeat(50 * 1024 * 1024) } })
  await tmp.file('big-line.ndjson', `${JSON.stringify({ id: 'before' })}\n${big}\n${JSON.stringify({ id: 'after' })}\n`)
  const r = await hydrate(['--source', 'json:big-line.ndjson', '--sink', 'ndjson:out-big.ndjson', '--filter', '{"id":["before","after"]}'])
  assert.is(r.code, 0, r.stderr)
  assert.equal((await lines(`${tmp.dir}/out-big.ndjson`)).map((e) => e.id), ['before', 'after'])
  assert.is(r.report!.source.read, 3)
})

test('an invalid pattern, a URI with a typo and a missing file exit 2 before anything is written', async () => {
  await tmp.file('ok.ndjson', ndjson(events(3)))
  const cases: [string[], RegExp][] = [
    [['--source', 'json:ok.ndjson', '--filter', '{"detail":{"amount":[{"numeric":["<"]}]}}', '--sink', 'ndjson:never1.ndjson'], /detail\.amount/],
    [['--source', 'jsn:ok.ndjson', '--sink', 'ndjson:never2.ndjson'], /unknown source scheme `jsn:`/],
    [['--source', 'json:ok.ndjson', '--sink', 'ndjsn:never3.ndjson'], /unknown sink scheme `ndjsn:`.*ndjson:/],
    [['--source', 'json:missing.ndjson', '--sink', 'ndjson:never4.ndjson'], /missing\.ndjson/],
  ]
  for (const [args, message] of cases) {
    const r = await hydrate(args)
    assert.is(r.code, 2, args.join(' '))
    assert.match(r.stderr, message)
  }
})

test.run()
void root
