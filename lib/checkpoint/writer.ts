import { errorCode, errorMessage } from '../errors.js'
import type { CheckpointTotals, RunCheckpoint } from '../report/schema.js'
import { capText } from '../util/text.js'
import { writeCheckpoint, writeCheckpointSync, type Checkpoint, type CheckpointIdentity } from './index.js'
import type { CheckpointLock } from './lock.js'
import type { CheckpointTracker } from './tracker.js'

/** How a run writes its checkpoint. */
export interface CheckpointWriterOptions {
  readonly file: string
  readonly identity: CheckpointIdentity
  /** The checkpoint this run resumes from: its position, sink state and totals carry over. */
  readonly previous?: Checkpoint
  readonly lock?: CheckpointLock
  readonly tracker: CheckpointTracker
  /** Milliseconds between periodic writes; 0 for none. */
  readonly intervalMs: number
  /** Also write after every settled batch, synchronously, before the sink sends the next one. */
  readonly everyBatch: boolean
  /** The lock was taken over by another run: stop the run (no write is made after this). */
  readonly onLockLost: (error: unknown) => void
}

/**
 * Writes a run's checkpoint: periodically (one write at a time; a write asked for meanwhile is made
 * once it is done), after every batch when asked (synchronously, so a hard kill repeats only what
 * was in flight), and once at the end. Each write first checks the run still holds the lock. A
 * failed write is remembered for the report; the run goes on from the last good checkpoint.
 */
export class CheckpointWriter {
  readonly #o: CheckpointWriterOptions
  #error: unknown
  #lockLost = false
  #writing: Promise<void> | undefined
  #again = false
  readonly #timer: NodeJS.Timeout | undefined

  constructor(options: CheckpointWriterOptions) {
    this.#o = options
    // With writes after every batch, the timer writes the same way: an async write could land
    // after a later synchronous one and take the checkpoint back.
    if (options.intervalMs > 0) {
      this.#timer = setInterval(() => (options.everyBatch ? this.writeNow() : this.request()), options.intervalMs)
      this.#timer.unref()
    }
  }

  /** The lock was lost: nothing more is written. */
  get lockLost(): boolean {
    return this.#lockLost
  }

  /** The sink settled a batch. */
  afterBatch(): void {
    if (this.#o.everyBatch) this.writeNow()
  }

  /** Writes the checkpoint as it stands, synchronously. */
  writeNow(): void {
    if (this.#lockLost || !this.#verify(() => this.#o.lock?.verifySync())) return
    try {
      writeCheckpointSync(this.#o.file, this.#data(false))
    } catch (error) {
      this.#error = error
    }
  }

  /** Asks for an asynchronous write. */
  request(): void {
    if (this.#writing) {
      this.#again = true
      return
    }
    this.#writing = (async () => {
      do {
        this.#again = false
        await this.#write(this.#data(false))
      } while (this.#again)
      this.#writing = undefined
    })()
  }

  /**
   * The last write, once the run is over: `complete` when every event was handled and nothing is
   * held (the totals are then the whole run's), else the mark as it stands. Says where it stands.
   */
  async finish(complete: boolean, runTotals: CheckpointTotals): Promise<RunCheckpoint> {
    if (this.#timer) clearInterval(this.#timer)
    while (this.#writing) await this.#writing
    const data = this.#data(complete, runTotals)
    await this.#write(data)
    return {
      file: this.#o.file,
      ...(data.position ? { position: data.position } : {}),
      complete: data.complete,
      held: this.#o.tracker.heldForGood,
      totals: data.totals,
      ...(this.#error !== undefined ? { error: { code: errorCode(this.#error), message: capText(errorMessage(this.#error)) } } : {}),
    }
  }

  /** Stops the periodic writes (the run failed before its end). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
  }

  #verify(check: () => void): boolean {
    try {
      check()
      return true
    } catch (error) {
      this.#lockLost = true
      this.#o.onLockLost(error)
      return false
    }
  }

  async #write(data: Checkpoint): Promise<void> {
    if (this.#lockLost) return
    try {
      await this.#o.lock?.verify()
    } catch (error) {
      this.#lockLost = true
      this.#o.onLockLost(error)
      return
    }
    await writeCheckpoint(this.#o.file, data).catch((error: unknown) => {
      this.#error = error
    })
  }

  #data(complete: boolean, runTotals?: CheckpointTotals): Checkpoint {
    const { tracker, previous } = this.#o
    const totals = { ...(complete && runTotals ? runTotals : tracker.totals) }
    const before = previous?.totals
    if (before) for (const k of Object.keys(totals) as (keyof CheckpointTotals)[]) totals[k] += before[k] ?? 0
    const position = tracker.position ?? previous?.position
    const sinkState = tracker.hasSinkState ? tracker.sinkState : previous?.sinkState
    const held = tracker.heldForGood
    return {
      version: 1,
      identity: this.#o.identity,
      ...(position ? { position } : {}),
      ...(sinkState !== undefined ? { sinkState } : {}),
      complete,
      totals,
      ...(held > 0 ? { held } : {}),
      updatedAt: new Date().toISOString(),
    }
  }
}
