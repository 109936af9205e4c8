import { jsonKindOf } from '../util/event-value.js'
import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import type { LinePrefilter } from '../pattern/prefilter.js'
import { unwrapDeadLetter } from '../dead-letter.js'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition } from '../position.js'
import { setRawText } from '../raw-text.js'
import type { Position } from '../position.js'
import type { SourceOptions } from '../types.js'
import { displayPath, type FileRange, filesIn, type ResolvedFile, resolveFiles, totalSize } from './files.js'
import { assertInteger } from '../util/options.js'
import { defineSource, type StatefulSource } from '../define-source.js'
import { LINE, LineScanner, looksLikeObject, META, TOO_LONG, trimmedLine } from '../util/line-scan.js'
import { LineWorkerError, readLinesInWorker, worthAWorker, type WorkerBatch } from './line-worker.js'
import { LineSorter } from './sort-lines.js'
import { SortRecords, type SortRecordRequest, type SortRecordSource } from '../sort/record-batch.js'

/** Where to resume an NDJSON read: a file, a byte offset in it (uncompressed) and the line there. */
export interface LineStart {
  readonly file: string
  /** Byte offset of the first line to read. */
  readonly offset: number
  /** The 1-based number of the line at `offset`. */
  readonly line: number
}

export interface ReadJsonLinesOptions extends SourceOptions {
  /** Files read from a directory. @default '*.{ndjson,jsonl,ndjson.gz,jsonl.gz}' */
  readonly glob?: string
  /** A longer line is a failure (ERR_LINE_TOO_LONG) and is skipped. @default 67108864 (64 MiB) */
  readonly maxLineBytes?: number
  /** Resume here: earlier files and bytes are not read again. */
  readonly startAt?: LineStart
  /** Resolve relative paths here. @default process.cwd() */
  readonly cwd?: string
  /** Read this stream instead of `process.stdin` for `-`. */
  readonly stdin?: Readable
  /** Read only these files of a folder or glob (a share of a split run). */
  readonly files?: FileRange
  /**
   * Find the lines of a file (read, gunzip, check UTF-8, prefilter) on a worker thread, while the
   * main thread parses and runs the chain: `true` always (but stdin), `false` never. By default,
   * files of 8 MiB or more (2 MiB gzipped) when a filter's prefilter can run there (it then hands
   * over only the lines that may match). The report's `source.workerThreads` says when it was on.
   * @default undefined (by size)
   */
  readonly workers?: boolean
  /** @internal Bytes read at a time (tests use small reads to put lines across chunk boundaries). */
  readonly readBytes?: number
}

/**
 * Reads NDJSON events in file order: one file, `.gz` files, a directory or a glob (files in natural
 * order: events-2 before events-10), or `-` for stdin. Streams with memory bounded by the longest
 * line. A blank line is skipped; a line that is not JSON or not an object is a failure naming file
 * and line, and reading goes on; so is a matched link that cannot be read (dangling, looping:
 * ERR_FILE_UNREADABLE). Each real file is read once, under its first name in that order. CRLF and a
 * last line without a newline are fine.
 *
 * @example
 * for await (const event of readJsonLines('events/*.ndjson.gz')) console.log(event['detail-type'])
 */
