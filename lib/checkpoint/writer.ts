import { errorCode, errorMessage } from '../errors.js'
import type { CheckpointTotals, RunCheckpoint } from '../report/schema.js'
import { capText } from '../util/text.js'
import type { Checkpoint, CheckpointIdentity } from './record.js'
import type { CheckpointSession } from './session.js'
import type { CheckpointTracker } from './tracker.js'

/** How a run writes its checkpoint. */
export interface CheckpointWriterOptions {
  readonly session: CheckpointSession
  readonly identity: CheckpointIdentity
  readonly tracker: CheckpointTracker
  /** Milliseconds between periodic writes; 0 for none. */
  readonly intervalMs: number
  /** Also write after every settled batch, before the sink sends the next one. */
  readonly everyBatch: boolean
  /** The checkpoint was taken over by another run: stop the run (no write is made after this). */
  readonly onLockLost: (error: unknown) => void
}

const isLockLost = (error: unknown) => errorCode(error) === 'ERR_CHECKPOINT_LOCKED'

/**
 * Writes a run's checkpoint: periodically, after every batch when asked (so a hard kill repeats
 * only what was in flight), and once at the end. Writes never overlap and each writes the state
 * as it is when it starts. The local file is written synchronously after every batch; a store
 * (DynamoDB, S3) asynchronously, and the sink waits for that write before it sends the next
 * batch. A write that finds the checkpoint taken over stops the run; another failed write is
 * remembered for the report, and the run goes on from the last good checkpoint.
 */
export class CheckpointWriter {
  readonly #o: CheckpointWriterOptions
  #error: unknown
  #lockLost = false
  #tail: Promise<void> = Promise.resolve()
  #queued = false
  readonly #sync: boolean
  readonly #timer: NodeJS.Timeout | undefined

  constructor(options: CheckpointWriterOptions) {
    this.#o = options
    // With synchronous writes after every batch, the timer writes the same way: an async write
    // could land after a later synchronous one and take the checkpoint back.
    this.#sync = options.everyBatch && options.session.saveSync !== undefined
    const lease = options.session.leaseMs
    const every = Math.min(options.intervalMs > 0 ? options.intervalMs : Infinity, lease ? Math.max(1000, Math.floor(lease / 3)) : Infinity)
    if (every !== Infinity) {
      this.#timer = setInterval(() => void this.write(), every)
      this.#timer.unref()
    }
  }

  /** The checkpoint was taken over: nothing more is written. */
  get lockLost(): boolean {
    return this.#lockLost
  }

  /** The sink settled a batch: with writes after every batch, the promise (if any) ends when it is stored. */
  afterBatch(): Promise<void> | undefined {
    return this.#o.everyBatch ? this.write() : undefined
  }

  /**
   * Writes the checkpoint as it stands: synchronously where it can (then returns undefined), else
   * once the writes before it are done.
   */
  write(): Promise<void> | undefined {
    if (this.#lockLost) return undefined
    if (this.#sync) {
      this.#saveSync(this.#data(false))
      return undefined
    }
    // A write queued and not yet started will take the state as it is then: no need for another.
    if (this.#queued) return this.#tail
    this.#queued = true
    this.#tail = this.#tail.then(async () => {
      this.#queued = false
      await this.#save(this.#data(false))
    })
    return this.#tail
  }

  /**
   * The last write, once the run is over: `complete` when every event was handled and nothing is
   * held (the totals are then the whole run's), else the mark as it stands. Says where it stands.
   */
  async finish(complete: boolean, runTotals: CheckpointTotals): Promise<RunCheckpoint> {
    if (this.#timer) clearInterval(this.#timer)
    await this.#tail
    const data = this.#data(complete, runTotals)
    await this.#save(data)
    return {
      file: this.#o.session.uri,
      ...(data.position ? { position: data.position } : {}),
      complete: data.complete,
      held: this.#o.tracker.heldForGood,
      totals: data.totals,
      ...(this.#o.session.previous?.totals ? { startTotals: { ...this.#o.session.previous.totals } } : {}),
      ...(this.#error !== undefined ? { error: { code: errorCode(this.#error), message: capText(errorMessage(this.#error)) } } : {}),
    }
  }

  /** Stops the periodic writes (the run failed before its end). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
  }

  #failed(error: unknown): void {
    if (isLockLost(error)) {
      this.#lockLost = true
      this.#o.onLockLost(error)
    } else this.#error = error
  }

  #saveSync(data: Checkpoint): void {
    if (this.#lockLost) return
    try {
      this.#o.session.saveSync!(data)
    } catch (error) {
      this.#failed(error)
    }
  }

  async #save(data: Checkpoint): Promise<void> {
    if (this.#lockLost) return
    try {
      await this.#o.session.save(data)
    } catch (error) {
      this.#failed(error)
    }
  }

  #data(complete: boolean, runTotals?: CheckpointTotals): Checkpoint {
    const { tracker, session } = this.#o
    const previous = session.previous
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
