// What a new user ran into, each pinned by a test: a pipe into `head`, `--version` in their own
// project, `pattern test` on a folder or a URI, typos in flags and commands, the ETA of the first
// progress ticks, the name of a plugin sink in the summary.
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import { eta } from '../../cli/progress.js'
import { formatReport } from '../../lib/report/format.js'
import type { RunReport } from '../../lib/report/report.js'
import { captured, events, ndjson, readableOf, tempDir } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('papercuts')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

async function hydrate(args: string[], cwd = root) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: { ...process.env }, cwd }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

/** The real binary in a shell pipeline; resolves with its exit status (not head's) and stderr. */
async function piped(args: string, into: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const script = `"${process.execPath}" --import tsx "${root}/cli/main.ts" ${args} 2>"${tmp.dir}/stderr.txt" | ${into}; echo "status:\${PIPESTATUS[0]}"`
  const { stdout } = await promisify(execFile)('bash', ['-c', script], { cwd: root, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } })
  const status = Number(/status:(\d+)\s*$/.exec(stdout)![1])
  return { status, stdout: stdout.replace(/status:\d+\s*$/, ''), stderr: await readFile(`${tmp.dir}/stderr.txt`, 'utf8') }
}

test('hydrate ... | head -1 stops quietly (exit 141), and the report says what the pipe took', async () => {
  const big = await tmp.file('pipe.ndjson', ndjson(events(50_000)))
  const reportFile = `${tmp.dir}/pipe-report.json`
  const r = await piped(`--source json:${big} --report-file ${reportFile}`, 'head -1')
  assert.is(r.status, 141, r.stderr)
  assert.is(r.stdout.trim().split('\n').length, 1)
  assert.not.match(r.stderr, /EPIPE|\n\s+at /, 'no stack trace, no EPIPE noise')
  const report = JSON.parse(await readFile(reportFile, 'utf8')) as RunReport
  assert.ok(report.sink.written >= 1, 'the line head printed was written')
  assert.ok(report.sink.written < 50_000)
  // Every event read is accounted for: written, or failed because the output closed.
  assert.is(report.filter.matched, report.sink.written + report.sink.failed + report.sink.skipped)
  assert.ok(report.failures.samples.every((f) => f.code === 'ERR_OUTPUT' || f.code === 'ERR_NOT_HANDLED'))
})

test('hydrate pattern test ... | head -3 stops quietly too', async () => {
  const evs = await tmp.file('pattern-pipe.ndjson', ndjson(events(50_000, (i) => ({ source: i % 2 ? 'orders' : 'users' }))))
  const r = await piped(`pattern test '{"source":["orders"]}' ${evs}`, 'head -3')
  assert.is(r.status, 141, r.stderr)
  assert.is(r.stdout.trim().split('\n').length, 3)
  assert.not.match(r.stderr, /EPIPE|\n\s+at /)
})

test("--version prints event-hydrator's version, not the one of the project it runs in", async () => {
  const own = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string }
  const project = path.join(tmp.dir, 'my-project')
  await mkdir(project, { recursive: true })
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'my-project', version: '1.0.0' }))
  const r = await hydrate(['--version'], project)
  assert.is(r.code, 0)
  assert.is(r.stdout.trim(), own.version)
  assert.is.not(own.version, '1.0.0')
})

test('pattern test reads a folder, a glob and a URI, and --matches-only prints only the matches', async () => {
  const folder = path.join(tmp.dir, 'folder')
  await mkdir(folder, { recursive: true })
  await writeFile(path.join(folder, 'a.ndjson'), ndjson([{ source: 'orders' }, { source: 'users' }]))
  await writeFile(path.join(folder, 'b.ndjson'), ndjson([{ source: 'users' }, { source: 'orders' }]))
  const rule = '{"source":["orders"]}'
  for (const events of [`${folder}/`, folder, `${folder}/*.ndjson`, `json:${folder}/`]) {
    const r = await hydrate(['pattern', 'test', rule, events])
    assert.is(r.code, 0, `${events}: ${r.stderr}`)
    assert.is(r.stdout.split('\n').filter(Boolean).length, 4, events)
    assert.match(r.stderr, /2 of 4 events match/)
  }
  const only = await hydrate(['pattern', 'test', '--matches-only', rule, folder])
  assert.is(only.code, 0)
  assert.equal(
    only.stdout.trim().split('\n').map((l) => l.replace(/^match\s+.*\//, '')),
    ['a.ndjson:1', 'b.ndjson:2'],
  )
  const none = await hydrate(['pattern', 'test', '--matches-only', '{"source":["nobody"]}', folder])
  assert.is(none.code, 1)
  assert.is(none.stdout, '')
  const missing = await hydrate(['pattern', 'test', rule, `${tmp.dir}/nowhere/`])
  assert.is(missing.code, 2)
  assert.match(missing.stderr, /ERR_FILE_NOT_FOUND/)
  assert.not.match(missing.stderr, /EISDIR|\n\s+at /)
})

test('a mistyped flag or command gets a suggestion; `pattern` alone lists its commands', async () => {
  const flag = await hydrate(['--sorce', 'json:x.ndjson'])
  assert.is(flag.code, 2)
  assert.match(flag.stderr, /--sorce/)
  assert.match(flag.stderr, /did you mean --source\?/)
  const command = await hydrate(['pattern', 'chek', 'rule.json'])
  assert.is(command.code, 2)
  assert.match(command.stderr, /did you mean check\?/i)
  const bare = await hydrate(['pattern'])
  assert.is(bare.code, 2)
  assert.match(bare.stderr, /check <pattern>/)
  assert.match(bare.stderr, /test <pattern> <events>/)
})

test('the ETA waits for 3 s and 1% of the input before it guesses', () => {
  assert.is(eta({ elapsedMs: 200, bytesRead: 22 }, 100), '--', 'the first tick: no ETA 0s')
  assert.is(eta({ elapsedMs: 5000, bytesRead: 0 }, 1000), '--')
  assert.is(eta({ elapsedMs: 5000, bytesRead: 500 }, 1000), '5s')
  assert.is(eta({ elapsedMs: 60_000, bytesRead: 250 }, 1000), '3m0s')
  assert.is(eta({ elapsedMs: 10_000, bytesRead: 10 }, 0), '--', 'no size, no ETA')
})

test('a plugin sink whose URI is its bare scheme is shown as `count:`, not `count::`', () => {
  const report = {
    status: 'ok', dryRun: false, startedAt: '', finishedAt: '', durationMs: 1, eventsPerSecond: 1,
    source: { uri: 'events.ndjson', read: 1, failed: 0 },
    filter: { matched: 1, unmatched: 0 },
    sink: { uri: 'count:', received: 1, written: 1, skipped: 0, failed: 0, deleted: 0, previews: [], retries: {}, skippedBy: {} },
    failures: { count: 0, samples: [] },
    stages: [],
  } as unknown as RunReport
  const text = formatReport(report)
  assert.match(text, /sink {5}count: 1 written/)
  assert.not.match(text, /count::/)
  assert.match(text, /source {3}events\.ndjson: 1 read/)
})

test.run()