export function readJsonLines(location: string, options: ReadJsonLinesOptions = {}): StatefulSource<Record<string, unknown>> {
  if (typeof location !== 'string' || location === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected a path, a glob or \`-\`, got \`${String(location)}\``)
  }
  const maxLineBytes = assertInteger('maxLineBytes', options.maxLineBytes ?? 64 * 1024 * 1024, 1)
  const pattern = options.glob ?? '*.{ndjson,jsonl,ndjson.gz,jsonl.gz}'
  const cwd = options.cwd ?? process.cwd()
  const uri = location === '-' ? 'stdin' : location
  let prefilter: LinePrefilter | undefined
  let keepText = false
  let sortRequest: SortRecordRequest | undefined
  let started = false

  const source = defineSource<Record<string, unknown>>(
    uri,
    options,
    async function* readJsonLinesSource({ stats, fail, signal }) {
      started = true
      const files: ResolvedFile[] = location === '-' ? [{ file: '-' }] : filesIn(await resolveFiles(location, pattern, cwd), options.files, cwd)
      if (location !== '-') stats.bytesTotal = await totalSize(files)
      let startIndex = 0
      const startAt = options.startAt
      if (startAt) {
        startIndex = files.findIndex(({ file, duplicateOf }) => duplicateOf === undefined && (file === startAt.file || displayPath(file, cwd) === startAt.file))
        if (startIndex === -1) {
          throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume: \`${startAt.file}\` is not among the files of \`${location}\``)
        }
        stats.startedAt = { kind: 'line', source: uri, file: displayPath(files[startIndex]!.file, cwd), line: startAt.line, offset: startAt.offset }
      }
      for (let f = startIndex; f < files.length; f++) {
        if (signal?.aborted) return
        const { file, problem, duplicateOf } = files[f]!
        if (duplicateOf !== undefined) continue
        const name = file === '-' ? 'stdin' : displayPath(file, cwd)
        if (problem !== undefined) {
          fail({ position: { kind: 'line', source: uri, file: name, line: 0, offset: 0 }, code: 'ERR_FILE_UNREADABLE', message: `${name}: unreadable (${problem})` })
          continue
        }
        const resume = startAt && f === startIndex ? startAt : undefined
        const gz = /\.gz$/i.test(file)
        const offset = resume ? resume.offset : 0 // (uncompressed) byte offset of the first line read
        const start = gz ? 0 : offset // where reading the file starts
        const skip = gz ? offset : 0 // gz: decompressed bytes to skip
        const firstLine = resume ? resume.line - 1 : 0
        // A prefilter given as data runs where the lines are found; any other runs here.
        // Left to decide, only with a prefilter the worker can run: the main thread then parses only the
        // lines that may match. With every line parsed it does not pay (measured: taking the decoded
        // lines from the worker costs the main thread as much as finding them), so a pass-through reads here.
        // For a sort, the worker parses the lines too and hands over held records: that pays, given the memory.
        const fileId = sortRequest && file !== '-' ? sortRequest.fileId(uri, name) : -1
        const inWorker = file !== '-' && worthAWorker(options.workers, file, gz, prefilter?.spec !== undefined || (fileId >= 0 && sortRequest!.workerPays))
        const sort = inWorker && fileId >= 0 ? { orderBy: sortRequest!.orderBy, absent: sortRequest!.absent, keepText: sortRequest!.keepText, fileId } : undefined
        let localSorter: LineSorter | undefined
        const localPrefilter = inWorker && prefilter?.spec === undefined ? prefilter : undefined
        if (inWorker) stats.workerThreads = 1
        let line = firstLine
        const positionAt = (at: number, lineOffset: number, next: number): Position => ({ kind: 'line', source: uri, file: name, line: at, offset: lineOffset, next })
        /** The event of a batch's LINE entry, or undefined (a failure, a blank or prefiltered line). */
        const eventOf = (text: string, at: number, lineOffset: number, next: number): Record<string, unknown> | undefined => {
          if (localPrefilter && !localPrefilter(text) && looksLikeObject(text)) {
            stats.prefiltered++
            return undefined
          }
          let value: unknown
          try {
            value = JSON.parse(text)
          } catch (error) {
            if (text.trim() === '') return undefined
            fail({ position: positionAt(at, lineOffset, next), code: 'ERR_INVALID_JSON', message: `${name}:${at}: not JSON (${errorMessage(error)})` })
            return undefined
          }
          if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            fail({ position: positionAt(at, lineOffset, next), code: 'ERR_NOT_AN_OBJECT', message: `${name}:${at}: expected an event object, got ${jsonKindOf(value)}` })
            return undefined
          }
          // A dead-letter file is a source too: its lines give back the original events.
          const event = unwrapDeadLetter(value as Record<string, unknown>)
          if (!event) {
            const letter = value as { code?: string; message?: string }
            fail({ position: positionAt(at, lineOffset, next), code: letter.code ?? 'ERR_INVALID_JSON', message: `${name}:${at}: a dead letter without an event (${letter.message ?? 'unreadable record'})` })
            return undefined
          }
          stats.read++
          // The line's own object (a dead letter's event is not its line), without the blanks around it.
          if (keepText && event === value) setRawText(event, trimmedLine(text))
          return setPosition(event, positionAt(at, lineOffset, next))
        }
        const batches = inWorker
          ? readLinesInWorker({ file, gz, start, skip, offset, line: firstLine, maxLineBytes, prefilter: prefilter?.spec, sort, ...(options.readBytes ? { chunkBytes: options.readBytes } : {}) }, signal)
          : scanHere(file, gz, start, new LineScanner({ maxLineBytes, prefilter, offset, line: firstLine, skip }))
        try {
          // The main thread's half: parse the lines of each batch, in order, and account for the rest.
          for await (const read of batches) {
            stats.bytesRead += read.bytesRead
            // A sort's lines the worker left to this thread to parse (it was waiting for them).
            const { batch, records } = sort && !read.records ? (localSorter ??= new LineSorter(sort)).encode(read.batch) : read
            const { meta, texts } = batch
            let t = 0
            for (let m = 0; m < meta.length; m += META) {
              const kind = meta[m]!
              const at = meta[m + 1]!
              const lineOffset = meta[m + 2]!
              const next = meta[m + 3]!
              stats.prefiltered += meta[m + 4]!
              line = at
              if (kind === LINE) {
                const event = eventOf(texts[t++]!, at, lineOffset, next)
                if (event) yield event
              } else if (kind === TOO_LONG) {
                fail({ position: { kind: 'line', source: uri, file: name, line: at, offset: lineOffset }, code: 'ERR_LINE_TOO_LONG', message: `${name}:${at}: the line is longer than maxLineBytes (${maxLineBytes} bytes)` })
              } else {
                fail({ position: positionAt(at, lineOffset, next), code: 'ERR_INVALID_UTF8', message: `${name}:${at}: the line is not valid UTF-8` })
              }
            }
            stats.prefiltered += batch.skippedAfter
            // For a sort: the batch's events as held records (the lines above were those that are not events).
            if (records && (records.ends.length > 0 || records.unheld.length > 0)) {
              stats.read += records.ends.length + records.unheld.length
              const unheld = records.unheld.map((u) => ({ position: positionAt(u.line, u.offset, u.next), message: u.message, at: u.at }))
              yield new SortRecords(Buffer.from(records.bytes, 0, records.used), records.ends, records.firstKey, records.lastKey, records.sorted, unheld) as never
              // Held by now: a buffer made here is filled again by the next batch made here.
              if (!read.records) localSorter!.release(records.bytes)
            }
            if (signal?.aborted) return
          }
        } catch (error) {
          if (error instanceof HydratorError) throw error
          const at = error instanceof LineWorkerError ? Math.max(line, error.line) : error instanceof ScanError ? Math.max(line, error.line) : line
          throw new HydratorError('ERR_SOURCE_READ', `${name}: reading stopped after line ${at}: ${errorMessage(error)}${gz ? ' (is the gzip file truncated?)' : ''}`, {
            cause: error instanceof ScanError ? error.cause : error,
          })
        }
      }

      /** Finds the lines of a file (or stdin) on this thread: a batch per chunk. */
      async function* scanHere(file: string, gz: boolean, start: number, scanner: LineScanner): AsyncGenerator<WorkerBatch> {
        let input: Readable
        let raw: Readable | undefined
        let bytesRead = 0
        if (file === '-') input = options.stdin ?? process.stdin
        else {
          raw = createReadStream(file, { highWaterMark: options.readBytes ?? 1 << 18, start })
          raw.on('data', (chunk) => {
            bytesRead += chunk.length
          })
          input = gz ? raw.pipe(createGunzip()) : raw
          if (gz) raw.on('error', (error) => input.destroy(error))
        }
        try {
          for await (const chunk of input as AsyncIterable<Buffer | string>) {
            const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
            if (file === '-') bytesRead += buf.length
            scanner.push(buf)
            yield { batch: scanner.take(), bytesRead }
            bytesRead = 0
          }
        } catch (error) {
          throw new ScanError(error, scanner.line)
        } finally {
          // Both: destroying the gunzip stream does not close the file under it (a read stopped early).
          if (file !== '-') input.destroy()
          raw?.destroy()
        }
        scanner.end()
        yield { batch: scanner.take(), bytesRead }
      }
    },
  )
  source.useRawText = () => {
    if (started) return false
    keepText = true
    return true
  }
  // Asked by a sort (sortSource) before each read: files read on a worker thread yield SortRecords
  // in place of their events.
  ;(source as SortRecordSource).useSortRecords = (request) => {
    if (started) return false
    sortRequest = request
    return true
  }
  source.usePrefilter = (fn) => {
    if (started) return false
    prefilter = fn
    return true
  }
  return source
}

/** A read error in scanHere(), with the last line the scanner saw. */
class ScanError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly line: number,
  ) {
    super(errorMessage(cause))
  }
}
