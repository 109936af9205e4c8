// The temporary folder of one sort: sorted runs written as lines, read back in bounded chunks, and
// removed at the end, on failure, on an abort and on SIGINT/SIGTERM or process.exit.
import { rmSync } from 'node:fs'
import { mkdtemp, open, readdir, rm, statfs, type FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { HydratorError, errorMessage } from '../errors.js'

/** What `fs.statfs` answers, as far as the free-space check needs it. */
export interface FreeSpace {
  readonly bavail: number | bigint
  readonly bsize: number | bigint
}

/** Free-space lookup, injectable for tests. @default fs.promises.statfs */
export type StatFs = (dir: string) => Promise<FreeSpace>

const PREFIX = 'event-hydrator-sort-'
const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 40)
const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * One sort's folder under `parent`: created on the first spill, removed by {@link remove} (also
 * synchronously on process exit and on a SIGINT/SIGTERM nobody else handles). Folders left by a
 * process that was killed (SIGKILL) on this host are removed when the next sort starts.
 */
export class SpillFolder {
  #dir: string | undefined
  #runs = 0
  readonly #exit = () => this.#removeSync()
  readonly #signal = (signal: NodeJS.Signals) => {
    this.#removeSync()
    // Only ours were listening: the default action (ending the process) is what the user asked for.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }

  constructor(
    readonly parent: string,
    readonly statFs: StatFs = statfs,
  ) {}

  get dir(): string | undefined {
    return this.#dir
  }

  /** Sorted runs written so far. */
  get runs(): number {
    return this.#runs
  }

  /**
   * Fails with ERR_SORT_SPACE when `parent` has less than `needBytes` free, naming both numbers;
   * ERR_FILE_NOT_FOUND when it is not a folder.
   */
  async checkSpace(needBytes: number): Promise<void> {
    let free: number
    try {
      const s = await this.statFs(this.parent)
      free = Number(s.bavail) * Number(s.bsize)
    } catch (error) {
      throw new HydratorError('ERR_FILE_NOT_FOUND', `--temp-dir ${this.parent}: ${errorMessage(error)}`, { cause: error })
    }
    if (free < needBytes) {
      throw new HydratorError(
        'ERR_SORT_SPACE',
        `--temp-dir ${this.parent} has ${mb(free)} free; sorting this source needs about ${mb(needBytes)} of sorted runs: free some space, give --temp-dir on a bigger disk, or raise --sort-memory if the source fits in memory`,
      )
    }
  }

  /** A new run file, its lines written in order; the folder is made on the first. */
  async create(): Promise<RunWriter> {
    if (!this.#dir) {
      await sweepStale(this.parent)
      this.#dir = await mkdtemp(path.join(this.parent, `${PREFIX}${host}-${process.pid}-`))
      process.once('exit', this.#exit)
      process.on('SIGINT', this.#signal)
      process.on('SIGTERM', this.#signal)
    }
    const file = path.join(this.#dir, `run-${String(this.#runs++).padStart(6, '0')}`)
    return new RunWriter(file, await open(file, 'wx'))
  }

  /** Removes the folder and everything in it; safe to call twice. */
  async remove(): Promise<void> {
    const dir = this.#dir
    this.#unlisten()
    if (dir) await rm(dir, { recursive: true, force: true })
  }

  #removeSync(): void {
    const dir = this.#dir
    this.#unlisten()
    if (dir) rmSync(dir, { recursive: true, force: true })
  }

  #unlisten(): void {
    this.#dir = undefined
    process.removeListener('exit', this.#exit)
    process.removeListener('SIGINT', this.#signal)
    process.removeListener('SIGTERM', this.#signal)
  }
}

/** Removes sort folders of this host whose process is gone (killed with SIGKILL mid-sort). */
async function sweepStale(parent: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  const mine = new RegExp(`^${PREFIX}${host.replace(/[.]/g, '\\.')}-(\\d+)-`)
  for (const name of names) {
    const m = mine.exec(name)
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => {})
  }
}

const CHUNK = 1 << 20

/** Writes one run: lines joined into chunks of about 1 MB. */
export class RunWriter {
  #parts: string[] = []
  #size = 0
  bytes = 0

  constructor(
    readonly file: string,
    readonly handle: FileHandle,
  ) {}

  async write(line: string): Promise<void> {
    this.#parts.push(line)
    this.#size += line.length + 1
    if (this.#size >= CHUNK) await this.#flush()
  }

  async close(): Promise<void> {
    try {
      await this.#flush()
    } finally {
      await this.handle.close()
    }
  }

  async #flush(): Promise<void> {
    if (this.#parts.length === 0) return
    const text = this.#parts.join('\n') + '\n'
    this.#parts = []
    this.#size = 0
    const buffer = Buffer.from(text, 'utf8')
    this.bytes += buffer.length
    try {
      await this.handle.write(buffer)
    } catch (error) {
      throw new HydratorError('ERR_SORT_SPACE', `--temp-dir: cannot write a sorted run to ${this.file}: ${errorMessage(error)}`, { cause: error })
    }
  }
}

/** Reads one run back, line by line, holding at most one chunk of `chunkBytes` (plus a line). */
export class RunReader {
  #lines: string[] = []
  #at = 0
  #rest: Buffer = Buffer.alloc(0)
  #done = false
  #handle: FileHandle | undefined

  constructor(
    readonly file: string,
    readonly chunkBytes = 64 * 1024,
  ) {}

  /** The next line without waiting, or undefined when {@link fill} must be awaited first (or the run ended). */
  next(): string | undefined {
    return this.#at < this.#lines.length ? this.#lines[this.#at++] : undefined
  }

  get ended(): boolean {
    return this.#done && this.#at >= this.#lines.length
  }

  /** Reads until a line is ready or the run ended. */
  async fill(): Promise<void> {
    while (this.#at >= this.#lines.length && !this.#done) {
      this.#handle ??= await open(this.file, 'r')
      const chunk = Buffer.allocUnsafe(this.chunkBytes)
      const { bytesRead } = await this.#handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) {
        this.#done = true
        await this.close()
        break
      }
      const data = this.#rest.length ? Buffer.concat([this.#rest, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead)
      const end = data.lastIndexOf(10)
      if (end === -1) {
        this.#rest = Buffer.from(data)
        continue
      }
      this.#lines = data.toString('utf8', 0, end).split('\n')
      this.#at = 0
      this.#rest = Buffer.from(data.subarray(end + 1))
    }
  }

  async close(): Promise<void> {
    const h = this.#handle
    this.#handle = undefined
    await h?.close()
  }
}
