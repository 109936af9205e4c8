import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { HydratorError, errorMessage } from './errors.js'
import type { ItemFailure } from './types.js'
import { reviveTagged, stringifyTagged } from './util/tagged-json.js'
import { redactSecrets } from './util/redact.js'
import { capText } from './util/text.js'

/** The marker property of a dead-letter line; readers unwrap such lines back to their event. */
export const DEAD_LETTER_MARK = '$eventHydratorDeadLetter'

/** The format written today: binary values are listed by path in `binary`, never tagged inside the event. */
export const DEAD_LETTER_VERSION = 2

/** A JSON path inside an event: property names and array indexes. */
export type ValuePath = readonly (string | number)[]

/** One line of a dead-letter file. */
export interface DeadLetter {
  /** 2 today; 1 for files written before binary values were listed by path. */
  readonly [DEAD_LETTER_MARK]: 1 | 2
  readonly time: string
  readonly stage: string
  readonly code: string
  readonly message: string
  readonly position?: ItemFailure['position']
  readonly key?: unknown
  readonly attempts?: number
  /**
   * Parking: the key whose later events are parked behind this failure (on the failed event's
   * line), or the key of a parked event (code ERR_PARKED). A redrive reads the lines in order, so
   * each key's events come back in their original order, the failed one first.
   */
  readonly orderKey?: string
  /** A parked event (ERR_PARKED): the failed event of its key it waits behind (`id`, `position`). */
  readonly parkedBehind?: ItemFailure['parkedBehind']
  /**
   * The original event, whole; absent for records that never became events (a line that is not
   * JSON: `position` says where it is) and for events that cannot be written as JSON (`eventError`).
   * Binary values (DynamoDB B attributes) are written as base64 strings and listed in `binary`.
   */
  readonly event?: unknown
  /** The paths in `event` of the values that were binary and are written as base64 strings. */
  readonly binary?: readonly ValuePath[]
  /** Why `event` is missing although there was one (nested too deeply, too large for a string). */
  readonly eventError?: string
}

/** Writes failed events to a file; a write settles once its line is handed to the OS. */
export interface DeadLetterWriter {
  /**
   * Appends one failure. The promise resolves once the line is written (a checkpoint may then pass
   * the event) and rejects when the file cannot be written; it never needs to be awaited to avoid
   * an unhandled rejection.
   */
  write(failure: ItemFailure, event: unknown): Promise<void>
  /** Resolves when the file's buffer has drained: await it before reading on, so memory stays flat. */
  drained(): Promise<void>
  /** Ends the file; rejects with the first write error, if any. */
  close(): Promise<void>
  /** Lines written so far. */
  count(): number
  /** The first write error, once there was one. */
  readonly error: Error | undefined
}

/**
 * If `value` is a dead-letter line with an event, that event (binary values read back as
 * Uint8Arrays); else `value` itself; undefined for a letter without an event. Only the paths the
 * letter lists in `binary` are turned back into bytes: an event's own `{ "$binary": ... }` objects
 * stay as they are. Letters of version 1 (which tagged binary values inside the event) are read as
 * they were written.
 */
export function unwrapDeadLetter(value: Record<string, unknown>): Record<string, unknown> | undefined {
  const version = value[DEAD_LETTER_MARK]
  if (version !== 1 && version !== 2) return value
  const event = value.event
  if (!event || typeof event !== 'object' || Array.isArray(event)) return undefined
  if (version === 1) return reviveTagged(event) as Record<string, unknown>
  const paths = value.binary
  if (Array.isArray(paths)) for (const p of paths) if (Array.isArray(p)) reviveAt(event as Record<string, unknown>, p)
  return event as Record<string, unknown>
}

