// Records made away from the run that holds them: on the worker thread that parses an NDJSON
// file's lines (json/sort-lines.ts), handed to the sort in batches (HeldRun.addRecords copies them).
import type { Position } from '../position.js'
import { LINE_BYTES, writeLinePosition } from './position-codec.js'

/**
 * Makes held records away from the run that holds them (on the worker thread that parses the
 * lines): the same bytes `HeldRun.add` writes for an event with a line position, appended to one
 * buffer that `HeldRun.addRecords` copies as it is. Records end at even offsets.
 */
export class RecordEncoder {
  bytes: Buffer
  #units: Uint16Array
  used = 0
  readonly ends: number[] = []

  /** A buffer of `capacity` bytes, or `reuse` (one given back after an earlier batch) when it is as big. */
  constructor(capacity = 1 << 20, reuse?: ArrayBuffer) {
    this.bytes = reuse && reuse.byteLength >= capacity ? Buffer.from(reuse) : Buffer.allocUnsafeSlow(capacity)
    this.#units = new Uint16Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >>> 1)
  }

  /** Appends the record of an event read at line `line` (`offset`, `next`) of the file `fileId`. */
  add(key: string, fileId: number, line: number, offset: number, next: number, text: string): void {
    let start = this.used
    const head = start + 12 + 2 * key.length + LINE_BYTES + 1
    if (head + 3 * text.length > this.bytes.length && head + Buffer.byteLength(text) > this.bytes.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(head + Buffer.byteLength(text), 2 * this.bytes.length))
      this.bytes.copy(bigger, 0, 0, start)
      this.bytes = bigger
      this.#units = new Uint16Array(bigger.buffer, bigger.byteOffset, bigger.length >>> 1)
    }
    const bytes = this.bytes
    bytes.writeUInt32LE(2 * key.length, start)
    const first = (start + 4) >> 1
    for (let i = 0; i < key.length; i++) this.#units[first + i] = key.charCodeAt(i)
    const at = start + 4 + 2 * key.length
    bytes.writeUInt32LE(LINE_BYTES, at)
    writeLinePosition(bytes, at + 8, fileId, line, offset, next)
    const textAt = at + 8 + LINE_BYTES
    let n = bytes.write(text, textAt)
    if ((textAt + n) & 1) bytes[textAt + n++] = 0x20
    bytes.writeUInt32LE(n, at + 4)
    start = textAt + n
    this.used = start
    this.ends.push(start)
  }
}


/**
 * What a sort asks of a source that can hand over held records instead of events (`useSortRecords`):
 * the key, what an event without it sorts as, whether to hold the text each event was read as, and
 * the table index of a file's line positions (-1: the table is full, read that file as events).
 */
export interface SortRecordRequest {
  readonly orderBy: readonly string[]
  /** The key of an event without one (`''`: first, `'h'`: last). */
  readonly absent: string
  /** Hold the text each event was read as (else JSON.stringify's). */
  readonly keepText: boolean
  /**
   * Whether a worker thread pays when the source is left to decide: not when the sort's memory is
   * too small to leave the thread its share (its own heap is some 80 MB).
   */
  readonly workerPays: boolean
  readonly fileId: (source: string, file: string) => number
}

/** A source that can yield {@link SortRecords} in place of events, once asked (before it is read). */
export interface SortRecordSource {
  useSortRecords?(request: SortRecordRequest): boolean
}

/**
 * A batch of held records, in source order, yielded by a source in place of the events they hold
 * (see SortRecordRequest): record i ends at `ends[i]` in `bytes`. `sorted` says whether their keys
 * never go down, from `firstKey` to `lastKey`.
 */
export class SortRecords {
  constructor(
    readonly bytes: Buffer,
    readonly ends: Int32Array,
    readonly firstKey: string,
    readonly lastKey: string,
    readonly sorted: boolean,
    /** Events of the batch that could not be held (their key or text could not be made: JSON.stringify threw), with their place among its events. */
    readonly unheld: readonly { readonly position: Position; readonly message: string; readonly at: number }[] = [],
  ) {}

  get count(): number {
    return this.ends.length
  }
}
