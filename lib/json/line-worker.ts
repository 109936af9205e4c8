// Reading NDJSON on a second core: a worker thread reads the file (gunzips it), finds the lines,
// checks UTF-8 and applies the prefilter (line-scan.ts), and hands the main thread batches of
// decoded lines in file order. The main thread parses them: a parsed object costs about as much to
// copy between threads as to parse (measured: structured clone of 1,000,000 events ~1.2 s on the
// receiving side, JSON.parse of their lines ~1.2 s), so parsing on the worker would not pay.
// A sort (`--order-by`) is the exception: it needs no objects, only each event's key and bytes, so
// the worker parses and hands over those bytes (sort-lines.ts), which cost nothing to take.
// At most MAX_AHEAD batches are in flight, so memory stays bounded whatever the file's size.
import { createReadStream, statSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { createGunzip } from 'node:zlib'
import { prefilterFromSpec, type PrefilterSpec } from '../pattern/prefilter-spec.js'
import { LineScanner, newBatch, type LineBatch } from '../util/line-scan.js'
import { ArrayBatcher, ArrayScanError } from './array-scan.js'
import { LineSorter, type SortLinesJob, type SortedLines } from './sort-lines.js'

const KIND = 'event-hydrator:ndjson-lines'
/** Batches the worker may be ahead of the main thread by. */
const MAX_AHEAD = 4
/** Bytes read per chunk, and so (about) per batch. */
const CHUNK = 1 << 20

/** What one worker reads: a file from a byte offset, with the scanner's settings. */
export interface LineWorkerJob {
  readonly kind?: 'lines'
  readonly file: string
  readonly gz: boolean
  /** Byte offset to start reading the file at (plain files). */
  readonly start: number
  /** Decompressed bytes to skip first (gzip files resumed inside). */
  readonly skip: number
  /** Offset and line count of the first byte scanned. */
  readonly offset: number
  readonly line: number
  readonly maxLineBytes: number
  readonly prefilter?: PrefilterSpec | undefined
  /** Bytes read at a time. @default 1 MiB */
  readonly chunkBytes?: number
  /** For a sort: parse the lines here too, and hand over held records (sort-lines.ts). */
  readonly sort?: SortLinesJob | undefined
}

/** What one worker reads when the file is one JSON array: its elements, from `startIndex` on. */
export interface ArrayWorkerJob {
  readonly kind: 'array'
  readonly file: string
  readonly gz: boolean
  readonly maxElementBytes: number
  readonly startIndex: number
  /** Bytes read at a time. @default 1 MiB */
  readonly chunkBytes?: number
}

type FromWorker =
  | { readonly type: 'batch'; readonly batch: LineBatch; readonly bytesRead: number; readonly records?: SortedLines }
  | { readonly type: 'end'; readonly bytesRead: number }
  | { readonly type: 'error'; readonly message: string; readonly line: number; readonly scanOffset?: number }

/** A batch of lines and the file bytes read to find them; for a sort, the records of its events (and `batch` holds the rest). */
export interface WorkerBatch {
  readonly batch: LineBatch
  readonly bytesRead: number
  readonly records?: SortedLines
}

/**
 * Raised on the main thread when the worker could not read the file; `line` is the last line (or
 * the elements) it saw, `scanOffset` the byte offset of a malformed array (ArrayScanError).
 */
export class LineWorkerError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly scanOffset?: number,
  ) {
    super(message)
  }
}

