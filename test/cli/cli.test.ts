import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import type { RunReport } from '../../lib/report/report.js'
import { captured, events, ndjson, readableOf, tempDir } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('the hydrate CLI')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

async function hydrate(args: string[], { stdin = '', cwd = root, signal }: { stdin?: string; cwd?: string; signal?: AbortSignal } = {}) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(stdin), env: { ...process.env }, cwd, signal }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

test('runs the main job on the bundled examples: orders into an NDJSON file, exit 0', async () => {
  const out = `${tmp.dir}/orders.ndjson`
  const r = await hydrate(['--source', 'json:examples/events/events.ndjson', '--filter', 'examples/rules/orders.json', '--sink', `ndjson:${out}`, '--report', 'json'])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.status, 'ok')
  assert.is(report.source.read, 2000)
  const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.is(lines.length, report.sink.written)
  assert.ok(lines.every((e) => e.source === 'orders' && e['detail-type'] === 'OrderPlaced'))
  assert.is(report.filter.matched + report.filter.unmatched, 2000)
  assert.match(r.stderr, /OK in/)
})

test('reads a JSON array file, a folder of .event files and stdin by URI', async () => {
  for (const [source, n] of [['json:examples/events/array.json', 20], ['json:examples/events/folder/', 10]] as const) {
    const r = await hydrate(['--source', source, '--sink', `ndjson:${tmp.dir}/x.ndjson`, '--report', 'json'])
    assert.is(r.code, 0, r.stderr)
    assert.is((JSON.parse(r.stdout) as RunReport).source.read, n, source)
  }
  const piped = await hydrate(['--source', 'json:-', '--quiet'], { stdin: ndjson(events(4)) })
  assert.is(piped.code, 0, piped.stderr)
  assert.is(piped.stdout.trim().split('\n').length, 4)
  assert.is(piped.stderr, '')
})

