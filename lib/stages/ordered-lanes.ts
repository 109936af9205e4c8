import { HydratorError } from '../errors.js'
import type { AbortOptions, Stage } from '../types.js'
import { compilePath } from '../util/json-path.js'
import { assertInteger } from '../util/options.js'
import { withStageInfo } from './stage-info.js'

/**
 * Per-key ordered concurrency, as a scheduler ({@link createLanes}) and as a stage
 * ({@link orderedLanes}).
 *
 * A lane is the queue of one key: its tasks run one after another, in the order they were given,
 * each starting only after the one before it settled. Different lanes run side by side, up to
 * `concurrency` tasks at once. When a slot frees, the waiting task given earliest goes first, so
 * with `concurrency` 1 everything runs in exactly the given order.
 */

/** Tasks that share a key run one at a time, in order; `undefined` means "no order needed". */
export type LaneKey = string | undefined

/** A task waiting for its lane and a slot. */
interface Job {
  readonly seq: number
  readonly task: () => unknown
  readonly resolve: (value: any) => void
  readonly reject: (reason: unknown) => void
}

interface Lane {
  readonly key: LaneKey
  readonly queue: Job[]
  running: boolean
  queued: boolean
}

/** The scheduler behind {@link orderedLanes}: use it in a sink driver that gets one event at a time. */
export interface Lanes {
  /**
   * Runs `task` after every earlier task of the same key has settled and a slot is free; resolves
   * or rejects as the task does. Tasks with key `undefined` are ordered only by slots.
   */
  run<R>(key: LaneKey, task: () => R | PromiseLike<R>): Promise<Awaited<R>>
  /** Tasks running now. */
  readonly running: number
  /** Tasks given but not started yet. */
  readonly waiting: number
  /** Rejects every task that has not started with `reason`; running tasks go on. */
  clear(reason: unknown): void
}

/** Options of {@link createLanes}. */
export interface LanesOptions {
  /** Tasks running at once, across all keys. @default 1 */
  readonly concurrency?: number
}

/**
 * Makes a lane scheduler: tasks of one key run strictly one after another in the order given,
 * tasks of different keys run side by side up to `concurrency`, and a freed slot goes to the
 * waiting task given earliest. It holds every task it is given: bound the number waiting yourself
 * (`waiting`), as {@link orderedLanes} and the Lambda sink do.
 *
 * @example
 * const lanes = createLanes({ concurrency: 16 })
 * await Promise.all(events.map((e) => lanes.run(e.detail.aggregateId, () => invoke(e))))
 */
export function createLanes(options: LanesOptions = {}): Lanes {
  const concurrency = assertInteger('concurrency', options.concurrency ?? 1, 1)
  const lanes = new Map<string, Lane>()
  // Lanes with a task waiting for a slot, as a min-heap on the sequence number of their head task.
  const ready: Lane[] = []
  let running = 0
  let waiting = 0
  let seq = 0

  const headSeq = (lane: Lane) => lane.queue[0]!.seq
  const push = (lane: Lane) => {
    lane.queued = true
    ready.push(lane)
    let i = ready.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (headSeq(ready[parent]!) <= headSeq(ready[i]!)) break
      ;[ready[parent], ready[i]] = [ready[i]!, ready[parent]!]
      i = parent
    }
  }
  const pop = (): Lane => {
    const top = ready[0]!
    const last = ready.pop()!
    if (ready.length > 0) {
      ready[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let min = i
        if (l < ready.length && headSeq(ready[l]!) < headSeq(ready[min]!)) min = l
        if (r < ready.length && headSeq(ready[r]!) < headSeq(ready[min]!)) min = r
        if (min === i) break
        ;[ready[min], ready[i]] = [ready[i]!, ready[min]!]
        i = min
      }
    }
    top.queued = false
    return top
  }

  const pump = () => {
    while (running < concurrency && ready.length > 0) {
      const lane = pop()
      const job = lane.queue.shift()!
      waiting--
      running++
      lane.running = true
      start(lane, job)
    }
  }

  const start = (lane: Lane, job: Job) => {
    const done = () => {
      running--
      lane.running = false
      if (lane.queue.length > 0) push(lane)
      else if (lane.key !== undefined) lanes.delete(lane.key)
      pump()
    }
    let result: unknown
    try {
      result = job.task()
    } catch (error) {
      job.reject(error)
      done()
      return
    }
    Promise.resolve(result).then(
      (value) => {
        job.resolve(value)
        done()
      },
      (error) => {
        job.reject(error)
        done()
      },
    )
  }

  return {
    run(key, task) {
      return new Promise((resolve, reject) => {
        let lane = key === undefined ? undefined : lanes.get(key)
        if (!lane) {
          lane = { key, queue: [], running: false, queued: false }
          if (key !== undefined) lanes.set(key, lane)
        }
        lane.queue.push({ seq: seq++, task, resolve, reject })
        waiting++
        if (!lane.running && !lane.queued) push(lane)
        pump()
      })
    },
    get running() {
      return running
    },
    get waiting() {
      return waiting
    },
    clear(reason) {
      for (const lane of [...lanes.values(), ...ready]) {
        for (const job of lane.queue.splice(0)) {
          waiting--
          job.reject(reason)
        }
      }
      ready.length = 0
      for (const [key, lane] of lanes) if (!lane.running) lanes.delete(key)
    },
  }
}

