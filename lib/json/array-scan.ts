// Finds the elements of a top-level JSON array at the byte level (strings, escapes and depth
// tracked; strings skipped with indexOf), so that each element is handed to JSON.parse whole: a
// JSON array reads at about the speed of NDJSON. Memory holds the element being read, no more.
import { isUtf8 } from 'node:buffer'
import { INVALID_UTF8, LINE, type LineBatch, newBatch, TOO_LONG } from '../util/line-scan.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const OPEN_SQUARE = 0x5b
const CLOSE_SQUARE = 0x5d
const OPEN_CURLY = 0x7b
const CLOSE_CURLY = 0x7d

/** Bytes that matter inside an element: quotes and brackets (commas only at the top level). */
const STRUCTURAL = new Uint8Array(256)
for (const b of [0x22, 0x5b, 0x5d, 0x7b, 0x7d]) STRUCTURAL[b] = 1

const NO_PIECES: readonly Buffer[] = Object.freeze([])

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

/** One element's bytes (possibly in several pieces) and where it starts in the input. */
export interface ScannedElement {
  readonly pieces: readonly Buffer[]
  readonly bytes: number
  /** Byte offset of its first byte in the (decompressed) input. */
  readonly offset: number
  /** It was longer than `maxBytes`: its pieces were dropped. */
  readonly tooLong: boolean
  /** It lies whole in the chunk just pushed, at `[start, end)`; `pieces` is then empty. */
  readonly inChunk: boolean
  readonly start: number
  readonly end: number
}

/** A structural problem: where, and what. */
export class ArrayScanError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message)
  }
}

/**
 * Feed it the input's chunks in order; `push` returns the elements completed in each. Before the
 * `[` only whitespace (and a BOM) may come, after the `]` only whitespace; an empty element
 * (`[1,,2]`, `[1,]`) or a missing `]` is an {@link ArrayScanError} with its byte offset. Brackets
 * inside an element are only counted: the element's own JSON is checked by JSON.parse.
 */
export class ArrayScanner {
  #state: 'before' | 'inside' | 'after' = 'before'
  #depth = 0
  #inString = false
  /** Backslashes that ended the last chunk inside a string. */
  #carry = 0
  #pieces: Buffer[] = []
  #bytes = 0
  #start = -1
  #offset = 0
  #elementOffset = 0
  #tooLong = false
  #sawElement = false
  #bom = true
  /** A problem found after some elements of a chunk: those are returned first, then it is thrown. */
  #error: ArrayScanError | undefined

  constructor(readonly maxBytes = 64 * 1024 * 1024) {}

  /** The array's `]` has been read. */
  get ended(): boolean {
    return this.#state === 'after'
  }

