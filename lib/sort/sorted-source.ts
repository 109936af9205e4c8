import { tmpdir } from 'node:os'
import { HydratorError, errorMessage } from '../errors.js'
import { positionOf, setPosition } from '../position.js'
import { rawTextOf, setRawText } from '../raw-text.js'
import { TextEvent, type TextEventPositions } from '../text-event.js'
import { checkSortedResume, type SortedPosition } from './position.js'
import type { ItemFailure, Position, Source, SourceStats } from '../types.js'
import { parseTagged, stringifyTagged } from '../util/tagged-json.js'
import { orderKey, parseOrderBy } from './key.js'
import { SortRecords, type SortRecordSource } from './record-batch.js'
import { RunMerge, mergeDown } from './merge.js'
import { PositionCodec } from './position-codec.js'
import { HeldRun, readEntry, recordPosition, recordText } from './record.js'
import { SpillFolder, type StatFs } from './spill.js'

/** What an event without the sort key does: fails (ERR_ORDER_KEY_MISSING), or sorts first or last. */
export type OrderMissing = 'fail' | 'first' | 'last'

/**
 * Of `memoryBytes`, what a worker thread that parses the events for the sort (an NDJSON file's
 * lines) is taken to use (three eighths at most; its own heap is some 80 MB): so much less is held.
 */
const WORKER_SHARE = 96 * 2 ** 20
/** Below this `memoryBytes` the worker's own heap would dwarf its share: the source decides without it (unless `workers: true`). */
const WORKER_MIN_MEMORY = 128 * 2 ** 20

/** Options of {@link sortSource}. */
export interface SortSourceOptions {
  /** JSON path(s) of the sort key: `time`, `detail.sequence,id`, or a list. */
  readonly orderBy: string | readonly string[]
  /** Events without the key: `fail` and `first` put them first (in source order; `orderKeyCheck` fails them), `last` last. @default 'fail' */
  readonly missing?: OrderMissing
  /**
   * Bytes of events held in memory before a sorted run is spilled; less three eighths (at most 96 MiB)
   * when the events come as records from a worker thread (an NDJSON file's). @default 268435456 (256 MiB)
   */
  readonly memoryBytes?: number
  /** Where sorted runs are spilled (a folder of its own inside it, removed at the end). @default os.tmpdir() */
  readonly tempDir?: string
  /** Stops reading (and removes the spilled runs) during the sorting phase. */
  readonly signal?: AbortSignal
  /** A resume: the checkpoint's mark; the events up to it in sorted order are not yielded again. */
  readonly resume?: Position
  /** Events are plain JSON (JSON sources): spill with JSON.stringify, not the binary-aware encoding. @default false */
  readonly plainJson?: boolean
  /** The source URI, for positions and the report. */
  readonly uri?: string
  /** Free-space lookup (tests). @default fs.promises.statfs */
  readonly statfs?: StatFs
}

/**
 * The events of a source sorted by a key, stably (equal keys keep their source order), with an
 * external merge sort: events are held as JSON text in one buffer (record.ts) up to `memoryBytes`,
 * then sorted and spilled as runs to a folder in `tempDir`, and the runs are merged (k-way, in
 * several passes when there are many) as they are yielded. A source already in order is never spilled: when it fills the
 * memory while still in order and `open` can read it again, the rest is only checked, and a second
 * read yields it as it comes. The spill folder is removed at the end, on failure, on abort and on
 * exit. Each event yielded carries a `sorted` position (its ordinal in sorted order, and where it
 * came from), which is what a checkpoint records; `resume` skips the events up to such a mark.
 * Unreadable records are reported before the first event; on a resume, those a checkpoint covers
 * are not reported again.
 *
 * @example
 * const source = sortSource(() => readJsonLines('events.ndjson'), { orderBy: 'time', plainJson: true })
 */
