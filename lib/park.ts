import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { DEAD_LETTER_MARK } from './dead-letter.js'
import { HydratorError, errorMessage } from './errors.js'
import { positionOf } from './position.js'
import type { FailedKey, ItemFailure, SinkParking } from './types.js'
import { laneKeyOf } from './stages/ordered-lanes.js'
import { assertInteger } from './util/options.js'
import { capText } from './util/text.js'

/**
 * Parking: once an event of a key fails (after its retries), the later events of that key in the
 * run are not applied; they go to the dead-letter file behind it, in order, so that a redrive of
 * the file replays the key in its original order, the failed event first.
 *
 * `run()` keeps one {@link KeyParking} per run and hands it to the sink (`SinkContext.parking`);
 * `defineSink` asks it before it sends a write and tells it of every failure.
 */

/** What a run does with the later events of a key whose event failed. */
export type OnKeyFailure = 'park' | 'continue'

/** The failed event a parked event waits behind, as its dead-letter line names it (`id`, `position`). */
export type ParkedBehind = NonNullable<ItemFailure['parkedBehind']>

export type { FailedKey, SinkParking } from './types.js'

/** The parking options of `run()` (and `hydrate()`, as `--on-key-failure`, `--order-key`, `--max-failed-keys`). */
export interface ParkingOptions {
  /**
   * What the later events of a key do once an event of that key failed (after its retries):
   * `park` keeps them from the target and puts them in the dead-letter file behind the failed one,
   * in order, so a redrive replays the key in its original order; `continue` sends them as usual.
   * Events without a key are never parked. @default 'park'
   */
  readonly onKeyFailure?: OnKeyFailure
  /**
   * The key parking follows: a JSON path or a function (`--order-key`). @default the sink's own
   * key: the storage mapping's key (row, item or document), or the lanes' key of a Lambda sink
   */
  readonly orderKey?: string | ((event: any) => unknown)
  /** Failed keys held at most; past it the run stops with ERR_TOO_MANY_FAILED_KEYS. @default 100000 */
  readonly maxFailedKeys?: number
  /**
   * Keys that failed in an earlier run of this job (a resume after a crash): every event of them
   * in this run is parked. hydrate() reads them back from the dead-letter file ({@link failedKeysIn}).
   */
  readonly failedKeys?: Iterable<string>
}

/**
 * The run's {@link KeyParking} from its options (undefined with `onKeyFailure: 'continue'`),
 * checked before anything is read: a bad value throws ERR_INVALID_OPTION.
 *
 * @example
 * const parking = parkingOf({ orderKey: 'detail.aggregateId' }, (error) => controller.abort(error))
 */
export function parkingOf(options: ParkingOptions, onLimit: (error: HydratorError) => void): KeyParking | undefined {
  const mode = options.onKeyFailure ?? 'park'
  if (mode !== 'park' && mode !== 'continue') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`onKeyFailure\` (--on-key-failure) to be \`park\` or \`continue\`, got \`${String(mode)}\``)
  }
  if (mode === 'continue') return undefined
  const parking = new KeyParking({ orderKey: options.orderKey, maxFailedKeys: options.maxFailedKeys, onLimit })
  for (const key of options.failedKeys ?? []) parking.carryOver(key)
  return parking
}

/** Options of {@link KeyParking}. */
export interface KeyParkingOptions {
  /**
   * The key (a JSON path into the event, or a function): the run's `--order-key`. Without it, a
   * sink's own key is used (the storage mapping's `--key`: the row, item or document key).
   */
  readonly orderKey?: string | ((event: any) => unknown)
  /**
   * Failed keys held at most. Past it the run stops with ERR_TOO_MANY_FAILED_KEYS (through
   * `onLimit`): the events already read still settle, and their keys are still parked, so the set
   * grows past the limit by at most the events in flight. @default 100000
   */
  readonly maxFailedKeys?: number
  /** Called once when the limit is passed, with the error that stops the run. */
  readonly onLimit?: (error: HydratorError) => void
  /** Parked keys kept as a sample for the report. @default 10 */
  readonly sampleSize?: number
}

/** The default of {@link KeyParkingOptions.maxFailedKeys}. */
export const DEFAULT_MAX_FAILED_KEYS = 100_000

/** Keys longer than this are kept as their digest (`sha256:<hex>`): memory stays bounded per key. */
export const MAX_KEY_LENGTH = 512

/**
 * A key as parking sees it: values that name no key (missing, empty) are undefined, and a key
 * longer than {@link MAX_KEY_LENGTH} (an --order-key naming a whole object) is its digest.
 *
 * @example
 * parkKey('["a1"]') // '["a1"]'; parkKey('[]') // undefined
 */
export function parkKey(key: string | undefined): string | undefined {
  // '\u0000': the lane of events without a value; '[]': a mapping without key columns.
  if (key === undefined || key === '' || key === '\u0000' || key === '[]') return undefined
  return key.length > MAX_KEY_LENGTH ? `sha256:${createHash('sha256').update(key).digest('hex')}` : key
}

/**
 * The `id` of an event, when it has a plain one (EventBridge events do), capped at 200 characters.
 *
 * @example
 * eventIdOf({ id: 'e11', detail: {} }) // 'e11'
 */
export function eventIdOf(event: unknown): string | number | undefined {
  if (event === null || typeof event !== 'object') return undefined
  const id = (event as { id?: unknown }).id
  if (typeof id === 'string') return capText(id, 200)
  return typeof id === 'number' && Number.isFinite(id) ? id : undefined
}