function reviveAt(root: Record<string, unknown>, at: readonly unknown[]): void {
  if (at.length === 0) return
  let parent: unknown = root
  for (let i = 0; i < at.length - 1; i++) {
    if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, at[i] as PropertyKey)) return
    parent = (parent as Record<PropertyKey, unknown>)[at[i] as PropertyKey]
  }
  const last = at[at.length - 1] as PropertyKey
  if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, last)) return
  const raw = (parent as Record<PropertyKey, unknown>)[last]
  if (typeof raw === 'string') Object.defineProperty(parent, last, { value: new Uint8Array(Buffer.from(raw, 'base64')), enumerable: true, writable: true, configurable: true })
}

/**
 * The paths of the binary values inside `value` (iteratively: a deeply nested event does not
 * overflow the stack), or undefined when there are none.
 */
function binaryPaths(value: unknown): (string | number)[][] | undefined {
  interface Step {
    readonly value: unknown
    readonly parent: Step | undefined
    readonly key: string | number
  }
  let found: (string | number)[][] | undefined
  const pathOf = (step: Step) => {
    const at: (string | number)[] = []
    for (let s: Step | undefined = step; s?.parent; s = s.parent) at.push(s.key)
    return at.reverse()
  }
  const stack: Step[] = [{ value, parent: undefined, key: '' }]
  let visited = 0
  while (stack.length > 0) {
    const step = stack.pop()!
    const v = step.value
    if (v instanceof Uint8Array) {
      ;(found ??= []).push(pathOf(step))
      continue
    }
    // A pathological event is written as it is (JSON.stringify decides whether it can be).
    if (++visited > 1_000_000) break
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null && typeof v[i] === 'object') stack.push({ value: v[i], parent: step, key: i })
    } else {
      const keys = Object.keys(v as object)
      for (let i = keys.length - 1; i >= 0; i--) {
        const child = (v as Record<string, unknown>)[keys[i]!]
        if (child !== null && typeof child === 'object') stack.push({ value: child, parent: step, key: keys[i]! })
      }
    }
  }
  return found
}

/** Binary values as plain base64 strings (their paths are listed beside the event). */
function base64Replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key]
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
  return value
}

/** One dead-letter line (without its newline). Never throws: an event that cannot be written is left out and said so. */
export function deadLetterLine(failure: ItemFailure, event: unknown, time = new Date()): string {
  const head: Record<string, unknown> = {
    [DEAD_LETTER_MARK]: DEAD_LETTER_VERSION,
    time: time.toISOString(),
    stage: failure.stage,
    code: failure.code,
    message: capText(failure.message),
    ...(failure.position ? { position: failure.position } : {}),
    ...(failure.key !== undefined ? { key: failure.key } : {}),
    ...(failure.attempts !== undefined ? { attempts: failure.attempts } : {}),
    ...(failure.orderKey !== undefined ? { orderKey: failure.orderKey } : {}),
    ...(failure.parkedBehind !== undefined ? { parkedBehind: failure.parkedBehind } : {}),
  }
  // Our own fields may hold binary DynamoDB keys: tagged, as in checkpoints.
  let text: string
  try {
    text = stringifyTagged(head)
  } catch (error) {
    text = stringifyTagged({ ...head, position: undefined, key: undefined, message: capText(`${failure.message} (position and key left out: ${errorMessage(error)})`) })
  }
  if (event === undefined) return text
  try {
    const binary = binaryPaths(event)
    const json = binary ? JSON.stringify(event, base64Replacer) : JSON.stringify(event)
    if (json === undefined) throw new Error('not a JSON value')
    return `${text.slice(0, -1)},"event":${json}${binary ? `,"binary":${JSON.stringify(binary)}` : ''}}`
  } catch (error) {
    const reason = error instanceof RangeError ? `nested too deeply or too large (${error.message})` : errorMessage(error)
    return `${text.slice(0, -1)},"eventError":${JSON.stringify(capText(`the event cannot be written as JSON: ${reason}; find it at its position in the source`, 500))}}`
  }
}

