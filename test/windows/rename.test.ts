// Renaming a checkpoint over the old one while something holds it: Windows refuses such a rename
// for as long as another process (a virus scanner, the indexer) has the file open, with EPERM,
// EACCES or EBUSY. The rename is retried there. Here the refusal is made for real: on Linux with
// the immutable attribute (rename over it fails with EPERM until it is cleared; needs root and
// chattr, else those tests are left out), on Windows by holding the file open with no sharing.
import { spawnSync } from 'node:child_process'
import { renameSync, rename as renameCallback } from 'node:fs'
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { writeCheckpoint, writeCheckpointSync, type Checkpoint } from '../../lib/checkpoint/record.js'
import { isBusyOnWindows, renameReplacing, renameReplacingSync } from '../../lib/util/rename.js'
import { tempDir } from '../helpers.js'

const test = suite('windows: renames over a file held by another process')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-rename-')
})
test.after(async () => {
  if (canChattr) for (const name of await readdir(tmp.dir)) spawnSync('chattr', ['-i', path.join(tmp.dir, name)])
  await tmp.cleanup()
})

let n = 0
/** A target file holding `old`, and a temp file beside it holding `new`. */
async function pair(): Promise<{ from: string; to: string }> {
  const to = path.join(tmp.dir, `ckpt-${++n}.json`)
  await writeFile(to, 'old')
  await writeFile(`${to}.tmp`, 'new')
  return { from: `${to}.tmp`, to }
}

const checkpointOf = (read: number, complete = false): Checkpoint => ({
  version: 1,
  identity: { source: 'json:in.ndjson', filter: '', sink: 'ndjson:out.ndjson' },
  complete,
  totals: { read, matched: read, unmatched: 0, written: read, skipped: 0, failed: 0, sourceFailed: 0 },
  updatedAt: new Date().toISOString(),
})

const errno = (code: string) => Object.assign(new Error(`${code}: operation not permitted, rename`), { code })

/**
 * The real fs.rename, refused with `code` for the first `times` calls (what Windows answers while a
 * scanner holds the file); every call after that renames for real.
 */
function refusing(code: string, times: number) {
  let calls = 0
  return {
    calls: () => calls,
    async rename(from: string, to: string) {
      if (++calls <= times) throw errno(code)
      await rename(from, to)
    },
  }
}

test('on Windows rules, EPERM, EACCES and EBUSY are retried until the rename goes through', async () => {
  for (const code of ['EPERM', 'EACCES', 'EBUSY']) {
    const { from, to } = await pair()
    const flaky = refusing(code, 3)
    await renameReplacing(from, to, { platform: 'win32', rename: flaky.rename })
    assert.is(flaky.calls(), 4)
    assert.is(await readFile(to, 'utf8'), 'new')
  }
  assert.ok(isBusyOnWindows(errno('EBUSY'), 'win32'))
  assert.not.ok(isBusyOnWindows(errno('EBUSY'), 'linux'))
  assert.not.ok(isBusyOnWindows(errno('ENOENT'), 'win32'))
})

test('elsewhere, and for other codes, the first error is thrown at once', async () => {
  const { from, to } = await pair()
  const flaky = refusing('EPERM', 1)
  const error = await renameReplacing(from, to, { platform: 'linux', rename: flaky.rename }).then(() => undefined, (e: unknown) => e)
  assert.is((error as NodeJS.ErrnoException).code, 'EPERM')
  assert.is(flaky.calls(), 1)
  const missing = await renameReplacing(path.join(tmp.dir, 'no-such'), to, { platform: 'win32' }).then(() => undefined, (e: unknown) => e)
  assert.is((missing as NodeJS.ErrnoException).code, 'ENOENT')
  assert.is(await readFile(to, 'utf8'), 'old')
})

