// The packed tarball, made once per test run: `npm pack` runs prepack (tsup: the library, its type
// declarations, the bundled CLI), which takes most of a minute, so the test files that install
// what users install (test/cli/pack.test.ts, test/install/*.test.ts) share one.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const run = promisify(execFile)

/** The tarball `npm pack` made, and what the pack printed (the build's log). */
export interface Packed {
  readonly tarball: string
  readonly output: string
  readonly version: string
}

let packing: Promise<Packed> | undefined
let dir: string | undefined
process.once('exit', () => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Packs the repository once (`npm pack --foreground-scripts`) and resolves with the tarball. */
export function packOnce(): Promise<Packed> {
  packing ??= (async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'eh-packed-'))
    const { stdout, stderr } = await run('npm', ['pack', '--foreground-scripts', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, npm_config_loglevel: 'error' },
      // npm is npm.cmd on Windows: through a shell there.
      shell: process.platform === 'win32',
    })
    const file = readdirSync(dir).find((f) => f.endsWith('.tgz'))
    if (!file) throw new Error(`npm pack made no tarball:\n${stdout}\n${stderr}`)
    const version = /^event-hydrator-(.+)\.tgz$/.exec(file)![1]!
    return { tarball: path.join(dir, file), output: (stdout + stderr).replace(/\x1b\[[0-9;]*m/g, ''), version }
  })()
  return packing
}

/** A PATH without any folder holding a `node` (or `npm`): what a machine without Node has. */
export function pathWithoutNode(PATH = process.env.PATH ?? ''): string {
  return PATH.split(path.delimiter)
    .filter((d) => d && !['node', 'node.exe', 'npm'].some((f) => existsSync(path.join(d, f))))
    .join(path.delimiter)
}
