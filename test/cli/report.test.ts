import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import type { RunReport } from '../../lib/report/report.js'
import { reportSchema } from '../../lib/report/schema.js'
import { reportProblems } from '../../lib/report/validate.js'
import { planId } from '../../lib/share.js'
import { captured, events, ndjson, readableOf, tempDir } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
// The TypeScript loader, found from here: the process runs in a temporary folder.
const tsxLoader = import.meta.resolve('tsx')
const test = suite('hydrate report merge')
let tmp: Awaited<ReturnType<typeof tempDir>>
// Reports as `hydrate --report json --report-file` writes them: a has a torn line (partial), c and d are clean.
let a: RunReport
let c: RunReport
let d: RunReport

async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: { ...process.env }, cwd: tmp.dir }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

/** What `report merge` printed, checked against the published schema (docs/report.schema.json is the exported one). */
async function printed(stdout: string): Promise<RunReport> {
  const published = JSON.parse(await readFile(path.join(root, 'docs/report.schema.json'), 'utf8'))
  assert.equal(published, JSON.parse(JSON.stringify(reportSchema)), 'docs/report.schema.json is the schema')
  const report = JSON.parse(stdout) as RunReport
  assert.equal(reportProblems(report), [])
  return report
}

test.before(async () => {
  tmp = await tempDir()
  await tmp.file('a.ndjson', ndjson(events(20)) + '{torn\n')
  await tmp.file('c.ndjson', ndjson(events(30).slice(20)))
  await tmp.file('d.ndjson', ndjson(events(45).slice(30)))
  for (const name of ['a', 'c', 'd']) {
    const r = await hydrate(['--source', `json:${name}.ndjson`, '--filter', '{"source":["orders"]}', '--sink', `ndjson:${name}.out`, '--report', 'json', '--report-file', `${name}.json`, '--quiet'])
    assert.is(r.code, name === 'a' ? 1 : 0, r.stderr)
  }
  ;[a, c, d] = await Promise.all(['a', 'c', 'd'].map(async (n) => JSON.parse(await readFile(path.join(tmp.dir, `${n}.json`), 'utf8')) as RunReport))
})
test.after(async () => {
  await tmp.cleanup()
})

test('merges --report json files into one report on stdout; exit 0 when every share is done', async () => {
  const r = await hydrate(['report', 'merge', 'c.json', 'd.json'])
  assert.is(r.code, 0, r.stderr)
  const merged = await printed(r.stdout)
  assert.is(merged.status, 'ok')
  assert.is(merged.source.read, c.source.read + d.source.read)
  assert.is(merged.sink.written, c.sink.written + d.sink.written)
  assert.equal(merged.shares, { count: 2, done: 2, partial: 0, failed: 0, notRun: 0 })
  assert.match(r.stderr, /^OK in .*\n  shares   2: 2 done, 0 partial, 0 failed, 0 not run/)
  const quiet = await hydrate(['report', 'merge', 'c.json', 'd.json', '--quiet'])
  assert.is(quiet.stderr, '')
})

test('exit 1 when a share has failures or --shares says one did not run', async () => {
  const partial = await hydrate(['report', 'merge', 'a.json', 'c.json', '--quiet'])
  assert.is(partial.code, 1)
  const merged = await printed(partial.stdout)
  assert.is(merged.status, 'partial')
  assert.is(merged.failures.count, a.failures.count + c.failures.count)
  assert.is(merged.source.failed, 1)
  assert.match(merged.failures.samples[0]!.message, /a\.ndjson:21/)
  assert.match(partial.stderr, /^PARTIAL/, 'the summary even with --quiet, as the main command does')
  const notRun = await hydrate(['report', 'merge', 'c.json', 'd.json', '--shares', '3'])
  assert.is(notRun.code, 1)
  assert.equal((await printed(notRun.stdout)).shares, { count: 3, done: 2, partial: 0, failed: 0, notRun: 1 })
})