let spawnable: boolean | undefined
/** The code a worker runs: import this module (in a worker, its last lines start the reading). */
function workerCode(): string | undefined {
  // Bundled as CommonJS (the standalone executable), a module has no URL to import again.
  const url: unknown = import.meta.url
  if (typeof url !== 'string' || !url.startsWith('file:')) return undefined
  if (url.endsWith('.ts')) {
    // From source under tsx (tests, bench): the worker registers tsx first, if it can be found.
    let api: string
    try {
      api = import.meta.resolve('tsx/esm/api')
    } catch {
      return undefined
    }
    return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}) })`
  }
  return `import(${JSON.stringify(url)})`
}

/**
 * Whether worker threads can be used here: not inside a single executable application (whose one
 * script cannot be imported again by a worker), and the module is importable by URL.
 */
function canUseLineWorker(): boolean {
  if (spawnable !== undefined) return spawnable
  let sea = false
  try {
    // node:sea exists from Node 20.12; isSea() is true inside a single executable.
    sea = (process as unknown as { getBuiltinModule?: (id: string) => { isSea?: () => boolean } | undefined }).getBuiltinModule?.('node:sea')?.isSea?.() ?? false
  } catch {
    sea = false
  }
  spawnable = !sea && workerCode() !== undefined
  return spawnable
}

/** Files at least this large are read on a worker thread when `workers` is left to decide (gzip: compressed size). */
const WORKER_MIN_BYTES = 8 * 1024 * 1024
const WORKER_MIN_GZ_BYTES = 2 * 1024 * 1024

/**
 * Whether to read `file` on a worker thread: `workers` when given (false also where workers
 * cannot run), else when the reader says the worker would pay (`pays`) and the file is large.
 */
export function worthAWorker(workers: boolean | undefined, file: string, gz: boolean, pays: boolean): boolean {
  if (workers === false || !canUseLineWorker()) return false
  if (workers === true) return true
  if (!pays) return false
  let size: number
  try {
    size = statSync(file).size
  } catch {
    return false
  }
  return size >= (gz ? WORKER_MIN_GZ_BYTES : WORKER_MIN_BYTES)
}

/**
 * Reads `job` in a worker thread: yields its batches in file order. Returning early (or `signal`)
 * stops the worker. A read error (or a worker that dies) throws {@link LineWorkerError}.
 */
export async function* readLinesInWorker(job: LineWorkerJob | ArrayWorkerJob, signal?: AbortSignal): AsyncGenerator<WorkerBatch> {
  const code = workerCode()
  if (code === undefined) throw new Error('worker threads are not available here')
  // [0]: batches the main thread has taken; [1]: 1 when the main thread wants the worker to stop;
  // [2]: 1 while the main thread waits for a batch.
  const shared = new Int32Array(new SharedArrayBuffer(12))
  const worker = new Worker(code, { eval: true, workerData: { kind: KIND, job, shared }, stdout: false, stderr: false })
  const queue: FromWorker[] = []
  let wake: (() => void) | undefined
  let failure: Error | undefined
  let exited = false
  const notify = () => {
    wake?.()
    wake = undefined
  }
  worker.on('message', (message: FromWorker) => {
    queue.push(message)
    notify()
  })
  worker.on('error', (error) => {
    failure = error
    notify()
  })
  worker.on('exit', () => {
    exited = true
    notify()
  })
  const onAbort = () => notify()
  signal?.addEventListener('abort', onAbort)
  try {
    for (;;) {
      if (signal?.aborted) return
      const message = queue.shift()
      if (message === undefined) {
        if (failure) throw new LineWorkerError(failure.message, 0)
        if (exited) throw new LineWorkerError('the reading thread stopped unexpectedly', 0)
        Atomics.store(shared, 2, 1)
        await new Promise<void>((resolve) => (wake = resolve))
        Atomics.store(shared, 2, 0)
        continue
      }
      if (message.type === 'error') throw new LineWorkerError(message.message, message.line, message.scanOffset)
      if (message.type === 'end') {
        yield { batch: newBatch(), bytesRead: message.bytesRead }
        return
      }
      Atomics.add(shared, 0, 1)
      Atomics.notify(shared, 0)
      yield message
      // Taken in full (a sort's records are held by now): the buffer goes back to be filled again.
      if (message.records) worker.postMessage({ type: 'free', bytes: message.records.bytes }, [message.records.bytes])
    }
  } finally {
    signal?.removeEventListener('abort', onAbort)
    Atomics.store(shared, 1, 1)
    Atomics.notify(shared, 0)
    if (!exited) await worker.terminate()
  }
}

/** The worker's side: read, scan, post; wait while MAX_AHEAD batches are not yet taken. */
async function work(job: LineWorkerJob | ArrayWorkerJob, shared: Int32Array): Promise<void> {
  const port = parentPort!
  const scanner =
    job.kind === 'array'
      ? new ArrayBatcher(job.maxElementBytes, job.startIndex)
      : new LineScanner({
          maxLineBytes: job.maxLineBytes,
          prefilter: job.prefilter ? prefilterFromSpec(job.prefilter) : undefined,
          offset: job.offset,
          line: job.line,
          skip: job.skip,
        })
  const sorter = job.kind !== 'array' && job.sort ? new LineSorter(job.sort, (job.chunkBytes ?? CHUNK) + (1 << 16)) : undefined
  if (sorter) port.on('message', (message: { type?: string; bytes?: ArrayBuffer }) => message.type === 'free' && message.bytes && sorter.release(message.bytes))
  let sent = 0
  let bytesRead = 0
  const raw = createReadStream(job.file, { highWaterMark: job.chunkBytes ?? CHUNK, start: job.kind === 'array' ? 0 : job.start })
  raw.on('data', (chunk) => {
    bytesRead += chunk.length
  })
  const input: Readable = job.gz ? raw.pipe(createGunzip({ chunkSize: Math.max(64, job.chunkBytes ?? CHUNK) })) : raw
  if (job.gz) raw.on('error', (error) => input.destroy(error))
  const post = (batch: LineBatch) => {
    // For a sort, the lines are parsed here before waiting (the worker works while the main thread
    // catches up), unless the main thread waits for them: it then parses them itself while this
    // thread finds the next ones, so that both cores parse.
    const sorted = sorter && Atomics.load(shared, 2) === 0 ? sorter.encode(batch) : undefined
    // Wait (blocking this thread only) until the main thread is at most MAX_AHEAD - 1 behind.
    for (;;) {
      if (Atomics.load(shared, 1) === 1) return false
      const taken = Atomics.load(shared, 0)
      if (sent - taken < MAX_AHEAD) break
      Atomics.wait(shared, 0, taken, 1000)
    }
    if (sorted) port.postMessage({ type: 'batch', batch: sorted.batch, bytesRead, records: sorted.records } satisfies FromWorker, [sorted.records.bytes])
    else port.postMessage({ type: 'batch', batch, bytesRead } satisfies FromWorker)
    bytesRead = 0
    sent++
    return true
  }
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (scanner instanceof ArrayBatcher) {
        if (!post(scanner.push(chunk))) return
      } else {
        scanner.push(chunk)
        if (!post(scanner.take())) return
      }
    }
    scanner.end()
    if (scanner instanceof LineScanner && !post(scanner.take())) return
    port.postMessage({ type: 'end', bytesRead } satisfies FromWorker)
  } catch (error) {
    const seen = scanner instanceof ArrayBatcher ? scanner.index : scanner.line
    const scanOffset = error instanceof ArrayScanError ? { scanOffset: error.offset } : {}
    port.postMessage({ type: 'error', message: (error as Error)?.message ?? String(error), line: seen, ...scanOffset } satisfies FromWorker)
  } finally {
    input.destroy()
    raw.destroy()
  }
}

// In a worker started by readLinesInWorker(): read the job. (Nothing happens on import elsewhere.)
if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === KIND) {
  const { job, shared } = workerData as { job: LineWorkerJob | ArrayWorkerJob; shared: Int32Array }
  void work(job, shared)
}