/**
 * The set of keys that failed in a run, with the failed event of each, bounded by `maxFailedKeys`.
 * Sequence numbers keep it exact with batches and lanes in flight: an event is parked only behind a
 * failure of its key that came before it in the sink's order, never behind a later one.
 *
 * @example
 * const parking = new KeyParking({ orderKey: 'detail.aggregateId' }) // run() makes one from its options
 * parking.fail('a1', 5, event5)
 * parking.behind('a1', 6) // { key: 'a1', seq: 5, behind: { id: event5.id, position }, ... }
 * parking.behind('a1', 4) // undefined: it came before the failure
 */
export class KeyParking implements SinkParking {
  readonly #failed = new Map<string, FailedKey>()
  readonly #keyOfEvent: ((event: unknown) => string | undefined) | undefined
  readonly #max: number
  readonly #onLimit: ((error: HydratorError) => void) | undefined
  readonly #sampleSize: number
  readonly #sample = new Set<string>()
  #overLimit = false

  constructor(options: KeyParkingOptions = {}) {
    this.#max = assertInteger('maxFailedKeys', options.maxFailedKeys ?? DEFAULT_MAX_FAILED_KEYS, 1)
    this.#sampleSize = assertInteger('sampleSize', options.sampleSize ?? 10, 0)
    this.#onLimit = options.onLimit
    if (options.orderKey !== undefined) {
      const lane = laneKeyOf(options.orderKey)
      this.#keyOfEvent = (event) => parkKey(lane(event))
    }
  }

  /** True when the key comes from the run's `orderKey` rather than from the sink. */
  get byOrderKey(): boolean {
    return this.#keyOfEvent !== undefined
  }

  /** The event's key by the run's `orderKey` (undefined without one, or when the event has no value). */
  keyOfEvent(event: unknown): string | undefined {
    try {
      return this.#keyOfEvent?.(event)
    } catch {
      return undefined
    }
  }

  /** Keys that failed so far (carried over ones included). */
  get failedKeys(): number {
    return this.#failed.size
  }

  /** Up to `sampleSize` keys whose events were parked, in the order they were first parked. */
  get sampleKeys(): string[] {
    return [...this.#sample]
  }

  /** The failure that the event at `seq` of `key` waits behind, if any. */
  behind(key: string | undefined, seq: number): FailedKey | undefined {
    if (key === undefined) return undefined
    const failed = this.#failed.get(key)
    return failed && failed.seq < seq ? failed : undefined
  }

  /**
   * The event at `seq` of `key` failed: later events of the key are parked from now on. Only the
   * first failure of a key counts (the events parked behind it name that one).
   */
  fail(key: string | undefined, seq: number, event: unknown): FailedKey | undefined {
    if (key === undefined) return undefined
    const known = this.#failed.get(key)
    if (known) return known
    const position = positionOf(event)
    const id = eventIdOf(event)
    const entry: FailedKey = { key, seq, behind: { ...(id !== undefined ? { id } : {}), ...(position ? { position } : {}) }, noted: false, waiting: [] }
    this.#add(entry)
    return entry
  }

  /** The failure of this key at `seq` is reported: settlements waiting behind it go on. */
  noted(key: string | undefined, seq: number): void {
    if (key === undefined) return
    const failed = this.#failed.get(key)
    if (!failed || failed.seq !== seq || failed.noted) return
    failed.noted = true
    for (const go of failed.waiting.splice(0)) go()
  }

  /** An event of `key` was parked. */
  parkedOne(key: string): void {
    if (this.#sample.size < this.#sampleSize) this.#sample.add(capText(key, 200))
  }

  /**
   * Carries over a key that failed in an earlier run of the same job (read back from its
   * dead-letter file on resume): every event of it in this run is parked.
   */
  carryOver(key: string, behind: ParkedBehind = {}): void {
    const k = parkKey(key)
    if (k === undefined || this.#failed.has(k)) return
    this.#add({ key: k, seq: -1, behind, noted: true, waiting: [] })
  }

  #add(entry: FailedKey): void {
    this.#failed.set(entry.key, entry)
    if (this.#failed.size > this.#max && !this.#overLimit) {
      this.#overLimit = true
      // Told on a later tick: the caller may still be setting up the run (keys carried over).
      const onLimit = this.#onLimit
      if (onLimit) queueMicrotask(() => onLimit(
        new HydratorError(
          'ERR_TOO_MANY_FAILED_KEYS',
          `stopped: more than ${this.#max} keys failed, and the later events of each are parked (--max-failed-keys is ${this.#max}); the target may be rejecting everything: fix it, then resume, or run with --on-key-failure continue`,
        ),
      ))
    }
  }
}

/**
 * The keys a dead-letter file names as failed or parked (its lines' `orderKey`), in file order,
 * at most `max` + 1 of them (one more than the limit is enough to stop the run): a resume after a
 * crash parks them again, since the crashed run's set of failed keys was in its memory. A missing
 * file names none.
 *
 * @example
 * const keys = await failedKeysIn('failed.ndjson', 100_000)
 */
export async function failedKeysIn(file: string, max = DEFAULT_MAX_FAILED_KEYS): Promise<string[]> {
  const keys = new Set<string>()
  let stream
  try {
    stream = createReadStream(file, { encoding: 'utf8' })
    await new Promise<void>((resolve, reject) => stream!.once('open', () => resolve()).once('error', reject))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new HydratorError('ERR_FILE_NOT_FOUND', `--dead-letter: cannot read \`${file}\` for the keys of the run resumed: ${errorMessage(error)}`)
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  try {
    for await (const line of lines) {
      // Only lines that name a key are parsed.
      if (!line.includes('"orderKey"') || !line.includes(DEAD_LETTER_MARK)) continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        continue
      }
      const key = parkKey((value as { orderKey?: unknown } | null)?.orderKey as string | undefined)
      if (typeof key === 'string') keys.add(key)
      if (keys.size > max) break
    }
  } finally {
    lines.close()
    stream.destroy()
  }
  return [...keys]
}