/**
 * Writes every failed event to an NDJSON file, one per line, with its position, error code and
 * message (capped), attempts and time. The file is itself a source: reading it yields the original
 * events, binary values included. Memory stays flat: callers await `drained()` before reading on.
 *
 * @example
 * const dl = await openDeadLetters('failed.ndjson')
 * const report = await run({ ..., deadLetter: dl })
 * await dl.close()
 */
export async function openDeadLetters(file: string): Promise<DeadLetterWriter> {
  try {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true })
  } catch (error) {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `--dead-letter: cannot create the folder of \`${file}\`: ${errorMessage(error)}`)
  }
  const stream: WriteStream = createWriteStream(file, { flags: 'a' })
  await once(stream, 'open').catch((error) => {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `--dead-letter: cannot write \`${file}\`: ${errorMessage(error)}`)
  })
  let written = 0
  let failedWith: Error | undefined
  let draining: Promise<void> | undefined
  const wrap = (error: unknown) =>
    new HydratorError('ERR_OUTPUT', `--dead-letter: cannot write \`${file}\`: ${errorMessage(error)}`, { cause: error })
  stream.on('error', (error) => {
    failedWith ??= wrap(error)
  })
  return {
    write(failure, event) {
      if (failedWith) {
        const rejected = Promise.reject(failedWith)
        rejected.catch(() => {})
        return rejected
      }
      written++
      const line = deadLetterLine(failure, event) + '\n'
      const done = new Promise<void>((resolve, reject) =>
        stream.write(line, (error) => {
          if (!error) return resolve()
          failedWith ??= wrap(error)
          reject(failedWith)
        }),
      )
      done.catch(() => {})
      return done
    },
    // One wait per full buffer, shared by every caller: a wait per call would leave an 'error'
    // listener behind each time (a leak that grows with the events read).
    drained: () => {
      if (!stream.writableNeedDrain || failedWith) return Promise.resolve()
      draining ??= once(stream, 'drain').then(
        () => {
          draining = undefined
        },
        () => {
          draining = undefined
        },
      )
      return draining
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (stream.destroyed) return failedWith ? reject(failedWith) : resolve()
        stream.end((error?: Error | null) => (error || failedWith ? reject(failedWith ?? wrap(error)) : resolve()))
      }),
    count: () => written,
    get error() {
      return failedWith
    },
  }
}

/**
 * Where failed events are kept, usually the dead-letter file of {@link openDeadLetters}. A
 * checkpoint passes a failed event only once `write` resolved: a failure not stored holds the
 * checkpoint before it, so a resume reads it again.
 */
export interface FailureStore {
  /** Stores one failure with its event (undefined for a record that never became one). */
  write(failure: ItemFailure, event: unknown): Promise<void>
  /** Resolves when it can take more; run() waits for it before reading on. */
  drained?(): Promise<void>
}

/**
 * The writes a run has asked of its failure store and not yet seen settle: a failed write stops the
 * run (through `onError`), and `settled()` waits for all of them before the last checkpoint.
 */
export class PendingLetters {
  readonly #pending = new Set<Promise<void>>()
  constructor(
    readonly store_: FailureStore | undefined,
    readonly onError: (error: unknown) => void,
  ) {}

  /** Stores a failure; the promise of its write, or undefined without a store. */
  store(failure: ItemFailure, event: unknown): Promise<void> | undefined {
    if (!this.store_) return undefined
    let stored: Promise<void>
    try {
      stored = this.store_.write(failure, event)
    } catch (error) {
      stored = Promise.reject(error)
    }
    const settled = stored.then(
      () => void this.#pending.delete(settled),
      (error: unknown) => {
        this.#pending.delete(settled)
        this.onError(error)
      },
    )
    this.#pending.add(settled)
    return stored
  }

  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending)
  }
}

/** A failure as it is kept: its message (a target's own may quote anything) capped and stripped of anything like a password. */
export function cappedFailure(failure: ItemFailure): ItemFailure {
  const message = capText(redactSecrets(capText(failure.message, 100_000)))
  return message === failure.message ? failure : { ...failure, message }
}