export function sortSource(open: Source<unknown> | (() => Source<unknown> | Promise<Source<unknown>>), options: SortSourceOptions): Source<unknown> {
  const memory = options.memoryBytes ?? 256 * 2 ** 20
  if (!Number.isInteger(memory) || memory < 1024) throw new HydratorError('ERR_INVALID_OPTION', `expected \`sortMemory\` (--sort-memory) to be at least 1024 bytes, got \`${String(memory)}\``)
  const missing = options.missing ?? 'fail'
  if (!['fail', 'first', 'last'].includes(missing)) throw new HydratorError('ERR_INVALID_OPTION', `expected \`orderMissing\` (--order-missing) to be fail, first or last, got \`${String(missing)}\``)
  const paths = parseOrderBy(options.orderBy)
  const keyOf = orderKey(paths)
  const absent = missing === 'last' ? 'h' : ''
  const resume = options.resume
  if (resume && resume.kind !== 'sorted') throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `the checkpoint's mark is a \`${resume.kind}\` position; a sorted run resumes from a \`sorted\` one`)
  const skip = resume ? resume.index + 1 : 0
  // Unreadable records come before every event: a mark on an event covers all of them.
  const suppress = resume ? (resume.index >= 0 ? Infinity : resume.failures) : 0
  const reopen = typeof open === 'function' ? open : undefined
  const folder = new SpillFolder(options.tempDir ?? tmpdir(), options.statfs)
  const stringify = options.plainJson ? JSON.stringify : stringifyTagged
  // Asked by run(): keepText (nothing after the sort changes events, the sink writes JSON lines):
  // events keep the text they were read as, which is what is held and spilled (no JSON.stringify);
  // textOnly (nothing after the sort looks inside): events with the key are yielded as that text alone.
  let keepText = false
  let textOnly = false
  let started = false
  const parse = options.plainJson
    ? (text: string): unknown => {
        const value: unknown = JSON.parse(text)
        return keepText ? setRawText(value, text) : value
      }
    : parseTagged
  // Events without the key are parsed all the same: orderKeyCheck fails them, with their fields.
  const asText = (keyless: boolean) => textOnly && keepText && !(missing === 'fail' && keyless)
  // A TextEvent's position is made only when asked (a checkpoint, a failure): from its record.
  const textPositions: TextEventPositions = {
    position: (buffer, record, index) => at(index, recordPosition(codec, buffer, record)),
  }
  /** The event of the record at `record` (after its key) in `buffer`, `index`-th in sorted order (a TextEvent keeps `buffer`). */
  const eventAt = (buffer: Buffer, record: number, index: number, keyless: boolean): unknown => {
    if (!asText(keyless)) {
      const [position, event] = readEntry(codec, buffer, record, parse)
      return setPosition(event, at(index, position))
    }
    const [start, end] = recordText(buffer, record)
    return new TextEvent(buffer, start, end, textPositions, record, index)
  }
  const codec = new PositionCodec(stringify, parse)
  const chunkBytes = Math.min(2 ** 20, Math.max(4096, Math.floor(memory / 128)))
  const fanIn = Math.min(128, Math.max(2, Math.floor(memory / (2 * chunkBytes))))

  let current: Source<unknown> | undefined
  const sort = { phase: 'sorting' as 'sorting' | 'writing', read: 0, runs: 0, total: undefined as number | undefined }
  const stats: SourceStats = {
    uri: options.uri ?? 'iterable',
    read: 0,
    failed: 0,
    prefiltered: 0,
    get bytesRead() {
      return current?.stats?.bytesRead ?? 0
    },
    get bytesTotal() {
      return current?.stats?.bytesTotal
    },
    get workerThreads() {
      return current?.stats?.workerThreads
    },
    sort,
    ...(resume ? { startedAt: resume } : {}),
  }
  const listeners: ((failure: ItemFailure) => void)[] = []
  const samples: ItemFailure[] = []
  // Failures reported (or covered by the checkpoint) so far: a second read of the source reports only later ones.
  let reported = 0
  let passFailures = 0

  const fail = (failure: ItemFailure) => {
    const k = passFailures++
    if (k < reported) return
    reported++
    if (k < suppress) return
    const position: SortedPosition = { kind: 'sorted', source: stats.uri, index: -1, failures: reported, ...(failure.position ? { origin: failure.position } : {}) }
    const wrapped = { ...failure, position }
    stats.failed++
    if (samples.length < 20) samples.push(wrapped)
    for (const l of listeners) l(wrapped)
  }

  async function openPass(records: boolean): Promise<Source<unknown>> {
    const source = reopen ? await reopen() : (open as Source<unknown>)
    if (reopen || !current) {
      source.addFailureListener?.(fail)
      if (keepText && !source.useRawText?.()) keepText = false
      // A JSON source may hand over held records (made on a worker thread) in place of events.
      if (records && options.plainJson) {
        const workerPays = memory >= WORKER_MIN_MEMORY
        ;(source as SortRecordSource).useSortRecords?.({ orderBy: paths, absent, keepText, workerPays, fileId: (s, f) => codec.fileId(s, f) })
      }
    }
    passFailures = 0
    current = source
    return source
  }

  const aborted = () => options.signal?.aborted === true
  /** An event's sort key (`absent` without one); undefined, and the event failed, when it cannot be made. */
  const sortKey = (event: unknown): string | undefined => {
    try {
      return keyOf(event) ?? absent
    } catch (error) {
      unholdable(positionOf(event), errorMessage(error))
      return undefined
    }
  }
  /** The text an event is held as, its position readied in `codec` (`codec.prepared` bytes); or why it cannot be held. */
  const holdText = (event: unknown, position: Position | undefined): string | Error => {
    try {
      codec.prepare(position)
      return (keepText ? rawTextOf(event) : undefined) ?? stringify(event) ?? 'null'
    } catch (error) {
      return new Error(errorMessage(error))
    }
  }
  /** An event whose key or text cannot be made (JSON.stringify threw: a cycle, a BigInt, nesting too deep). */
  const unholdable = (position: Position | undefined, message: string) =>
    fail({ stage: 'sort', code: 'ERR_UNSERIALIZABLE', message: `cannot hold the event for sorting: ${message}`, ...(position ? { position } : {}) })
  // One object literal per event (no spreads): every event yielded gets one.
  const at = (index: number, origin: unknown): SortedPosition => {
    const total = sort.total
    if (total === undefined) return { kind: 'sorted', source: stats.uri, index, failures: reported, ...(origin ? { origin: origin as Position } : {}) }
    return origin ? { kind: 'sorted', source: stats.uri, index, failures: reported, total, origin: origin as Position } : { kind: 'sorted', source: stats.uri, index, failures: reported, total }
  }

  async function spill(held: HeldRun, inOrder: boolean, inputBytes: number): Promise<void> {
    const size = held.diskBytes
    // Before the first run: is there room for all of them? (the source's size when known, else this run's)
    const total = current?.stats?.bytesTotal
    const read = current?.stats?.bytesRead ?? 0
    const ratio = inputBytes > 0 ? size / inputBytes : 1
    const rest = total && total > read ? (total - read) * ratio : 0
    await folder.checkSpace(size + rest)
    const order = held.order(inOrder)
    const writer = await folder.create()
    try {
      await held.writeTo(writer, order)
    } finally {
      await writer.close()
    }
    sort.runs = folder.runs
  }

  async function* generate(): AsyncGenerator<unknown> {
    started = true
    const held = new HeldRun(codec, memory)
    // The keys of the run being held are in order so far: it is written without sorting.
    let runInOrder = true
    let inOrder = true
    let checking = false
    let last: string | undefined
    let count = 0
    // Events of this read, held or not, and (first read) the numbers of those left out (their key or
    // text could not be made): a second read of a source in order leaves out the same ones.
    let seen = 0
    const leftOut = new Set<number>()
    let bytesAtRun = 0
    let workerShare = 0
    let mode: 'sort' | 'restart' | 'again' = 'sort'
    let merge: RunMerge | undefined
    // The run is full: spilled, or (in order so far, with a source that can be read again) let go,
    // to check the rest without holding it and read it again if it stays in order.
    const full = async (pass: number) => {
      if (inOrder && reopen && pass === 0 && folder.runs === 0) {
        checking = true
        held.release()
        return
      }
      const now = current?.stats?.bytesRead ?? 0
      await spill(held, runInOrder, now - bytesAtRun)
      bytesAtRun = now
      held.clear()
      runInOrder = true
    }

    try {
      for (let pass = 0; pass < 2; pass++) {
        const source = await openPass(true)
        held.clear()
        runInOrder = true
        count = 0
        seen = 0
        last = undefined
        inOrder = true
        checking = false
        let disorder = false
        for await (const event of source) {
          if (aborted()) return
          if (event instanceof SortRecords) {
            // A batch of events as held records: checked for order as a whole, held as they are.
            for (const { position, message, at } of event.unheld) {
              leftOut.add(seen + at + 1)
              unholdable(position, message)
            }
            seen += event.count + event.unheld.length
            if (event.count === 0) continue
            if (!workerShare) {
              // They come from a worker thread, whose memory is part of the sort's.
              workerShare = Math.min(WORKER_SHARE, Math.floor((memory * 3) / 8))
              held.budgetBytes = Math.max(1024, held.budgetBytes - workerShare)
            }
            count += event.count
            sort.read = count
            if ((last !== undefined && event.firstKey < last) || !event.sorted) {
              inOrder = false
              if (held.length > 0 || !event.sorted) runInOrder = false
            }
            last = event.lastKey
            if (checking) {
              if (inOrder) continue
              disorder = true
              break
            }
            for (let from = 0; from < event.count && !checking; ) {
              from = held.addRecords(event.bytes, event.ends, from)
              if (held.full) {
                await full(pass)
                if (!event.sorted) runInOrder = false
              }
            }
            continue
          }
          seen++
          const key = sortKey(event)
          if (key === undefined) {
            leftOut.add(seen)
            continue
          }
          count++
          sort.read = count
          if (last !== undefined && key < last) {
            inOrder = false
            if (held.length > 0) runInOrder = false
          }
          last = key
          if (checking) {
            if (!inOrder) {
              disorder = true
              break
            }
            continue
          }
          const position = positionOf(event)
          const hold = holdText(event, position)
          if (typeof hold !== 'string') {
            count--
            leftOut.add(seen)
            unholdable(position, hold.message)
            continue
          }
          const text = hold
          const positionBytes = codec.prepared
          held.add(key, positionBytes, text)
          if (held.full) await full(pass)
        }
        if (aborted()) return
        if (disorder) {
          mode = 'restart'
          continue
        }
        if (checking) mode = 'again'
        break
      }

      sort.total = count
      checkSortedResume(resume, count, reported)
      if (mode === 'again') {
        // The source is in order: a second read yields it as it comes.
        const source = await openPass(false)
        sort.phase = 'writing'
        let index = 0
        last = undefined
        seen = 0
        for await (const event of source) {
          if (leftOut.has(++seen)) {
            // (Reported on the first read: told again only to keep the count of failures in step.)
            unholdable(positionOf(event), 'left out on the first read')
            continue
          }
          const key = sortKey(event)
          if (key === undefined) continue
          if (last !== undefined && key < last) throw new HydratorError('ERR_SOURCE_READ', `${stats.uri}: the source changed between two reads (no longer in order at event ${index + 1})`)
          last = key
          if (index >= skip) {
            stats.read++
            yield setPosition(event, at(index, positionOf(event)))
          }
          index++
        }
        if (index !== count) throw new HydratorError('ERR_SOURCE_READ', `${stats.uri}: the source changed between two reads (${count} events, then ${index})`)
        return
      }
      if (folder.runs === 0) {
        const order = held.order(runInOrder)
        sort.phase = 'writing'
        for (let index = skip; index < order.length; index++) {
          const event = held.entry(order[index]!, (buffer, record, keyless) => eventAt(buffer, record, index, keyless))
          stats.read++
          yield event
        }
        return
      }
      if (held.length) await spill(held, runInOrder, (current?.stats?.bytesRead ?? 0) - bytesAtRun)
      held.release()
      const files = await mergeDown(folder, fanIn, chunkBytes, aborted)
      if (!files) return
      sort.phase = 'writing'
      // Events yielded as their bytes keep the buffer they lie in: a run reads on into a new one.
      merge = new RunMerge(files, chunkBytes, asText(false))
      await merge.open()
      let index = 0
      for (let top = merge.top; top; top = merge.top) {
        if (index >= skip) {
          const reader = top.reader
          const event = eventAt(reader.buffer, reader.at + 4 + reader.buffer.readUInt32LE(reader.at), index, top.key === '')
          if (!merge.advance()) await merge.refill()
          stats.read++
          yield event
        } else if (!merge.advance()) await merge.refill()
        index++
      }
    } finally {
      held.release()
      await merge?.close()
      await folder.remove()
    }
  }

  const iterable = generate()
  return Object.assign(iterable, {
    stats,
    failures: { samples },
    addFailureListener(listener: (failure: ItemFailure) => void) {
      listeners.push(listener)
    },
    useRawText(): boolean {
      if (started || !options.plainJson) return false
      keepText = true
      return true
    },
    useTextOnly(): boolean {
      if (started || !keepText) return false
      textOnly = true
      return true
    },
  })
}