test('a refusal that lasts past the budget throws the last error; the sync form waits without spinning', async () => {
  const { from, to } = await pair()
  const started = Date.now()
  const error = await renameReplacing(from, to, { platform: 'win32', budgetMs: 150, rename: refusing('EBUSY', Infinity).rename }).then(() => undefined, (e: unknown) => e)
  assert.is((error as NodeJS.ErrnoException).code, 'EBUSY')
  assert.ok(Date.now() - started >= 150 && Date.now() - started < 1500, `${Date.now() - started} ms`)
  let calls = 0
  const t0 = Date.now()
  renameReplacingSync(from, to, {
    platform: 'win32',
    renameSync: (a, b) => {
      if (++calls <= 4) throw errno('EACCES')
      renameSync(a, b)
    },
  })
  assert.is(calls, 5)
  // 10 + 20 + 30 + 40 ms of waits between the five tries.
  assert.ok(Date.now() - t0 >= 100, `${Date.now() - t0} ms`)
  assert.is(await readFile(to, 'utf8'), 'new')
})

test('a checkpoint write whose rename fails for good leaves the old checkpoint and no temporary file', async () => {
  const dir = path.join(tmp.dir, 'held')
  await mkdir(dir)
  // A folder where the checkpoint should be: no rename can replace it, on any platform.
  const file = path.join(dir, 'run.ckpt')
  await mkdir(file)
  const checkpoint = checkpointOf(1)
  const failed = await writeCheckpoint(file, checkpoint).then(() => undefined, (e: unknown) => e)
  assert.ok(failed, 'the async write fails')
  assert.throws(() => writeCheckpointSync(file, checkpoint))
  assert.equal(await readdir(dir), ['run.ckpt'])
})

const canChattr = process.platform === 'linux' && (() => {
  const probe = path.join(process.env.TMPDIR ?? '/tmp', `eh-chattr-${process.pid}`)
  spawnSync('sh', ['-c', `: > '${probe}'`])
  const ok = spawnSync('chattr', ['+i', probe]).status === 0
  spawnSync('chattr', ['-i', probe])
  spawnSync('rm', ['-f', probe])
  return ok
})()

if (canChattr) {
  test('Linux, for real: a checkpoint held immutable for 150 ms is replaced once it is released (win32 rules), refused at once otherwise', async () => {
    const { from, to } = await pair()
    assert.is(spawnSync('chattr', ['+i', to]).status, 0)
    const refused = await promisify(renameCallback)(from, to).then(() => undefined, (e: unknown) => e)
    assert.is((refused as NodeJS.ErrnoException).code, 'EPERM', 'the immutable file cannot be replaced')
    const linux = await renameReplacing(from, to, { platform: 'linux' }).then(() => undefined, (e: unknown) => e)
    assert.is((linux as NodeJS.ErrnoException).code, 'EPERM')
    const release = setTimeout(() => spawnSync('chattr', ['-i', to]), 150)
    const started = Date.now()
    await renameReplacing(from, to, { platform: 'win32' })
    clearTimeout(release)
    assert.ok(Date.now() - started >= 140, 'it waited for the release')
    assert.is(await readFile(to, 'utf8'), 'new')
  })
}

if (process.platform === 'win32') {
  /**
   * Another process opens `file` with no sharing (libuv's UV_FS_O_EXLOCK, as a scanner or a backup
   * agent may) and holds it for `ms`; resolves once it holds it.
   */
  async function holdOpen(file: string, ms: number): Promise<Promise<void>> {
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, ['-e', `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(file)}, fs.constants.O_RDONLY | 0x10000000); console.log('held'); setTimeout(() => fs.closeSync(fd), ${ms})`], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve())
      child.once('exit', (code) => reject(new Error(`the holder exited with ${code} before holding the file`)))
    })
    return new Promise((resolve) => child.once('exit', () => resolve()))
  }

  test('Windows, for real: a checkpoint held open by another process without sharing is replaced once it is closed', async () => {
    const file = path.join(tmp.dir, 'win-held.ckpt')
    await writeFile(file, 'old')
    await writeFile(`${file}.x`, 'new')
    let released = await holdOpen(file, 300)
    const refused = await promisify(renameCallback)(`${file}.x`, file).then(() => undefined, (e: unknown) => e)
    assert.ok(isBusyOnWindows(refused), `a held file cannot be replaced: ${String(refused)}`)
    await writeCheckpoint(file, checkpointOf(2))
    assert.match(await readFile(file, 'utf8'), '"read": 2')
    await released
    released = await holdOpen(file, 300)
    writeCheckpointSync(file, checkpointOf(3, true))
    assert.match(await readFile(file, 'utf8'), '"complete": true')
    await released
  })
}

test.run()
