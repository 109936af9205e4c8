import { randomBytes } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { HydratorError, errorMessage } from './errors.js'
import { positionOf } from './position.js'
import type { Position } from './types.js'
import { parseTagged, stringifyTagged } from './util/tagged-json.js'

/** What a checkpoint must match so it is never applied to a different run by mistake. */
export interface CheckpointIdentity {
  readonly source: string
  readonly filter: string
  readonly sink: string
}

/** Counts carried from run to run, so a resumed run's totals can be combined with earlier ones. */
export interface CheckpointTotals {
  read: number
  matched: number
  unmatched: number
  written: number
  skipped: number
  failed: number
  sourceFailed: number
}

/** The content of a checkpoint file. */
export interface Checkpoint {
  readonly version: 1
  readonly identity: CheckpointIdentity
  /** Everything up to and including this position has been fully handled; undefined: nothing yet. */
  readonly position?: Position
  /** What the sink recorded for an exact resume (e.g. the NDJSON sink's byte length). */
  readonly sinkState?: unknown
  /** The source was read to the end and every event handled. */
  readonly complete: boolean
  /** Totals over this run and every earlier run resumed from this checkpoint. */
  readonly totals: CheckpointTotals
  readonly updatedAt: string
}

/**
 * Writes a checkpoint atomically: a temporary file beside it, then a rename, so a crash leaves the
 * old or the new checkpoint, never a torn one. Binary values (DynamoDB B keys in a cursor) are
 * written as `{ "$binary": base64 }` and read back as Uint8Arrays.
 */
export async function writeCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temp, stringifyTagged(checkpoint, 2) + '\n')
  await rename(temp, file)
}

/**
 * Reads a checkpoint; undefined when the file does not exist. Throws ERR_CHECKPOINT_MISMATCH when it
 * belongs to another run (other source, filter or sink).
 *
 * @example
 * const ckpt = await readCheckpoint('run.ckpt', identity)
 * const source = readJsonLines('events.ndjson', resumeOptions(ckpt?.position))
 */
export async function readCheckpoint(file: string, identity: CheckpointIdentity): Promise<Checkpoint | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return undefined
  }
  let checkpoint: Checkpoint
  try {
    checkpoint = parseTagged(text) as Checkpoint
  } catch (error) {
    throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${file}: not a checkpoint file (${errorMessage(error)})`)
  }
  if (checkpoint?.version !== 1 || !checkpoint.identity) {
    throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${file}: not a checkpoint file of this version`)
  }
  for (const field of ['source', 'filter', 'sink'] as const) {
    if (checkpoint.identity[field] !== identity[field]) {
      throw new HydratorError(
        'ERR_CHECKPOINT_MISMATCH',
        `--checkpoint ${file} belongs to another run: its ${field} is \`${checkpoint.identity[field]}\`, this run's is \`${identity[field]}\`. Use another checkpoint file, or delete it to start over.`,
      )
    }
  }
  return checkpoint
}

/**
 * The options that make a built-in JSON source start just after `position`: `startAt` for NDJSON
 * (by byte offset, nothing before is read again), `startIndex` for arrays and folders.
 */
export function resumeOptions(position: Position | undefined): { startAt?: { file: string; offset: number; line: number }; startIndex?: number } {
  if (!position) return {}
  if (position.next !== undefined && position.file !== undefined && position.line !== undefined) {
    return { startAt: { file: position.file, offset: position.next, line: position.line + 1 } }
  }
  if (position.index !== undefined) return { startIndex: position.index + 1 }
  return {}
}

interface Entry {
  readonly position: Position
  /** How many events had passed when this one was received: its place in the stream. */
  readonly seq: number
  settled: boolean
}

/**
 * Tracks the low-water mark: the position up to which every event has been fully handled (written,
 * skipped, failed, or dropped by a filter), correct with batches and writes in flight. Memory holds
 * only the events in flight.
 */
export class CheckpointTracker {
  #queue: Entry[] = []
  #head = 0
  readonly #byEvent = new Map<object, Entry[]>()
  #lastPassed: Position | undefined
  #passed = 0
  #markSeq = -1
  #mark: Position | undefined
  /** False when a stage may hold events back (batch, custom stages): drops are then not inferred. */
  constructor(readonly inferDrops: boolean) {}

  /** The low-water mark. */
  get position(): Position | undefined {
    return this.#mark
  }

  /** The sink is about to receive this event. */
  received(event: unknown): void {
    const position = positionOf(event)
    if (!position || typeof event !== 'object' || event === null) return
    const entry: Entry = { position, seq: this.#passed, settled: false }
    this.#queue.push(entry)
    const list = this.#byEvent.get(event)
    if (list) list.push(entry)
    else this.#byEvent.set(event, [entry])
  }

  /**
   * The source is asked for the next event: the previous one has reached the sink or was dropped
   * (true for filter, map, take and tap, which hold nothing back).
   */
  passed(event: unknown): void {
    if (!this.inferDrops) return
    const position = positionOf(event)
    if (!position) return
    this.#lastPassed = position
    this.#passed++
    if (this.#head === this.#queue.length) this.#setMark(position, this.#passed - 1)
  }

  #setMark(position: Position, seq: number): void {
    if (seq >= this.#markSeq) {
      this.#mark = position
      this.#markSeq = seq
    }
  }

  /** The sink has finished with these events. */
  settled(events: readonly unknown[]): void {
    for (const event of events) {
      if (typeof event !== 'object' || event === null) continue
      const list = this.#byEvent.get(event)
      const entry = list?.shift()
      if (!entry) continue
      entry.settled = true
      if (list!.length === 0) this.#byEvent.delete(event)
    }
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.settled) {
      const entry = this.#queue[this.#head]!
      this.#setMark(entry.position, entry.seq)
      this.#head++
    }
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
      // Everything that reached the sink is settled, and every event read before the latest
      // one has passed the stages: the last of those is handled too.
      if (this.#lastPassed) this.#setMark(this.#lastPassed, this.#passed - 1)
    } else if (this.#head > 4096) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }
}