  push(chunk: Buffer): ScannedElement[] {
    if (this.#error) throw this.#error
    const out: ScannedElement[] = []
    try {
      this.#scan(chunk, out)
    } catch (error) {
      if (!(error instanceof ArrayScanError) || out.length === 0) throw error
      this.#error = error
    }
    return out
  }

  #scan(chunk: Buffer, out: ScannedElement[]): void {
    const len = chunk.length
    let i = 0
    if (this.#bom && len > 0) {
      this.#bom = false
      if (len >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3
    }
    // Where the element in progress starts in this chunk (0 when it began in an earlier one).
    let start = this.#start >= 0 ? 0 : -1
    let carry = this.#carry
    this.#carry = 0
    while (i < len) {
      if (this.#inString) {
        const q = chunk.indexOf(QUOTE, i)
        if (q === -1) {
          let k = len - 1
          while (k >= i && chunk[k] === BACKSLASH) k--
          this.#carry = (k < i ? carry : 0) + (len - 1 - k)
          i = len
          break
        }
        let k = q - 1
        while (k >= i && chunk[k] === BACKSLASH) k--
        const run = q - 1 - k + (k < i ? carry : 0)
        carry = 0
        i = q + 1
        if (run % 2 === 0) this.#inString = false
        continue
      }
      carry = 0
      if (this.#depth > 1) {
        // Inside an element's own brackets only quotes and brackets matter: skip the rest fast.
        while (i < len && STRUCTURAL[chunk[i]!] === 0) i++
        if (i >= len) break
      }
      const b = chunk[i]!
      if (this.#state === 'inside') {
        if (this.#depth === 1) {
          if (b === COMMA || b === CLOSE_SQUARE) {
            if (start < 0) {
              if (b === CLOSE_SQUARE && !this.#sawElement) {
                this.#state = 'after'
                this.#depth = 0
                i++
                continue
              }
              throw new ArrayScanError(b === COMMA ? 'an empty element (two commas, or a comma first)' : 'a comma before the closing `]`', this.#offset + i)
            }
            out.push(this.#finish(chunk, start, i))
            start = -1
            if (b === CLOSE_SQUARE) {
              this.#state = 'after'
              this.#depth = 0
            }
            i++
            continue
          }
          if (start < 0 && !isSpace(b)) {
            start = i
            this.#sawElement = true
            this.#elementOffset = this.#offset + i
          }
        }
        if (b === QUOTE) this.#inString = true
        else if (b === OPEN_CURLY || b === OPEN_SQUARE) this.#depth++
        else if (b === CLOSE_CURLY || b === CLOSE_SQUARE) {
          if (this.#depth <= 1) throw new ArrayScanError(`an unexpected \`${String.fromCharCode(b)}\``, this.#offset + i)
          this.#depth--
        }
        i++
      } else if (isSpace(b)) i++
      else if (this.#state === 'before' && b === OPEN_SQUARE) {
        this.#state = 'inside'
        this.#depth = 1
        i++
      } else {
        throw new ArrayScanError(this.#state === 'before' ? `expected \`[\`, found \`${String.fromCharCode(b)}\`` : `content after the closing \`]\``, this.#offset + i)
      }
    }
    if (start >= 0) {
      this.#keep(chunk.subarray(start))
      this.#start = 0
    } else this.#start = -1
    this.#offset += len
  }

  /** The input ended: throws when the array is not complete. */
  end(): void {
    if (this.#error) throw this.#error
    if (this.#state === 'before') throw new ArrayScanError('no JSON array: the input is empty', this.#offset)
    if (this.#state === 'inside') throw new ArrayScanError(this.#inString ? 'the input ends inside a string' : 'the input ends before the closing `]`', this.#offset)
  }

  #keep(piece: Buffer): void {
    if (this.#tooLong) return
    this.#bytes += piece.length
    if (this.#bytes > this.maxBytes) {
      this.#tooLong = true
      this.#pieces = []
    } else this.#pieces.push(piece)
  }

  #finish(chunk: Buffer, start: number, end: number): ScannedElement {
    // Whole in this chunk (the common case): no piece is cut, the reader decodes it in place.
    if (this.#pieces.length === 0 && !this.#tooLong && end - start <= this.maxBytes) {
      const element: ScannedElement = { pieces: NO_PIECES, bytes: end - start, offset: this.#elementOffset, tooLong: false, inChunk: true, start, end }
      this.#bytes = 0
      this.#start = -1
      return element
    }
    this.#keep(chunk.subarray(start, end))
    const element: ScannedElement = { pieces: this.#pieces, bytes: this.#bytes, offset: this.#elementOffset, tooLong: this.#tooLong, inChunk: false, start: 0, end: 0 }
    this.#pieces = []
    this.#bytes = 0
    this.#tooLong = false
    this.#start = -1
    return element
  }
}

/**
 * The elements of a top-level array as batches (see util/line-scan.ts): per element, in `meta`,
 * kind (LINE, TOO_LONG, INVALID_UTF8), index, byte offset, 1 when its text is one line (0 if not),
 * and 0; `texts` holds the text of each LINE entry. Elements before `startIndex` are counted, not
 * decoded. Runs on the main thread or in a worker thread (line-worker.ts). `push` and `end` throw
 * {@link ArrayScanError} as the scanner does; `index` is then the elements seen so far.
 */
export class ArrayBatcher {
  readonly #scanner: ArrayScanner
  index = 0

  constructor(
    maxBytes: number,
    readonly startIndex = 0,
  ) {
    this.#scanner = new ArrayScanner(maxBytes)
  }

  push(chunk: Buffer): LineBatch {
    const elements = this.#scanner.push(chunk)
    const batch = newBatch()
    // One UTF-8 check for the whole chunk; elements are checked alone only when it fails (or when
    // they span chunks), so a bad byte still fails just its element.
    const chunkIsUtf8 = isUtf8(chunk)
    // The next LF and CR at or after an element's start (-1: none left in the chunk; -2: not
    // looked for yet): searched for again only once passed, one search per line break.
    let lf = -2
    let cr = -2
    for (const element of elements) {
      const i = this.index++
      if (i < this.startIndex) continue
      if (element.tooLong) {
        batch.meta.push(TOO_LONG, i, element.offset, 0, 0)
        continue
      }
      let json: string
      let oneLine: boolean
      if (element.inChunk) {
        if (!chunkIsUtf8 && !isUtf8(chunk.subarray(element.start, element.end))) {
          batch.meta.push(INVALID_UTF8, i, element.offset, 0, 0)
          continue
        }
        json = chunk.toString('utf8', element.start, element.end)
        // The element without the blanks around it (a line break after it does not count).
        let from = element.start
        let to = element.end
        while (from < to && chunk[from]! <= 0x20) from++
        while (to > from && chunk[to - 1]! <= 0x20) to--
        if (lf !== -1 && lf < from) lf = chunk.indexOf(0x0a, from)
        if (cr !== -1 && cr < from) cr = chunk.indexOf(0x0d, from)
        oneLine = (lf === -1 || lf >= to) && (cr === -1 || cr >= to)
      } else {
        const bytes = element.pieces.length === 1 ? element.pieces[0]! : Buffer.concat(element.pieces as Buffer[], element.bytes)
        if (!isUtf8(bytes)) {
          batch.meta.push(INVALID_UTF8, i, element.offset, 0, 0)
          continue
        }
        json = bytes.toString('utf8')
        const trimmed = json.trim()
        oneLine = trimmed.indexOf('\n') === -1 && trimmed.indexOf('\r') === -1
      }
      batch.meta.push(LINE, i, element.offset, oneLine ? 1 : 0, 0)
      batch.texts.push(json)
    }
    return batch
  }

  end(): void {
    this.#scanner.end()
  }
}
