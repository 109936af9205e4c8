// The byte-level half of the NDJSON reader: lines found in chunks of bytes, CR and a leading BOM
// dropped, UTF-8 checked, too-long lines and lines the prefilter rules out told apart from the lines
// that must be parsed. It runs on the main thread, or in a worker thread (line-worker.ts) that hands
// the main thread the decoded lines in batches, in order; JSON.parse stays with the main thread
// (a parsed object costs as much to copy across threads as to parse), but for a sort's lines
// (json/sort-lines.ts).
import { isUtf8 } from 'node:buffer'
import type { LinePrefilter } from '../pattern/prefilter-spec.js'

/** What a batch entry is: a line to parse, or a line that failed here. */
export const LINE = 0
export const TOO_LONG = 1
export const INVALID_UTF8 = 2

/** Numbers per entry in {@link LineBatch.meta}. */
export const META = 5

/**
 * Lines of one or more chunks, in file order. `meta` holds, per entry: kind ({@link LINE},
 * {@link TOO_LONG}, {@link INVALID_UTF8}), 1-based line number, byte offset of the line, offset
 * just past its newline, and the lines the prefilter skipped just before it. `texts` holds the text
 * of each {@link LINE} entry, in the same order.
 */
export interface LineBatch {
  readonly texts: string[]
  readonly meta: number[]
  /** Lines the prefilter skipped after the last entry. */
  skippedAfter: number
}

export interface LineScanOptions {
  readonly maxLineBytes: number
  /** Applied to every line here when given; a line it rules out is counted in the batch, not sent. */
  readonly prefilter?: LinePrefilter | undefined
  /** Byte offset of the first byte pushed. @default 0 */
  readonly offset?: number
  /** Lines before the first byte pushed. @default 0 */
  readonly line?: number
  /**
   * Bytes to drop first, already counted in `offset` (a resume inside a gzip file, which cannot be
   * read from an offset, reads from its start and drops what came before). @default 0
   */
  readonly skip?: number
}

const NEWLINE = 0x0a
const CR = 0x0d
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

export const newBatch = (): LineBatch => ({ texts: [], meta: [], skippedAfter: 0 })

/** One entry of a batch, as an object (for readers where a few allocations per line do not matter). */
export interface LineEntry {
  readonly kind: number
  readonly line: number
  readonly offset: number
  readonly next: number
  /** Lines the prefilter skipped just before this one. */
  readonly skipped: number
  /** The line, for a {@link LINE} entry. */
  readonly text?: string
}

/** The entries of a batch, in order. */
export function* entriesOf(batch: LineBatch): Generator<LineEntry> {
  const { meta, texts } = batch
  let t = 0
  for (let m = 0; m < meta.length; m += META) {
    const kind = meta[m]!
    yield { kind, line: meta[m + 1]!, offset: meta[m + 2]!, next: meta[m + 3]!, skipped: meta[m + 4]!, ...(kind === LINE ? { text: texts[t++]! } : {}) }
  }
}

/** Finds the lines of a stream of chunks; call {@link push} per chunk, {@link end} once, {@link take} for what was found. */
export class LineScanner {
  readonly #maxLineBytes: number
  readonly #prefilter: LinePrefilter | undefined
  /** Byte offset of the start of the unfinished line (`#pieces`). */
  #offset: number
  #line: number
  #pieces: Buffer[] = []
  #pieceBytes = 0
  #tooLong = false
  #chunkIsUtf8 = true
  #chunkHasBackslash = true
  #batch: LineBatch = newBatch()
  #skip: number

  constructor(options: LineScanOptions) {
    this.#skip = options.skip ?? 0
    this.#maxLineBytes = options.maxLineBytes
    this.#prefilter = options.prefilter
    this.#offset = options.offset ?? 0
    this.#line = options.line ?? 0
  }

  /** The 1-based number of the last line seen. */
  get line(): number {
    return this.#line
  }

  /** What was found since the last call. */
  take(): LineBatch {
    const batch = this.#batch
    this.#batch = newBatch()
    return batch
  }

  #entry(kind: number, lineOffset: number, next: number): void {
    const batch = this.#batch
    batch.meta.push(kind, this.#line, lineOffset, next, batch.skippedAfter)
    batch.skippedAfter = 0
  }

  /** The line `buf[start..end)`, which starts at `lineOffset` in the input; `next` is just past its newline (a too-long line's bytes are not in `buf`). */
  #handle(buf: Buffer, start: number, end: number, lineOffset: number, next: number, checkUtf8: boolean, noBackslash: boolean): void {
    this.#line++
    if (this.#tooLong) {
      this.#tooLong = false
      this.#entry(TOO_LONG, lineOffset, next)
      return
    }
    if (end > start && buf[end - 1] === CR) end--
    if (lineOffset === 0 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3
    if (end <= start) return
    if (checkUtf8 && !isUtf8(buf.subarray(start, end))) {
      this.#entry(INVALID_UTF8, lineOffset, next)
      return
    }
    const text = buf.toString('utf8', start, end)
    // A line the prefilter rules out is skipped unparsed, but only if it is shaped like an object:
    // a torn or truncated line still goes to JSON.parse and is reported.
    const prefilter = this.#prefilter
    if (prefilter && !prefilter(text, noBackslash) && looksLikeObject(text)) {
      this.#batch.skippedAfter++
      return
    }
    this.#entry(LINE, lineOffset, next)
    this.#batch.texts.push(text)
  }

