import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import { HydratorError } from '../../lib/errors.js'
import { positionOf } from '../../lib/position.js'
import type { RunReport } from '../../lib/report/report.js'
import { readJsonArray } from '../../lib/json/read-array.js'
import { readJsonFiles } from '../../lib/json/read-files.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import type { ItemFailure } from '../../lib/types.js'
import { resolveFiles } from '../../lib/json/files.js'
import { all, captured, readableOf, tempDir, at } from '../helpers.js'

const test = suite('symlinks in folders and globs')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

/** A fresh folder under the temp dir, with `files` (name -> content) and `links` (name -> target). */
async function folder(name: string, files: Record<string, string>, links: Record<string, string> = {}): Promise<string> {
  const dir = path.join(tmp.dir, name)
  await mkdir(dir, { recursive: true })
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true })
    await writeFile(path.join(dir, file), content)
  }
  for (const [link, target] of Object.entries(links)) await symlink(target, path.join(dir, link))
  return dir
}

const line = (n: number) => JSON.stringify({ n }) + '\n'

async function hydrate(args: string[], cwd: string) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: { ...process.env }, cwd }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

test('a glob through a symlinked folder reads each event once', async () => {
  const dir = await folder('through', { 'events/a.ndjson': line(1) + line(2), 'events/b.ndjson': line(3) }, { linked: 'events' })
  for (const glob of ['./**/*.ndjson', './*/*.ndjson', '{events,linked}/*.ndjson']) {
    const got = await all(readJsonLines(glob, { cwd: dir }))
    assert.equal(got.map((e) => e.n), [1, 2, 3], glob)
    assert.equal(got.map((e) => at(positionOf(e))?.file), ['events/a.ndjson', 'events/a.ndjson', 'events/b.ndjson'], glob)
  }
  // The folder through the link alone is read normally.
  assert.equal((await all(readJsonLines('linked', { cwd: dir }))).map((e) => e.n), [1, 2, 3])
})

test('a folder holding a link to one of its own files reads that file once', async () => {
  const dir = await folder('alias', { 'event_1.event': '{"n":1}', 'event_2.event': '{"n":2}' }, { 'event_3.event': 'event_1.event' })
  assert.equal((await all(readJsonFiles(dir))).map((e) => e.n), [1, 2])
  const lines = await folder('alias-lines', { 'a.ndjson': line(1) }, { 'b.ndjson': 'a.ndjson', 'c.ndjson': './a.ndjson' })
  assert.equal((await all(readJsonLines(lines))).map((e) => e.n), [1])
})

test('a folder linking to itself is crawled once by **', async () => {
  const dir = await folder('self', { 'a.ndjson': line(1) }, { again: '.' })
  assert.equal((await all(readJsonLines('./**/*.ndjson', { cwd: dir }))).map((e) => e.n), [1])
})

test('a dangling link in a folder of .event files is a failure naming it; the other files are read', async () => {
  const dir = await folder('dangling', { 'event_1.event': '{"n":1}', 'event_3.event': '{"n":3}' }, { 'event_2.event': 'gone.event' })
  const failures: ItemFailure[] = []
  const source = readJsonFiles(dir, { onFailure: (f) => failures.push(f), cwd: tmp.dir })
  assert.equal((await all(source)).map((e) => e.n), [1, 3])
  assert.is(source.stats.failed, 1)
  assert.is(failures.length, 1)
  assert.is(failures[0]!.code, 'ERR_FILE_UNREADABLE')
  assert.is(failures[0]!.message, 'dangling/event_2.event: unreadable (dangling link to gone.event)')
  assert.equal(failures[0]!.position, { kind: 'file', source: dir, file: 'dangling/event_2.event', index: 1 })
})

test('a link loop is a failure too, for each link of the loop', async () => {
  const dir = await folder('loop', { 'event_1.event': '{"n":1}' }, { 'event_2.event': 'event_3.event', 'event_3.event': 'event_2.event' })
  const failures: ItemFailure[] = []
  const got = await all(readJsonFiles(dir, { onFailure: (f) => failures.push(f), cwd: dir }))
  assert.equal(got.map((e) => e.n), [1])
  assert.equal(failures.map((f) => [f.code, f.message]), [
    ['ERR_FILE_UNREADABLE', 'event_2.event: unreadable (link loop)'],
    ['ERR_FILE_UNREADABLE', 'event_3.event: unreadable (link loop)'],
  ])
})

