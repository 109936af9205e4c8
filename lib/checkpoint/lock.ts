import { randomBytes } from 'node:crypto'
import { readFileSync, unlinkSync } from 'node:fs'
import { open, readFile, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { HydratorError, errorMessage } from '../errors.js'
import { isBusyOnWindows, renameReplacing } from '../util/rename.js'

/** Who holds a checkpoint: written into `<checkpoint>.lock`. */
export interface LockHolder {
  readonly pid: number
  readonly host: string
  readonly token: string
  readonly since: string
}

/** A checkpoint held by this process. */
export interface CheckpointLock {
  readonly file: string
  readonly holder: LockHolder
  /** Throws ERR_CHECKPOINT_LOCKED when the lock file no longer names this holder (taken over). */
  verify(): Promise<void>
  /** The same, synchronously. */
  verifySync(): void
  /** Removes the lock file if it is still ours; safe to call twice. */
  release(): Promise<void>
  /** The same, synchronously, for `process.on('exit')`. */
  releaseSync(): void
}

function lockFileOf(checkpoint: string): string {
  return `${checkpoint}.lock`
}

/** True while a process of this machine with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string') return h as LockHolder
  } catch {
    // a torn or foreign file: treated as held, never taken over silently
  }
  return undefined
}

/**
 * Takes the lock of a checkpoint file, so only one run uses it at a time: `<checkpoint>.lock` is
 * created atomically (O_EXCL) with this process's pid, host and a random token. A lock left by a
 * process that is gone (same host, pid no longer alive) is stale and taken over; a lock held by a
 * live process, or by another host (whose processes cannot be checked), throws
 * ERR_CHECKPOINT_LOCKED saying who holds it and since when.
 *
 * @example
 * const lock = await lockCheckpoint('run.ckpt')
 * try { ... } finally { await lock.release() }
 */
export async function lockCheckpoint(checkpoint: string): Promise<CheckpointLock> {
  const file = lockFileOf(checkpoint)
  const holder: LockHolder = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex'), since: new Date().toISOString() }
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(file, 'wx')
      try {
        await handle.writeFile(JSON.stringify(holder) + '\n')
      } finally {
        await handle.close()
      }
      return held(file, holder)
    } catch (error) {
      // Windows: a lock file removed while another process still had it open stays "delete
      // pending" for a moment, and creating it again fails with EPERM: try again shortly.
      if (isBusyOnWindows(error) && attempt < 4) {
        await new Promise((r) => setTimeout(r, 20 * (attempt + 1)))
        continue
      }
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new HydratorError('ERR_FILE_NOT_FOUND', `--checkpoint: cannot create the lock file \`${file}\`: ${errorMessage(error)}`, { cause: error })
      }
    }
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      continue // released meanwhile: try again
    }
    const other = parseHolder(text)
    // A lock being written this very moment reads empty: give it a moment.
    if (!other && text.trim() === '' && attempt < 4) {
      await new Promise((r) => setTimeout(r, 20))
      continue
    }
    if (!other || other.host !== holder.host || isAlive(other.pid)) throw lockedError(checkpoint, file, other)
    // Stale: move it aside under a name of its own, and check that what was moved is the stale lock
    // read above (another run may have taken it over meanwhile; then put that one back).
    const aside = `${file}.stale-${holder.token}`
    try {
      await renameReplacing(file, aside, { budgetMs: 500 })
    } catch {
      continue
    }
    const moved = parseHolder(await readFile(aside, 'utf8').catch(() => ''))
    if (moved?.token === other.token) {
      await unlink(aside).catch(() => {})
      continue
    }
    await renameReplacing(aside, file, { budgetMs: 500 }).catch(() => {})
  }
  throw lockedError(checkpoint, file, undefined)
}

function lockedError(checkpoint: string, file: string, other: LockHolder | undefined): HydratorError {
  const who = other ? `process ${other.pid} on ${other.host} since ${other.since}` : 'another run (its lock file cannot be read)'
  return new HydratorError(
    'ERR_CHECKPOINT_LOCKED',
    `--checkpoint ${checkpoint} is in use by ${who}: only one run may use a checkpoint at a time. ` +
      `Wait for it to end; if that run is gone (another machine, a container), delete \`${file}\`.`,
  )
}

function held(file: string, holder: LockHolder): CheckpointLock {
  let released = false
  const ours = (text: string) => parseHolder(text)?.token === holder.token
  const check = (text: string) => {
    if (ours(text)) return
    const other = parseHolder(text)
    throw new HydratorError(
      'ERR_CHECKPOINT_LOCKED',
      `lost the lock of the checkpoint (\`${file}\`)${other ? `: process ${other.pid} on ${other.host} took it over at ${other.since}` : ': the lock file was removed'}; stopping so that two runs never write it`,
    )
  }
  return {
    file,
    holder,
    async verify() {
      if (released) return
      check(await readFile(file, 'utf8').catch(() => ''))
    },
    verifySync() {
      if (released) return
      let text = ''
      try {
        text = readFileSync(file, 'utf8')
      } catch {
        // removed: not ours any more
      }
      check(text)
    },
    async release() {
      if (released) return
      released = true
      const text = await readFile(file, 'utf8').catch(() => '')
      if (ours(text)) await unlink(file).catch(() => {})
    },
    releaseSync() {
      if (released) return
      released = true
      try {
        if (ours(readFileSync(file, 'utf8'))) unlinkSync(file)
      } catch {
        // already gone
      }
    },
  }
}
