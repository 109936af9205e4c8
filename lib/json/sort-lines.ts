// The worker thread's half of sorting an NDJSON file (`--order-by`): it parses the lines it found,
// reads each event's sort key, and makes the records the sort holds (sort/record-batch.ts), so the
// main thread only copies, sorts and spills them. Lines that are not events are left, as entries
// of a batch of their own, for the main thread to report exactly as it reports any other.
import { unwrapDeadLetter } from '../dead-letter.js'
import { orderKey, type KeyReader } from '../sort/key.js'
import { RecordEncoder } from '../sort/record-batch.js'
import { LINE, META, newBatch, trimmedLine, type LineBatch } from '../util/line-scan.js'

/** What a worker needs of a SortRecordRequest (no functions), with the file's table index. */
export interface SortLinesJob {
  readonly orderBy: readonly string[]
  readonly absent: string
  readonly keepText: boolean
  readonly fileId: number
}

/** The records made of one batch of lines, as they cross to the main thread (`bytes` is transferred). */
export interface SortedLines {
  readonly bytes: ArrayBuffer
  readonly used: number
  readonly ends: Int32Array
  readonly firstKey: string
  readonly lastKey: string
  readonly sorted: boolean
  /** Events whose key or text could not be made (JSON.stringify threw): line, offset, next, why, and their place among the batch's events. */
  readonly unheld: readonly { readonly line: number; readonly offset: number; readonly next: number; readonly message: string; readonly at: number }[]
}

/** Turns batches of lines into records, and the entries that are not events into a batch of their own. */
export class LineSorter {
  readonly #keyOf: KeyReader
  readonly #encoderBytes: number
  /** Buffers of earlier batches, given back once their records were held: reused, not allocated again. */
  readonly #spare: ArrayBuffer[] = []

  constructor(
    readonly job: SortLinesJob,
    encoderBytes = 1 << 20,
  ) {
    this.#keyOf = orderKey(job.orderBy)
    this.#encoderBytes = encoderBytes
  }

  /** Gives back the buffer of a batch whose records are held (copied) now (one grown for a huge line is let go). */
  release(bytes: ArrayBuffer): void {
    if (this.#spare.length < 8 && bytes.byteLength > 0 && bytes.byteLength <= 2 * this.#encoderBytes) this.#spare.push(bytes)
  }

  encode(batch: LineBatch): { records: SortedLines; batch: LineBatch } {
    const { absent, keepText, fileId } = this.job
    const keyOf = this.#keyOf
    const encoder = new RecordEncoder(this.#encoderBytes, this.#spare.pop())
    const rest = newBatch()
    rest.skippedAfter = batch.skippedAfter
    const { meta, texts } = batch
    const unheld: SortedLines['unheld'][number][] = []
    let first: string | undefined
    let last = ''
    let sorted = true
    let t = 0
    for (let m = 0; m < meta.length; m += META) {
      const text = meta[m] === LINE ? texts[t++]! : undefined
      let event: Record<string, unknown> | undefined
      let value: unknown
      if (text !== undefined) {
        try {
          value = JSON.parse(text)
        } catch {
          // A blank line is no entry at all; any other is reported by the main thread.
          if (text.trim() === '') continue
        }
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) event = unwrapDeadLetter(value as Record<string, unknown>)
      }
      if (!event) {
        rest.meta.push(meta[m]!, meta[m + 1]!, meta[m + 2]!, meta[m + 3]!, meta[m + 4]!)
        if (text !== undefined) rest.texts.push(text)
        continue
      }
      let key: string
      let held: string
      try {
        key = keyOf(event) ?? absent
        // The line's own object is held as read; a dead letter's event is not its line.
        held = keepText && event === value ? trimmedLine(text!) : JSON.stringify(event)
      } catch (error) {
        unheld.push({ line: meta[m + 1]!, offset: meta[m + 2]!, next: meta[m + 3]!, message: (error as Error)?.message ?? String(error), at: encoder.ends.length + unheld.length })
        continue
      }
      encoder.add(key, fileId, meta[m + 1]!, meta[m + 2]!, meta[m + 3]!, held)
      if (first === undefined) first = key
      else if (key < last) sorted = false
      last = key
    }
    const records: SortedLines = { bytes: encoder.bytes.buffer as ArrayBuffer, used: encoder.used, ends: Int32Array.from(encoder.ends), firstKey: first ?? '', lastKey: last, sorted, unheld }
    return { records, batch: rest }
  }
}