test('several --filter flags mean any of them; inline JSON works', async () => {
  const r = await hydrate([
    '--source', 'json:examples/events/events.ndjson',
    '--filter', '{"detail-type":["OrderPlaced"]}',
    '--filter', '{"detail-type":["UserDeleted"]}',
    '--report', 'json', '--report-file', `${tmp.dir}/r.json`, '--sink', `ndjson:${tmp.dir}/y.ndjson`,
  ])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(await readFile(`${tmp.dir}/r.json`, 'utf8')) as RunReport
  const lines = (await readFile(`${tmp.dir}/y.ndjson`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.ok(lines.some((e) => e['detail-type'] === 'UserDeleted') && lines.some((e) => e['detail-type'] === 'OrderPlaced'))
  assert.is(lines.length, report.sink.written)
})

test('--report-file makes its folder; a report that cannot be written is said, the summary still shown, exit 1', async () => {
  const ok = await hydrate(['--source', 'json:examples/events/events.ndjson', '--sink', `ndjson:${tmp.dir}/rf.ndjson`, '--report-file', `${tmp.dir}/new/folder/r.json`])
  assert.is(ok.code, 0, ok.stderr)
  assert.is((JSON.parse(await readFile(`${tmp.dir}/new/folder/r.json`, 'utf8')) as RunReport).status, 'ok')
  await writeFile(`${tmp.dir}/a-file`, 'x')
  const lost = await hydrate(['--source', 'json:examples/events/events.ndjson', '--sink', `ndjson:${tmp.dir}/rf2.ndjson`, '--report-file', `${tmp.dir}/a-file/r.json`])
  assert.is(lost.code, 1)
  assert.match(lost.stderr, /cannot write the report to .*a-file\/r\.json/)
  assert.match(lost.stderr, /^OK in /m)
})

test('--dry-run writes nothing and shows previews; --limit stops early', async () => {
  const out = `${tmp.dir}/never.ndjson`
  const r = await hydrate(['--source', 'json:examples/events/events.ndjson', '--sink', `ndjson:${out}`, '--dry-run', '--limit', '7', '--report', 'json'])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.dryRun, true)
  assert.is(report.sink.written, 7)
  assert.is(report.sink.previews.length, 5)
  assert.ok(report.source.read <= 8)
  assert.not.ok(await readFile(out).then(() => true, () => false))
  assert.match(r.stderr, /dry run/)
})

test('exit 1 when some events failed, with file and line in the summary', async () => {
  const file = await tmp.file('bad.ndjson', ndjson(events(3)) + '{oops\n')
  const r = await hydrate(['--source', `json:${file}`, '--sink', `ndjson:${tmp.dir}/z.ndjson`], { cwd: tmp.dir })
  assert.is(r.code, 1)
  assert.match(r.stderr, /PARTIAL/)
  assert.match(r.stderr, /bad\.ndjson:4/)
})

test('--max-failures stops a failing run: exit 1, status failed', async () => {
  const file = await tmp.file('worse.ndjson', 'x\n'.repeat(50) + ndjson(events(3)))
  const r = await hydrate(['--source', `json:${file}`, '--sink', `ndjson:${tmp.dir}/w.ndjson`, '--max-failures', '3', '--report', 'json', '--report-file', `${tmp.dir}/mf.json`])
  assert.is(r.code, 1)
  const report = JSON.parse(await readFile(`${tmp.dir}/mf.json`, 'utf8')) as RunReport
  assert.is(report.status, 'failed')
})

test('exit 2 for usage and configuration errors, naming the bad value', async () => {
  const cases: [string[], RegExp][] = [
    [['--source', 'json:nope.ndjson'], /nope\.ndjson/],
    [['--source', 'jsno:examples/events/events.ndjson'], /unknown source scheme `jsno:`/],
    [['--source', 'no-scheme'], /not a URI/],
    [['--source', 'json:examples/events/events.ndjson', '--filter', '{"source":"orders"}'], /source/],
    [['--source', 'json:examples/events/events.ndjson', '--filter', 'missing-rule.json'], /missing-rule\.json/],
    [['--source', 'json:examples/events/events.ndjson', '--bogus-flag'], /bogus/i],
    [['--source', 'json:examples/events/events.ndjson', '--batch-size', '0'], /batch-size/],
    [['--source', 'json:examples/events/events.ndjson', '--report', 'json'], /report-file/],
    [['--source', 'json:examples/events/events.ndjson', '--plugin', './nope-plugin.mjs'], /nope-plugin/],
  ]
  for (const [args, message] of cases) {
    const r = await hydrate(args)
    assert.is(r.code, 2, `${args.join(' ')} -> ${r.stderr}`)
    assert.match(r.stderr, message)
  }
})

test('--rate paces any sink, not only Lambda', async () => {
  const out = `${tmp.dir}/paced.ndjson`
  const r = await hydrate(['--source', 'json:examples/events/events.ndjson', '--limit', '20', '--rate', '40/s', '--sink', `ndjson:${out}`, '--report', 'json'])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.sink.written, 20)
  assert.ok(report.stages.some((s) => s.name === 'rateStage' && s.in === 20 && s.out === 20), JSON.stringify(report.stages))
  // 20 events at 40 a second, one at a time: 19 gaps of 25 ms at least.
  assert.ok(report.durationMs >= 19 * 25 - 5, `took ${report.durationMs} ms`)
})