test('a dangling link matched by a glob of .ndjson is a failure; reading goes on with the next file', async () => {
  const dir = await folder('glob-dangling', { 'a/1.ndjson': line(1), 'a/3.ndjson': line(3) }, { 'a/2.ndjson': '../nowhere/2.ndjson', 'a/4.ndjson': '4.ndjson' })
  const failures: ItemFailure[] = []
  const source = readJsonLines('a/*.ndjson', { cwd: dir, onFailure: (f) => failures.push(f) })
  assert.equal((await all(source)).map((e) => e.n), [1, 3])
  assert.equal(failures.map((f) => f.message), ['a/2.ndjson: unreadable (dangling link to ../nowhere/2.ndjson)', 'a/4.ndjson: unreadable (link loop)'])
  assert.equal(failures[0]!.position, { kind: 'line', source: 'a/*.ndjson', file: 'a/2.ndjson', line: 0, offset: 0 })
  assert.is(source.stats.failed, 2)
  assert.is(source.stats.bytesTotal, line(1).length + line(3).length)
  // The same through a folder of NDJSON files.
  const again: ItemFailure[] = []
  assert.equal((await all(readJsonLines(path.join(dir, 'a'), { onFailure: (f) => again.push(f) }))).map((e) => e.n), [1, 3])
  assert.is(again.length, 2)
})

test('a link to a readable file outside the folder is read normally', async () => {
  const outside = await folder('outside', { 'far.event': '{"n":"far"}', 'far.ndjson': line(9) })
  const dir = await folder('inside', { 'event_1.event': '{"n":1}', 'a.ndjson': line(1) }, {
    'event_2.event': path.join(outside, 'far.event'),
    'b.ndjson': '../outside/far.ndjson',
  })
  const failures: ItemFailure[] = []
  const got = await all(readJsonFiles(dir, { glob: '*.event', onFailure: (f) => failures.push(f) }))
  assert.equal(got.map((e) => e.n), [1, 'far'])
  assert.match(at(positionOf(got[1]))?.file ?? '', /inside\/event_2\.event$/)
  assert.equal((await all(readJsonLines(dir, { onFailure: (f) => failures.push(f) }))).map((e) => e.n), [1, 9])
  assert.is(failures.length, 0)
})

test('resuming by index gives the right files when unreadable links and duplicates are listed', async () => {
  const dir = await folder('resume', { 'event_1.event': '{"n":1}', 'event_3.event': '{"n":3}', 'event_5.event': '{"n":5}' }, {
    'event_2.event': 'missing.event',
    'event_4.event': 'event_1.event',
  })
  const positions = new Map<unknown, number | undefined>()
  for (const e of await all(readJsonFiles(dir))) positions.set(e.n, at(positionOf(e))?.index)
  assert.equal([...positions], [[1, 0], [3, 2], [5, 4]])
  // resumeOptions() turns the checkpoint's position (index 2, event_3) into startIndex 3.
  const failures: ItemFailure[] = []
  const source = readJsonFiles(dir, { startIndex: 3, onFailure: (f) => failures.push(f) })
  assert.equal((await all(source)).map((e) => e.n), [5])
  assert.is(failures.length, 0, 'the duplicate at index 3 is skipped, not failed')
  assert.equal((await all(readJsonFiles(dir, { startIndex: 1 }))).map((e) => e.n), [3, 5])
  const list = await resolveFiles(dir, '*.event')
  assert.equal(list.map((f) => path.basename(f.file)), ['event_1.event', 'event_2.event', 'event_3.event', 'event_4.event', 'event_5.event'])
  assert.is(list[1]!.problem, 'dangling link to missing.event')
  assert.is(list[3]!.duplicateOf, path.join(dir, 'event_1.event'))
})

test('resuming NDJSON by file works with unreadable links in the list', async () => {
  const dir = await folder('resume-lines', { '1.ndjson': line(1) + line(2), '3.ndjson': line(3) }, { '2.ndjson': 'missing.ndjson' })
  const failures: ItemFailure[] = []
  const got = await all(readJsonLines(dir, { cwd: dir, startAt: { file: '1.ndjson', offset: line(1).length, line: 2 }, onFailure: (f) => failures.push(f) }))
  assert.equal(got.map((e) => e.n), [2, 3])
  assert.is(failures.length, 1)
  assert.equal((await all(readJsonLines(dir, { cwd: dir, startAt: { file: '3.ndjson', offset: 0, line: 1 } }))).map((e) => e.n), [3])
})

