// Renaming a file over another one, as Windows allows it. A rename that replaces a file fails there
// with EPERM, EACCES or EBUSY while anything holds the target (or the source) open without sharing
// delete: a virus scanner or the search indexer looking at the file just written, a backup agent,
// an editor. Those holds last milliseconds, so the rename is tried again for a while, as
// graceful-fs does (graceful-fs stops when the target exists; the target existing is the point
// here). On other platforms these codes mean a real permission problem and fail at once.
import { renameSync } from 'node:fs'
import { rename } from 'node:fs/promises'

/** How {@link renameReplacing} retries. */
export interface RenameOptions {
  /** Retry EPERM, EACCES and EBUSY only on this platform's rules. @default process.platform */
  readonly platform?: NodeJS.Platform
  /** Give up after this many milliseconds of retries. @default 2000 (1000 for the sync form) */
  readonly budgetMs?: number
  /** The rename to try: `fs.promises.rename`, or one that injects faults in tests. @default fs.promises.rename */
  readonly rename?: (from: string, to: string) => Promise<void>
  /** The same, synchronously. @default fs.renameSync */
  readonly renameSync?: (from: string, to: string) => void
}

const TRANSIENT = new Set(['EPERM', 'EACCES', 'EBUSY'])

/** True for EPERM, EACCES or EBUSY on Windows: a file held by another process for a moment (a scanner, an indexer), which passes. */
export function isBusyOnWindows(error: unknown, platform: NodeJS.Platform = process.platform): boolean {
  return platform === 'win32' && TRANSIENT.has((error as NodeJS.ErrnoException | undefined)?.code ?? '')
}

/** Something to `Atomics.wait` on: a sleep that blocks the thread without spinning. */
const sleeper = new Int32Array(new SharedArrayBuffer(4))

/** Waits before try `n` (1-based): 10, 20, ... up to 100 ms, as graceful-fs does. */
const backoff = (n: number) => Math.min(n * 10, 100)

/**
 * Renames `from` to `to`, replacing `to` if it exists. On Windows, EPERM, EACCES and EBUSY (the
 * target or the source held open by another process for a moment) are retried with a growing wait
 * for up to `budgetMs`; the last error is thrown when they persist. Any other error, and any error
 * on another platform, is thrown at once.
 *
 * @example
 * await writeFile(`${file}.tmp`, text)
 * await renameReplacing(`${file}.tmp`, file)
 */
export async function renameReplacing(from: string, to: string, options: RenameOptions = {}): Promise<void> {
  const platform = options.platform ?? process.platform
  const doRename = options.rename ?? rename
  const deadline = Date.now() + (options.budgetMs ?? 2000)
  for (let attempt = 1; ; attempt++) {
    try {
      await doRename(from, to)
      return
    } catch (error) {
      if (!isBusyOnWindows(error, platform) || Date.now() >= deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, backoff(attempt)))
    }
  }
}

/**
 * {@link renameReplacing}, synchronously: the waits block the thread, so the budget is shorter
 * (a checkpoint written after every batch must be on disk before the next batch is sent).
 *
 * @example
 * renameReplacingSync(`${file}.tmp`, file)
 */
export function renameReplacingSync(from: string, to: string, options: RenameOptions = {}): void {
  const platform = options.platform ?? process.platform
  const doRename = options.renameSync ?? renameSync
  const deadline = Date.now() + (options.budgetMs ?? 1000)
  for (let attempt = 1; ; attempt++) {
    try {
      doRename(from, to)
      return
    } catch (error) {
      if (!isBusyOnWindows(error, platform) || Date.now() >= deadline) throw error
      Atomics.wait(sleeper, 0, 0, backoff(attempt))
    }
  }
}