  push(buf: Buffer): void {
    if (this.#skip > 0) {
      const dropped = Math.min(this.#skip, buf.length)
      this.#skip -= dropped
      if (dropped === buf.length) return
      buf = buf.subarray(dropped)
    }
    const maxLineBytes = this.#maxLineBytes
    const prefilter = this.#prefilter
    // Invalid UTF-8 inside a JSON string would decode to U+FFFD and parse: data silently changed.
    // A whole chunk is checked at once (simdutf); only lines of a chunk that fails (or lines carried
    // across chunks) are checked one by one.
    this.#chunkIsUtf8 = isUtf8(buf)
    // A chunk without a backslash byte holds no line with one: the prefilter need not look.
    if (prefilter) this.#chunkHasBackslash = buf.indexOf(BACKSLASH) !== -1
    let start = 0
    let nl = buf.indexOf(NEWLINE, 0)
    if (nl !== -1 && this.#pieces.length > 0) {
      // finish the line carried over from earlier chunks
      if (this.#pieceBytes + nl > maxLineBytes) this.#tooLong = true
      let whole: Buffer
      if (this.#tooLong) whole = Buffer.alloc(0)
      else {
        this.#pieces.push(buf.subarray(0, nl))
        whole = Buffer.concat(this.#pieces)
      }
      const lineOffset = this.#offset
      this.#offset += this.#pieceBytes + nl + 1
      this.#pieces = []
      this.#pieceBytes = 0
      this.#handle(whole, 0, whole.length, lineOffset, this.#offset, true, false)
      start = nl + 1
      nl = buf.indexOf(NEWLINE, start)
    }
    // In a chunk of valid UTF-8 without a backslash, a line without the prefilter's anchor cannot
    // match: one search over the chunk finds the lines that hold it, and the others are counted
    // without being decoded (if they look like objects; others go to #handle()).
    const anchor = prefilter?.anchor
    const scan = anchor !== undefined && this.#chunkIsUtf8 && !this.#chunkHasBackslash
    const checkUtf8 = !this.#chunkIsUtf8
    const noBackslash = !this.#chunkHasBackslash
    let hit = scan ? buf.indexOf(anchor, start) : -1
    while (nl !== -1) {
      const lineOffset = this.#offset
      this.#offset += nl + 1 - start
      if (nl - start > maxLineBytes) this.#tooLong = true
      if (scan && (hit === -1 || hit >= nl) && !this.#tooLong && bytesLookLikeObject(buf, start, nl)) {
        this.#line++
        this.#batch.skippedAfter++
      } else this.#handle(buf, start, nl, lineOffset, this.#offset, checkUtf8, noBackslash)
      start = nl + 1
      if (hit !== -1 && hit < start) hit = buf.indexOf(anchor!, start)
      nl = buf.indexOf(NEWLINE, start)
    }
    if (start < buf.length) {
      const rest = buf.length - start
      if (!this.#tooLong) {
        if (this.#pieceBytes + rest > maxLineBytes) {
          this.#tooLong = true
          this.#pieces = [Buffer.alloc(0)]
        } else this.#pieces.push(buf.subarray(start))
      }
      this.#pieceBytes += rest
    }
  }

  /** The last line, when the input does not end with a newline. */
  end(): void {
    if (this.#pieces.length > 0 || this.#tooLong) {
      const whole = this.#tooLong ? Buffer.alloc(0) : Buffer.concat(this.#pieces)
      const lineOffset = this.#offset
      this.#offset += this.#pieceBytes
      this.#pieces = []
      this.#pieceBytes = 0
      // No newline ends it: `next` is where one would have ended (as for any line, one past it).
      this.#handle(whole, 0, whole.length, lineOffset, this.#offset + 1, true, false)
    }
  }
}

/** The same test on the bytes `buf[start..end)` of a UTF-8 line. */
function bytesLookLikeObject(buf: Buffer, start: number, end: number): boolean {
  let i = start
  while (i < end && buf[i]! <= 0x20) i++
  let j = end - 1
  while (j > i && buf[j]! <= 0x20) j--
  return i < end && buf[i] === OPEN_BRACE && buf[j] === CLOSE_BRACE
}

/** A line's JSON text without the blanks around it (most lines have none: no copy). */
export function trimmedLine(text: string): string {
  return text.charCodeAt(0) === OPEN_BRACE && text.charCodeAt(text.length - 1) === CLOSE_BRACE ? text : text.trim()
}

/** First and last non-blank characters are `{` and `}`. */
export function looksLikeObject(text: string): boolean {
  let i = 0
  while (i < text.length && text.charCodeAt(i) <= 0x20) i++
  let j = text.length - 1
  while (j > i && text.charCodeAt(j) <= 0x20) j--
  return text.charCodeAt(i) === OPEN_BRACE && text.charCodeAt(j) === CLOSE_BRACE
}
