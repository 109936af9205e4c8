// The temporary folder of one sort: sorted runs written as lines, read back in bounded chunks, and
// removed at the end, on failure, on an abort and on SIGINT/SIGTERM (SIGBREAK on Windows) or process.exit.
import { rmSync } from 'node:fs'
import { mkdtemp, open, readdir, rm, statfs, type FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { HydratorError, errorMessage } from '../errors.js'
import { endBySignal, stopSignals } from '../util/signals.js'

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
// Windows: a file a scanner or indexer holds for a moment cannot be removed (EBUSY, EPERM): retry
// for about 1.5 s rather than fail a run that delivered every event over a temp file.
const RM = { recursive: true, force: true, maxRetries: 5 } as const
/** The signal handlers of every SpillFolder: a signal only they listen to ends the process. */
const spillHandlers = new WeakSet<(...args: never[]) => void>()

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
    // Someone else stops the run gracefully (the CLI): the sort may still be merging its runs, so
    // the folder is removed when the sort ends (or by the exit handler), not under its feet.
    if (process.listeners(signal).some((listener) => !spillHandlers.has(listener))) return
    this.#removeSync()
    // Only ours were listening: the default action (ending the process) is what the user asked for.
    if (process.listenerCount(signal) === 0) endBySignal(signal)
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
      spillHandlers.add(this.#signal)
      for (const name of stopSignals()) process.on(name, this.#signal)
    }
    const file = path.join(this.#dir, `run-${String(this.#runs++).padStart(6, '0')}`)
    return new RunWriter(file, await open(file, 'wx'))
  }

  /** Removes the folder and everything in it; safe to call twice. */
  async remove(): Promise<void> {
    const dir = this.#dir
    this.#unlisten()
    if (dir) await rm(dir, RM)
  }

  #removeSync(): void {
    const dir = this.#dir
    this.#unlisten()
    try {
      if (dir) rmSync(dir, { recursive: true, force: true })
    } catch {
      // On exit or a signal, with a run still open on Windows: the next sort sweeps it (sweepStale);
      // no retries here, the user asked the process to end now.
    }
  }

  #unlisten(): void {
    this.#dir = undefined
    process.removeListener('exit', this.#exit)
    for (const name of stopSignals()) process.removeListener(name, this.#signal)
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

// A run is a sequence of records, each `[u32 key bytes][key as UTF-16LE][u32 position bytes][u32 event
// bytes][position][event JSON]` (little-endian; record.ts writes them). Lengths instead of
// separators: nothing is scanned for or escaped, and a key (any string, lone surrogates too) comes
// back exactly as it went in.

/** Writes one run: bytes as given, or records copied into one reused buffer of about 1 MB (one write call per MB). */
export class RunWriter {
  buffer: Buffer = Buffer.alloc(0)
  /** Bytes of {@link buffer} in use. */
  used = 0
  bytes = 0

  constructor(
    readonly file: string,
    readonly handle: FileHandle,
  ) {}

  /** True when `n` more bytes fit in the buffer without a {@link flush}. */
  fits(n: number): boolean {
    return this.used + n <= this.buffer.length
  }

  /** Writes the buffer out; afterwards at least `room` bytes fit. */
  async flush(room = 0): Promise<void> {
    if (this.used > 0) {
      await this.#write(this.buffer.subarray(0, this.used))
      this.used = 0
    }
    if (room > this.buffer.length) this.buffer = Buffer.allocUnsafe(Math.max(room, CHUNK))
  }

  /** Writes `bytes` after what was written so far (not kept: the caller may reuse them). */
  async writeBytes(bytes: Uint8Array): Promise<void> {
    await this.flush()
    await this.#write(bytes)
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      for (let done = 0; done < bytes.length; ) done += (await this.handle.write(bytes, done, bytes.length - done)).bytesWritten
    } catch (error) {
      throw new HydratorError('ERR_SORT_SPACE', `--temp-dir: cannot write a sorted run to ${this.file}: ${errorMessage(error)}`, { cause: error })
    }
    this.bytes += bytes.length
  }

  /** Appends bytes copied as they are (a whole record from another run); the caller made room. */
  copy(source: Buffer, start: number, end: number): void {
    this.used += source.copy(this.buffer, this.used, start, end)
  }

  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      this.buffer = Buffer.alloc(0)
      await this.handle.close()
    }
  }
}

/**
 * Reads one run back record by record, holding one buffer of `chunkBytes` (more only for a record
 * that is bigger). A record read stays in {@link buffer} at {@link at} until the next {@link fill};
 * with `keep`, for good: each fill reads into a new buffer (records yielded as their bytes point
 * into the old one, which goes when they do).
 */
export class RunReader {
  buffer: Buffer
  /** The offset of the current record in {@link buffer}, when its {@link size} is not 0. */
  at = 0
  #end = 0
  #done = false
  #handle: FileHandle | undefined

  constructor(
    readonly file: string,
    readonly chunkBytes = 64 * 1024,
    readonly keep = false,
  ) {
    this.buffer = Buffer.allocUnsafe(chunkBytes)
  }

  /** Bytes from {@link at} to the end of the current record, or 0 when it is not all in the buffer. */
  size(): number {
    const b = this.buffer
    const avail = this.#end - this.at
    if (avail < 4) return 0
    const k = b.readUInt32LE(this.at)
    if (avail < 12 + k) return 0
    const p = this.at + 4 + k
    const n = 12 + k + b.readUInt32LE(p) + b.readUInt32LE(p + 4)
    return avail < n ? 0 : n
  }

  /** The key of the current record (which must be {@link ready}). */
  key(): string {
    const k = this.buffer.readUInt32LE(this.at)
    return this.buffer.toString('utf16le', this.at + 4, this.at + 4 + k)
  }

  /** True once the run is read to its end. */
  get ended(): boolean {
    return this.#done && this.at >= this.#end
  }

  /** Moves past the current record (of `n` bytes). */
  skip(n: number): void {
    this.at += n
  }

  /** Reads until a whole record is in the buffer or the run ended. */
  async fill(): Promise<void> {
    while (!this.#done && this.size() === 0) {
      this.#handle ??= await open(this.file, 'r')
      // Keep the start of a record cut by the end of the last read; grow for a record bigger than the buffer.
      const rest = this.#end - this.at
      let need = this.chunkBytes
      if (rest >= 4) {
        const k = this.buffer.readUInt32LE(this.at)
        if (rest >= 12 + k) {
          const p = this.at + 4 + k
          need = Math.max(need, 12 + k + this.buffer.readUInt32LE(p) + this.buffer.readUInt32LE(p + 4))
        } else need = Math.max(need, 12 + k)
      }
      if (need > this.buffer.length || (this.keep && this.at > 0)) {
        const bigger = Buffer.allocUnsafe(Math.max(need, this.chunkBytes))
        this.buffer.copy(bigger, 0, this.at, this.#end)
        this.buffer = bigger
      } else if (this.at > 0) this.buffer.copyWithin(0, this.at, this.#end)
      this.at = 0
      this.#end = rest
      const { bytesRead } = await this.#handle.read(this.buffer, rest, this.buffer.length - rest, null)
      this.#end += bytesRead
      if (bytesRead === 0) {
        this.#done = true
        await this.close()
        if (rest > 0) throw new HydratorError('ERR_INTERNAL', `--temp-dir: the sorted run ${this.file} ends in the middle of a record (${rest} bytes)`)
      }
    }
  }

  async close(): Promise<void> {
    const h = this.#handle
    this.#handle = undefined
    this.buffer = this.#done ? Buffer.alloc(0) : this.buffer
    await h?.close()
  }
}