/** The lane of events whose key value is missing (`undefined` or `null`): they share one lane. */
const NO_KEY = '\u0000'

/**
 * Compiles an order key (a JSON path such as `detail.aggregateId`, or a function) into a function
 * giving each event its lane. Events with no value share one lane; without a key every event is on
 * its own (no order kept between them).
 *
 * @example
 * laneKeyOf('detail.aggregateId')({ detail: { aggregateId: 7 } }) // '7'
 */
export function laneKeyOf<T>(key: string | ((event: T) => unknown) | undefined): (event: T) => LaneKey {
  if (key === undefined) return () => undefined
  const get = typeof key === 'function' ? key : typeof key === 'string' ? compilePath(key) : undefined
  if (!get) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`key\` to be a JSON path or a function, got \`${typeof key}\``)
  }
  return (event) => laneKeyValue((get as (event: T) => unknown)(event))
}

/** A key value as a lane name: strings as they are, other values as JSON, missing values together. */
export function laneKeyValue(value: unknown): string {
  if (value === undefined || value === null) return NO_KEY
  if (typeof value === 'string') return value
  if (typeof value === 'bigint') return String(value)
  return JSON.stringify(value) ?? String(value)
}

/** How one event ended in {@link orderedLanes}, like an entry of `Promise.allSettled`. */
export type Settled<T, R> =
  | { readonly event: T; readonly status: 'fulfilled'; readonly value: R }
  | { readonly event: T; readonly status: 'rejected'; readonly reason: unknown }

/** Options of {@link orderedLanes}. */
export interface OrderedLanesOptions<T> extends AbortOptions {
  /** Events being worked on at once, across all keys. @default 1 */
  readonly concurrency?: number
  /**
   * What keeps events in order: a JSON path (`detail.aggregateId`) or a function. Events with the
   * same value (events without one count as one value) are worked on one at a time, in source order.
   * @default none: every event on its own, only `concurrency` limits them
   */
  readonly key?: string | ((event: T) => unknown)
  /**
   * Events read from upstream but not started yet, at most. When this many wait (say behind a slow
   * key), no more is read until one starts: memory stays flat however long the source.
   * @default 4 × concurrency, at least 16
   */
  readonly maxBuffered?: number
}

/** The default read-ahead of {@link orderedLanes} for a concurrency. */
export function defaultMaxBuffered(concurrency: number): number {
  return Math.max(16, concurrency * 4)
}