test('--rate leaves sinks that pace themselves alone: lambda-local, and plugins that say so', async () => {
  // A plugin sink that takes the rate itself and says so, and one that does not.
  const plugin = `${tmp.dir}/pacing-plugin.mjs`
  await writeFile(
    plugin,
    `import { collect, withSinkInfo } from ${JSON.stringify(path.join(root, 'lib/index.ts'))}
export const seen = []
export default {
  name: 'pacing',
  sinks: {
    selfpaced: (uri, context) => { seen.push(context.ratePerSecond); return withSinkInfo(collect(), { pacedPerSecond: context.ratePerSecond }) },
    plain: () => collect(),
  },
}
`,
  )
  const runWith = async (sink: string, extra: string[] = []) => {
    const r = await hydrate(['--plugin', plugin, '--source', 'json:examples/events/events.ndjson', '--limit', '10', '--rate', '1000/s', '--sink', sink, '--report', 'json', ...extra])
    assert.is(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as RunReport
  }
  const paced = (report: RunReport) => report.stages.some((s) => s.name === 'rateStage')
  assert.not.ok(paced(await runWith('selfpaced:')), 'a plugin sink with pacedPerSecond gets no rate stage')
  const { seen } = (await import(plugin)) as { seen: number[] }
  assert.equal(seen, [1000], 'it was given the rate')
  assert.ok(paced(await runWith('plain:')), 'a plugin sink without it is paced by the CLI')
  const local = await runWith(`lambda-local:${path.join(root, 'test/fixtures/handlers/recorder.mjs')}#handler`)
  assert.is(local.sink.written, 10)
  assert.not.ok(paced(local), 'lambda-local paces its calls itself')
})

test('an external plugin loaded with --plugin adds a sink scheme', async () => {
  const r = await hydrate(['--plugin', './examples/plugin/memory-plugin.mjs', '--source', 'json:examples/events/events.ndjson', '--sink', 'count:', '--report', 'json'])
  assert.is(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as RunReport
  assert.is(report.sink.uri, 'count:')
  assert.is(report.sink.written, 2000)
})

test('--transform maps events; --config holds the same options', async () => {
  const config = await tmp.file('hydrate.config.json', JSON.stringify({ source: 'json:examples/events/array.json', transform: './examples/transform.mjs', quiet: true }))
  const r = await hydrate(['--config', config])
  assert.is(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  assert.is(lines.length, 20)
  assert.ok(lines.every((e) => typeof e.detail.amountCents === 'number'))
})

test('--config takes an ES module (default export, or a function returning the options); flags win', async () => {
  await tmp.file('cfg/hydrate.config.mjs', "export default () => ({ source: 'json:examples/events/array.json', limit: 5, quiet: true })\n")
  const r = await hydrate(['--config', `${tmp.dir}/cfg/hydrate.config.mjs`, '--limit', '3'])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout.trim().split('\n').length, 3)
  const missing = await hydrate(['--config', 'no-such.config.json'])
  assert.is(missing.code, 2)
  assert.match(missing.stderr, /cannot find/)
})

test('an abort signal (SIGINT in the binary) ends with exit 130 and an aborted report', async () => {
  const controller = new AbortController()
  controller.abort()
  const r = await hydrate(['--source', 'json:examples/events/events.ndjson', '--sink', `ndjson:${tmp.dir}/ab.ndjson`], { signal: controller.signal })
  assert.is(r.code, 130)
  assert.match(r.stderr, /ABORTED/)
})

test('pattern check and pattern test', async () => {
  const ok = await hydrate(['pattern', 'check', 'examples/rules/orders.json'])
  assert.is(ok.code, 0)
  const bad = await hydrate(['pattern', 'check', '{"detail":{"amount":[{"numeric":[">","x"]}]}}'])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, /detail\.amount/)
  const rule = await tmp.file('rule.json', '{"source":["orders"]}')
  const evs = await tmp.file('evs.ndjson', ndjson([{ source: 'orders' }, { source: 'users' }]))
  const t = await hydrate(['pattern', 'test', rule, evs])
  assert.is(t.code, 0)
  assert.match(t.stdout, /^match {3}.*evs\.ndjson:1\nno-match .*evs\.ndjson:2\n$/)
  const one = await tmp.file('one.json', JSON.stringify({ source: 'users', detail: {} }, null, 2))
  const t2 = await hydrate(['pattern', 'test', rule, one])
  assert.is(t2.code, 1)
  assert.match(t2.stdout, /no-match/)
})

test('--help lists the options', async () => {
  const r = await hydrate(['--help'])
  assert.is(r.code, 0)
  for (const flag of ['--source', '--sink', '--filter', '--dry-run', '--report', '--column', '--key', '--version-column', '--delete-when', '--plugin']) {
    assert.match(r.stdout, flag)
  }
})

test('the real binary exits 130 on SIGINT and still prints its report', async () => {
  const big = await tmp.file('big.ndjson', ndjson(events(200000)))
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', '--source', `json:${big}`, '--sink', `ndjson:${tmp.dir}/sig.ndjson`, '--report', 'json', '--report-file', `${tmp.dir}/sig.json`], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  // Signal once the run is writing (or give up waiting after 10 s).
  const { stat } = await import('node:fs/promises')
  for (let i = 0; i < 500 && child.exitCode === null; i++) {
    const size = await stat(`${tmp.dir}/sig.ndjson`).then((s) => s.size, () => 0)
    if (size > 0) break
    await new Promise((r) => setTimeout(r, 20))
  }
  child.kill('SIGINT')
  const code = await exited
  const report = JSON.parse(await readFile(`${tmp.dir}/sig.json`, 'utf8')) as RunReport
  if (report.status === 'ok') {
    // The machine was fast enough to finish before the signal: nothing to interrupt.
    assert.is(code, 0)
    return
  }
  assert.is(code, 130, stderr)
  assert.is(report.status, 'aborted')
  const written = (await readFile(`${tmp.dir}/sig.ndjson`, 'utf8')).trim().split('\n').filter(Boolean).length
  assert.is(written, report.sink.written)
  assert.is(report.filter.matched, report.sink.written + report.sink.failed + report.sink.skipped)
})

test.run()
void writeFile