test('the path itself being a dangling link or a loop throws ERR_FILE_NOT_FOUND naming it, before any event', async () => {
  const dir = await folder('top', {}, { 'gone.ndjson': 'nothing.ndjson', 'x.ndjson': 'y.ndjson', 'y.ndjson': 'x.ndjson', 'gone-dir': 'no-such-dir', 'arr.json': 'missing.json' })
  const cases: [() => AsyncIterable<unknown>, RegExp][] = [
    [() => readJsonLines('gone.ndjson', { cwd: dir }), /cannot read `gone\.ndjson`: dangling link to nothing\.ndjson/],
    [() => readJsonLines('x.ndjson', { cwd: dir }), /cannot read `x\.ndjson`: link loop/],
    [() => readJsonFiles('gone-dir', { cwd: dir }), /cannot read `gone-dir`: dangling link to no-such-dir/],
    [() => readJsonArray('arr.json', { cwd: dir }), /cannot read `arr\.json`: dangling link to missing\.json/],
  ]
  for (const [make, message] of cases) {
    const got: unknown[] = []
    try {
      for await (const e of make()) got.push(e)
      assert.unreachable('should have thrown')
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, 'ERR_FILE_NOT_FOUND')
      assert.match((error as Error).message, message)
    }
    assert.is(got.length, 0)
  }
})

test('CLI: a dangling link in a folder makes the run partial, exit 1, naming the link', async () => {
  const dir = await folder('cli', { 'events/event_1.event': '{"n":1}', 'events/event_3.event': '{"n":3}' }, { 'events/event_2.event': 'gone.event' })
  const r = await hydrate(['--source', 'json:events', '--sink', 'ndjson:out.ndjson', '--report', 'json'], dir)
  assert.is(r.code, 1, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.status, 'partial')
  assert.is(report.source.read, 2)
  assert.is(report.source.failed, 1)
  assert.ok(JSON.stringify(report).includes('events/event_2.event: unreadable (dangling link to gone.event)'), r.stdout)
  const text = await hydrate(['--source', 'json:events', '--sink', 'ndjson:out2.ndjson'], dir)
  assert.is(text.code, 1)
  assert.match(text.stderr, /PARTIAL/)
  assert.match(text.stderr, /event_2\.event: ERR_FILE_UNREADABLE: unreadable \(dangling link to gone\.event\)/)
})

test('CLI: a glob through a linked folder with a loop reads each event once and fails the loop', async () => {
  const dir = await folder('cli-glob', { 'events/a.ndjson': line(1) + line(2) }, { linked: 'events', 'events/x.ndjson': 'y.ndjson', 'events/y.ndjson': 'x.ndjson' })
  const r = await hydrate(['--source', 'json:./**/*.ndjson', '--sink', 'ndjson:-', '--report', 'json', '--report-file', 'report.json', '--quiet'], dir)
  assert.is(r.code, 1, r.stderr)
  assert.equal(r.stdout.trim().split('\n').map((l) => JSON.parse(l).n), [1, 2])
  const report = JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8')) as RunReport
  assert.is(report.status, 'partial')
  assert.is(report.source.read, 2)
  assert.is(report.source.failed, 2)
})

test('CLI: a folder of NDJSON links that all dangle is read as NDJSON and each link is reported', async () => {
  const dir = await folder('cli-all-dangling', { 'events/readme.txt': 'x' }, { 'events/a.ndjson': 'gone-a.ndjson', 'events/b.ndjson': 'gone-b.ndjson' })
  const r = await hydrate(['--source', 'json:events', '--sink', 'ndjson:out.ndjson', '--report', 'json'], dir)
  assert.is(r.code, 1, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.status, 'partial')
  assert.is(report.source.failed, 2)
})

test('CLI: the source path being a dangling link is a configuration error, exit 2', async () => {
  const dir = await folder('cli-top', {}, { 'events.ndjson': 'old-events.ndjson' })
  const r = await hydrate(['--source', 'json:events.ndjson', '--sink', 'ndjson:out.ndjson'], dir)
  assert.is(r.code, 2)
  assert.match(r.stderr, /cannot read `events\.ndjson`: dangling link to old-events\.ndjson/)
})

test.run()