test('reads a JSON array of reports, NDJSON of reports, and Lambda handler results { done, share, checkpoint, report }', async () => {
  await writeFile(path.join(tmp.dir, 'array.json'), JSON.stringify([c, d], null, 2))
  await writeFile(path.join(tmp.dir, 'runs.ndjson'), `${JSON.stringify(c)}\n\n${JSON.stringify(d)}\n`)
  const plan = planId('json:events/', 3)
  const wrapped = (report: RunReport, index: number) => ({ done: true, share: { plan, index, count: 3, source: 'json:events/', part: { files: [] } }, checkpoint: 'c.ckpt', report })
  await writeFile(path.join(tmp.dir, 'lambda.json'), JSON.stringify([wrapped(c, 0), wrapped(d, 2)]))
  for (const args of [['array.json'], ['runs.ndjson']]) {
    const r = await hydrate(['report', 'merge', ...args])
    assert.is(r.code, 0, `${args}: ${r.stderr}`)
    const merged = await printed(r.stdout)
    assert.is(merged.source.read, c.source.read + d.source.read, String(args))
  }
  const lambda = await hydrate(['report', 'merge', 'lambda.json'])
  assert.is(lambda.code, 1, lambda.stderr)
  const merged = await printed(lambda.stdout)
  assert.equal(merged.shares, { count: 3, done: 2, partial: 0, failed: 0, notRun: 1, plan }, 'the share of each result fills in its report')
})

test('exit 2 naming the file (and line) for a missing file, broken JSON, and a value that is not a report', async () => {
  await writeFile(path.join(tmp.dir, 'broken.json'), '{\n  "status": "ok",\n  "dryRun":')
  await writeFile(path.join(tmp.dir, 'broken.ndjson'), `${JSON.stringify(c)}\n{"status":\n`)
  await writeFile(path.join(tmp.dir, 'other.json'), JSON.stringify({ ...d, source: { uri: 'x', read: -1, failed: 0 } }))
  await writeFile(path.join(tmp.dir, 'empty.json'), '\n')
  // Hostile JSON: a failure key nested 100,000 deep parses, but would overflow the stack when printed.
  const deep = '['.repeat(100_000) + ']'.repeat(100_000)
  await writeFile(path.join(tmp.dir, 'deep.json'), JSON.stringify({ ...d, failures: { count: 1, samples: [{ stage: 'x', code: 'c', message: 'm', key: 0 }] } }).replace('"key":0', `"key":${deep}`))
  const cases: [string[], RegExp][] = [
    [['c.json', 'missing.json'], /^hydrate: ERR_FILE_NOT_FOUND: report merge: cannot find `missing\.json`\n$/],
    [['broken.json'], /^hydrate: ERR_INVALID_OPTION: report merge: broken\.json: not valid JSON: /],
    [['broken.ndjson'], /^hydrate: ERR_INVALID_OPTION: report merge: broken\.ndjson:2: not valid JSON: /],
    [['c.json', 'other.json'], /^hydrate: ERR_INVALID_OPTION: report merge: other\.json: not a run report .*\/source\/read/],
    [['empty.json'], /empty\.json: empty/],
    [['deep.json'], /deep\.json: not a run report: values nested more than 500 levels deep/],
    [['c.json', 'c.json'], /c\.json is the same run as c\.json.*given twice/],
    [['c.json', '--shares', '0'], /--shares: expected an integer >= 1, got `0`/],
  ]
  for (const [args, message] of cases) {
    const r = await hydrate(['report', 'merge', ...args])
    assert.is(r.code, 2, `${args}: ${r.stderr}`)
    assert.is(r.stdout, '', String(args))
    assert.match(r.stderr, message)
  }
  const none = await hydrate(['report'])
  assert.is(none.code, 2)
  assert.match(none.stderr, /needs a command: `merge <files\.\.>`/)
})

test('exit 2 for reports of different plans, naming the files', async () => {
  const share = (report: RunReport, plan: string, index: number) => JSON.stringify({ ...report, share: { plan, index, count: 2 } })
  await writeFile(path.join(tmp.dir, 'plans.ndjson'), `${share(c, 'planA', 0)}\n${share(d, 'planB', 1)}\n`)
  const r = await hydrate(['report', 'merge', 'plans.ndjson'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /ERR_SHARE_MISMATCH: plans\.ndjson:2 is a share of plan planB .* plans\.ndjson:1 one of plan planA/)
})

test('the installed command: a real process prints the merged report and exits with its code', async () => {
  const run = promisify(execFile)
  const { stdout } = await run(process.execPath, ['--import', tsxLoader, path.join(root, 'cli/main.ts'), 'report', 'merge', 'c.json', 'd.json', '--quiet'], { cwd: tmp.dir })
  assert.is((await printed(stdout)).status, 'ok')
  const failed = await run(process.execPath, ['--import', tsxLoader, path.join(root, 'cli/main.ts'), 'report', 'merge', 'a.json', 'nope.json'], { cwd: tmp.dir }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  )
  assert.is(failed.code, 2, 'a missing file is a usage error')
  assert.match(failed.stderr, /nope\.json/)
})

test.run()
