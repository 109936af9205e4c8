import { isUtf8 } from 'node:buffer'
import { jsonKindOf } from '../util/event-value.js'
import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import type { LinePrefilter } from '../pattern/prefilter.js'
import { unwrapDeadLetter } from '../dead-letter.js'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition } from '../position.js'
import type { Position } from '../position.js'
import type { SourceOptions } from '../types.js'
import { displayPath, type FileRange, filesIn, type ResolvedFile, resolveFiles, totalSize } from './files.js'
import { assertInteger } from '../util/options.js'
import { defineSource, type StatefulSource } from '../define-source.js'

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
}

const NEWLINE = 0x0a
const CR = 0x0d

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
        const gz = file.endsWith('.gz')
        let input: Readable
        if (file === '-') input = options.stdin ?? process.stdin
        else {
          const raw = createReadStream(file, { highWaterMark: 1 << 18, start: !gz && resume ? resume.offset : 0 })
          raw.on('data', (chunk) => {
            stats.bytesRead += chunk.length
          })
          input = gz ? raw.pipe(createGunzip()) : raw
          if (gz) raw.on('error', (error) => input.destroy(error))
        }
        let offset = !gz && resume ? resume.offset : 0 // byte offset of `pending`'s start
        let skipUntil = gz && resume ? resume.offset : 0 // gz: decompressed bytes to skip
        let line = resume ? resume.line - 1 : 0
        let pieces: Buffer[] = []
        let pieceBytes = 0
        let tooLong = false
        // Invalid UTF-8 inside a JSON string would decode to U+FFFD and parse: data silently
        // changed. A whole chunk is checked at once (simdutf); only lines of a chunk that fails
        // (or lines carried across chunks) are checked one by one.
        let chunkIsUtf8 = true
        // A chunk without a backslash byte holds no line with one: the prefilter need not look.
        let chunkHasBackslash = true
        // Made only for lines that become events or failures, not for those the prefilter skips.
        const positionAt = (at: number, lineOffset: number, next: number): Position => ({ kind: 'line', source: uri, file: name, line: at, offset: lineOffset, next })
        const handle = (buf: Buffer, start: number, end: number, lineOffset: number, checkUtf8 = !chunkIsUtf8, noBackslash = !chunkHasBackslash) => {
          line++
          const next = lineOffset + (end - start) + 1
          if (tooLong) {
            tooLong = false
            fail({ position: { kind: 'line', source: uri, file: name, line, offset: lineOffset }, code: 'ERR_LINE_TOO_LONG', message: `${name}:${line}: the line is longer than maxLineBytes (${maxLineBytes} bytes)` })
            return undefined
          }
          if (end > start && buf[end - 1] === CR) end--
          if (lineOffset === 0 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3
          if (end <= start) return undefined
          if (checkUtf8 && !isUtf8(buf.subarray(start, end))) {
            fail({ position: positionAt(line, lineOffset, next), code: 'ERR_INVALID_UTF8', message: `${name}:${line}: the line is not valid UTF-8` })
            return undefined
          }
          const text = buf.toString('utf8', start, end)
          // A line the prefilter rules out is skipped unparsed, but only if it is shaped like an
          // object: a torn or truncated line still goes to JSON.parse and is reported.
          if (prefilter && !prefilter(text, noBackslash) && looksLikeObject(text)) {
            stats.prefiltered++
            return undefined
          }
          let value: unknown
          try {
            value = JSON.parse(text)
          } catch (error) {
            if (text.trim() === '') return undefined
            fail({ position: positionAt(line, lineOffset, next), code: 'ERR_INVALID_JSON', message: `${name}:${line}: not JSON (${errorMessage(error)})` })
            return undefined
          }
          if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            fail({ position: positionAt(line, lineOffset, next), code: 'ERR_NOT_AN_OBJECT', message: `${name}:${line}: expected an event object, got ${jsonKindOf(value)}` })
            return undefined
          }
          // A dead-letter file is a source too: its lines give back the original events.
          const event = unwrapDeadLetter(value as Record<string, unknown>)
          if (!event) {
            const letter = value as { code?: string; message?: string }
            fail({ position: positionAt(line, lineOffset, next), code: letter.code ?? 'ERR_INVALID_JSON', message: `${name}:${line}: a dead letter without an event (${letter.message ?? 'unreadable record'})` })
            return undefined
          }
          stats.read++
          return setPosition(event, positionAt(line, lineOffset, next))
        }
        try {
          for await (const chunk of input as AsyncIterable<Buffer | string>) {
            let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
            if (file === '-') stats.bytesRead += buf.length
            if (skipUntil > 0) {
              if (buf.length <= skipUntil) {
                skipUntil -= buf.length
                offset += buf.length
                continue
              }
              buf = buf.subarray(skipUntil)
              offset += skipUntil
              skipUntil = 0
            }
            chunkIsUtf8 = isUtf8(buf)
            if (prefilter) chunkHasBackslash = buf.indexOf(BACKSLASH) !== -1
            let start = 0
            let nl = buf.indexOf(NEWLINE, 0)
            if (nl !== -1 && pieces.length > 0) {
              // finish the line carried over from earlier chunks
              if (pieceBytes + nl > maxLineBytes) tooLong = true
              let whole: Buffer
              if (tooLong) whole = Buffer.alloc(0)
              else {
                pieces.push(buf.subarray(0, nl))
                whole = Buffer.concat(pieces)
              }
              const lineOffset = offset
              offset += pieceBytes + nl + 1
              pieces = []
              pieceBytes = 0
              const event = handle(whole, 0, whole.length, lineOffset, true, false)
              if (event) yield event
              start = nl + 1
              nl = buf.indexOf(NEWLINE, start)
            }
            // In a chunk of valid UTF-8 without a backslash, a line without the prefilter's anchor
            // cannot match: one search over the chunk finds the lines that hold it, and the others
            // are counted without being decoded (if they look like objects; others go to handle()).
            const anchor = prefilter?.anchor
            const scan = anchor !== undefined && chunkIsUtf8 && !chunkHasBackslash
            let hit = scan ? buf.indexOf(anchor, start) : -1
            while (nl !== -1) {
              const lineOffset = offset
              offset += nl + 1 - start
              if (nl - start > maxLineBytes) tooLong = true
              if (scan && (hit === -1 || hit >= nl) && !tooLong && bytesLookLikeObject(buf, start, nl)) {
                line++
                stats.prefiltered++
              } else {
                const event = handle(buf, start, nl, lineOffset)
                if (event) yield event
              }
              start = nl + 1
              if (hit !== -1 && hit < start) hit = buf.indexOf(anchor!, start)
              nl = buf.indexOf(NEWLINE, start)
            }
            if (start < buf.length) {
              const rest = buf.length - start
              if (!tooLong) {
                if (pieceBytes + rest > maxLineBytes) {
                  tooLong = true
                  pieces = [Buffer.alloc(0)]
                } else pieces.push(buf.subarray(start))
              }
              pieceBytes += rest
            }
            if (signal?.aborted) return
          }
          if (pieces.length > 0 || tooLong) {
            const whole = tooLong ? Buffer.alloc(0) : Buffer.concat(pieces)
            const lineOffset = offset
            offset += pieceBytes
            pieces = []
            pieceBytes = 0
            const event = handle(whole, 0, whole.length, lineOffset, true, false)
            if (event) yield event
          }
        } catch (error) {
          if (error instanceof HydratorError) throw error
          throw new HydratorError(
            'ERR_SOURCE_READ',
            `${name}: reading stopped after line ${line}: ${errorMessage(error)}${gz ? ' (is the gzip file truncated?)' : ''}`,
            { cause: error },
          )
        } finally {
          if (file !== '-') input.destroy()
        }
      }
    },
  )
  source.usePrefilter = (fn) => {
    if (started) return false
    prefilter = fn
    return true
  }
  return source
}

const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/** The same test on the bytes `buf[start..end)` of a UTF-8 line. */
function bytesLookLikeObject(buf: Buffer, start: number, end: number): boolean {
  let i = start
  while (i < end && buf[i]! <= 0x20) i++
  let j = end - 1
  while (j > i && buf[j]! <= 0x20) j--
  return i < end && buf[i] === OPEN_BRACE && buf[j] === CLOSE_BRACE
}

/** First and last non-blank characters are `{` and `}`. */
function looksLikeObject(text: string): boolean {
  let i = 0
  while (i < text.length && text.charCodeAt(i) <= 0x20) i++
  let j = text.length - 1
  while (j > i && text.charCodeAt(j) <= 0x20) j--
  return text.charCodeAt(i) === OPEN_BRACE && text.charCodeAt(j) === CLOSE_BRACE
}