/**
 * Runs `worker` on every event with per-key order: events with the same key are worked on one at a
 * time in source order, events with different keys side by side up to `concurrency`. Yields each
 * event with its outcome as it settles (a worker's rejection is a `rejected` entry, not an error),
 * so entries of one key come out in source order and entries of different keys in completion order.
 * Reads ahead at most `maxBuffered` events. An upstream error is thrown after the events already
 * read have settled and been yielded; `signal` stops reading the same way. Stopping early (`break`)
 * closes the upstream, never starts the events still waiting, and leaves running workers to finish
 * on their own.
 *
 * @example
 * for await (const r of orderedLanes((e) => invoke(e), { concurrency: 16, key: 'detail.aggregateId' })(events)) {
 *   if (r.status === 'rejected') console.error(r.event, r.reason)
 * }
 */
export function orderedLanes<T, R>(
  worker: (event: T) => R | PromiseLike<R>,
  options: OrderedLanesOptions<T> = {},
): Stage<T, Settled<T, Awaited<R>>> {
  if (typeof worker !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`orderedLanes\` to get a worker function, got \`${typeof worker}\``)
  }
  const concurrency = assertInteger('concurrency', options.concurrency ?? 1, 1)
  const maxBuffered = assertInteger('maxBuffered', options.maxBuffered ?? defaultMaxBuffered(concurrency), 1)
  const keyOf = laneKeyOf(options.key)
  const signal = options.signal

  return withStageInfo(
    async function* orderedLanesStage(source: AsyncIterable<T>): AsyncGenerator<Settled<T, Awaited<R>>> {
      const iterator = source[Symbol.asyncIterator]()
      const lanes = createLanes({ concurrency })
      const settled: Settled<T, Awaited<R>>[] = []
      let pending = 0 // events read and not yet yielded
      let pulling = false
      let upstreamDone = false
      let upstreamError: { error: unknown } | undefined
      let closed = false
      let dirty = false
      let wake: (() => void) | undefined
      const notify = () => {
        dirty = true
        const w = wake
        wake = undefined
        w?.()
      }

      const accept = (event: T) => {
        if (closed) return
        pending++
        let key: LaneKey
        try {
          key = keyOf(event)
        } catch (reason) {
          settled.push({ event, status: 'rejected', reason })
          notify()
          return
        }
        lanes
          .run(key, () => worker(event))
          .then(
            (value) => settled.push({ event, status: 'fulfilled', value }),
            (reason) => settled.push({ event, status: 'rejected', reason }),
          )
          .then(notify)
      }

      const pull = () => {
        pulling = true
        let next: Promise<IteratorResult<T>>
        try {
          next = Promise.resolve(iterator.next())
        } catch (error) {
          next = Promise.reject(error)
        }
        next.then(
          (result) => {
            pulling = false
            if (result.done) upstreamDone = true
            else accept(result.value)
            notify()
          },
          (error) => {
            pulling = false
            upstreamDone = true
            upstreamError = { error }
            notify()
          },
        )
      }

      try {
        for (;;) {
          dirty = false
          while (settled.length > 0) {
            pending--
            yield settled.shift()!
          }
          if (signal?.aborted && !upstreamDone && !pulling) {
            // Stop reading; what was read still settles below.
            upstreamDone = true
            await iterator.return?.()
          }
          if (upstreamDone && !pulling && pending === 0) {
            if (upstreamError) throw upstreamError.error
            return
          }
          if (!upstreamDone && !pulling && lanes.waiting < maxBuffered) pull()
          if (dirty || settled.length > 0) continue
          await new Promise<void>((resolve) => {
            wake = resolve
            if (signal && !signal.aborted) signal.addEventListener('abort', notify, { once: true })
          })
          signal?.removeEventListener('abort', notify)
        }
      } finally {
        closed = true
        lanes.clear(new HydratorError('ERR_ABORTED', 'orderedLanes: the consumer stopped before this event started'))
        if (!upstreamDone) {
          // Let a read in progress finish first: an async generator queues return() behind it anyway.
          await iterator.return?.()
        }
      }
    },
    { kind: 'other' },
  )
}
