// Stopping on SIGINT alone. Windows has no SIGTERM to receive (`process.kill(pid, 'SIGTERM')` ends a
// process there at once, with no handler called), so a run must stop cleanly on Ctrl-C (SIGINT),
// and on Ctrl-Break (SIGBREAK) and a closed console (SIGHUP) where Windows sends them. Node cannot
// send a console signal to another process on Windows: there the child tests emit the signal
// inside the child (the handlers run as for a real one); on POSIX the parent sends a real SIGINT.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { endBySignal, signalExitCode, stopSignals } from '../../lib/util/signals.js'
import { events, ndjson, tempDir } from '../helpers.js'
import { hydrateChild, killLeftovers, runChild } from '../faults/cli-child.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('windows: stopping on SIGINT alone, SIGBREAK and SIGHUP')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-signals-')
})
test.after(async () => {
  await killLeftovers()
  await tmp.cleanup()
})

test('the stop signals per platform, and the exit codes a shell reports for them', () => {
  assert.equal(stopSignals('linux'), ['SIGINT', 'SIGTERM'])
  assert.equal(stopSignals('darwin'), ['SIGINT', 'SIGTERM'])
  assert.equal(stopSignals('win32'), ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP'])
  assert.is(signalExitCode('SIGINT'), 130)
  assert.is(signalExitCode('SIGTERM'), 143)
  assert.is(signalExitCode('SIGBREAK'), 149)
  assert.is(signalExitCode('SIGHUP'), 129)
  // Importing it keeps the type honest: `endBySignal` is what a handler calls last.
  assert.type(endBySignal, 'function')
})

/** Runs `code` (an ES module body, with `lib` the library's folder as a file URL) in a child Node. */
function child(code: string): { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; lines: string[]; proc: ReturnType<typeof spawn> } {
  const lib = pathToFileURL(path.join(root, 'lib')).href
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const lib = ${JSON.stringify(lib)};\n${code}`], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })))
  return { exited, lines, proc }
}

const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 1000; i++) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

test('endBySignal on Windows exits with 128 + the signal number (SIGBREAK cannot be raised there)', async () => {
  const run = child(`const { endBySignal } = await import(lib + '/util/signals.ts'); endBySignal('SIGBREAK', 'win32')`)
  const { code, signal } = await run.exited
  assert.is(signal, null)
  assert.is(code, 149)
})

const spillChild = (extraListener: boolean, signal: NodeJS.Signals) => `
  const { SpillFolder } = await import(lib + '/sort/spill.ts')
  const folder = new SpillFolder(${JSON.stringify(tmp.dir)})
  ${extraListener ? `process.on(${JSON.stringify(signal)}, () => { console.log('graceful stop'); setTimeout(async () => { console.log('still ' + require('fs').existsSync(folder.dir)); await folder.remove(); console.log('removed'); process.exit(0) }, 50) })` : ''}
  const run = await folder.create()
  await run.close()
  console.log('dir ' + folder.dir)
  ${process.platform === 'win32' ? `setTimeout(() => process.emit(${JSON.stringify(signal)}, ${JSON.stringify(signal)}), 50)` : ''}
  setInterval(() => {}, 1000)
`.replace('require(\'fs\')', '(await import(\'node:fs\'))')

const winOrPosix = process.platform === 'win32' ? (['SIGINT', 'SIGBREAK'] as const) : (['SIGINT', 'SIGTERM'] as const)

for (const signal of winOrPosix) {
  test(`a sort's spill folder alone on ${signal}: the folder is removed and the process ends as ${signal} would end it`, async () => {
    const run = child(spillChild(false, signal))
    await until(() => run.lines.some((l) => l.startsWith('dir ')), 'the spill folder')
    const dir = run.lines.find((l) => l.startsWith('dir '))!.slice(4)
    assert.ok(existsSync(dir))
    if (process.platform !== 'win32') run.proc.kill(signal)
    const { code, signal: ended } = await run.exited
    if (process.platform === 'win32') assert.is(code, signalExitCode(signal))
    else assert.is(ended, signal, `ended by ${signal}, as without a handler (code ${code})`)
    assert.not.ok(existsSync(dir), 'the spill folder was removed')
  })
}

test('with a graceful handler beside it, the spill folder stays until the sort removes it', async () => {
  const run = child(spillChild(true, 'SIGINT'))
  await until(() => run.lines.some((l) => l.startsWith('dir ')), 'the spill folder')
  const dir = run.lines.find((l) => l.startsWith('dir '))!.slice(4)
  if (process.platform !== 'win32') run.proc.kill('SIGINT')
  const { code } = await run.exited
  assert.is(code, 0)
  assert.equal(run.lines.slice(1), ['graceful stop', 'still true', 'removed'], 'the merge may still read its runs after the signal')
  assert.not.ok(existsSync(dir))
})

// --- The CLI on SIGINT alone: a sorted run with a checkpoint stops cleanly and resumes exactly ---

if (process.platform !== 'win32') {
  const COUNT = 60_000
  let input: string
  let spill: string
  let expected: string
  const args = (out: string, ck: string) => [
    '--source', `json:${input}`, '--order-by', 'detail.seq,id', '--sort-memory', '2MB', '--temp-dir', spill,
    '--sink', `ndjson:${out}`, '--checkpoint', ck, '--checkpoint-interval', '50', '--batch-size', '500',
  ]
  const size = (file: string) => stat(file).then((s) => s.size, () => 0)
  const spilledRuns = async () => {
    for (const dir of await readdir(spill)) if ((await readdir(path.join(spill, dir)).catch(() => [])).length > 1) return true
    return false
  }

  test('CLI: SIGINT alone while sorting and while writing: exit 130, no lock, no spill folder, the resume ends byte-identical', async () => {
    spill = path.join(tmp.dir, 'spill')
    await mkdir(spill)
    input = await tmp.file('in.ndjson', ndjson(events(COUNT, (i) => ({ detail: { seq: (i * 7919) % (COUNT / 2) }, pad: 'x'.repeat(i % 40) }))))
    const clean = path.join(tmp.dir, 'clean.ndjson')
    assert.is(await hydrateChild(args(clean, path.join(tmp.dir, 'clean.ckpt'))), 0)
    expected = await readFile(clean, 'utf8')
    for (const [label, underWay] of [['sorting', spilledRuns], ['writing', async () => (await size(out('writing'))) > expected.length * 0.3]] as const) {
      const ck = path.join(tmp.dir, `${label}.ckpt`)
      const first = await runChild(args(out(label), ck), { underWay, send: 'SIGINT' })
      assert.ok(first.signalled, `${label}: the signal came while the run was under way`)
      assert.is(first.code, 130, `${label}: ${first.stderr}`)
      assert.not.ok(existsSync(`${ck}.lock`), `${label}: the lock is released`)
      assert.equal(await readdir(spill), [], `${label}: the spill folder is removed`)
      assert.ok(existsSync(ck), `${label}: the checkpoint is saved`)
      if (label === 'writing') assert.ok(JSON.parse(await readFile(ck, 'utf8')).position, 'the checkpoint marks what was written')
      const second = await runChild(args(out(label), ck))
      assert.is(second.code, 0, second.stderr)
      assert.ok((await readFile(out(label), 'utf8')) === expected, `${label}: byte-identical to the clean run`)
      assert.equal(await readdir(spill), [])
    }
  })
  const out = (label: string) => path.join(tmp.dir, `${label}.ndjson`)
}

test.run()
